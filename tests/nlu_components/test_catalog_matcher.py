"""nlu_components/catalog_matcher.py: entities from the catalog as loaded, on real Messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import jieba
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from chatops.catalog import DEFAULT_PATH
from nlu_components.canonical import EntityCanonicalizer
from nlu_components.catalog_matcher import CatalogEntityMatcher
from nlu_components.tokenizer import ChatOpsJiebaTokenizer

ROOT = Path(__file__).resolve().parents[2]
NEW_SERVICE = (
    "  coupon-service:\n    aliases: [优惠券服务]\n  risk-control:\n    aliases: [风控服务]\n"
)


@pytest.fixture(scope="module")
def tokenizer() -> ChatOpsJiebaTokenizer:
    config = {
        **ChatOpsJiebaTokenizer.get_default_config(),
        "dictionary_path": str(ROOT / "data" / "jieba"),
    }
    ChatOpsJiebaTokenizer._load_custom_dictionary(config["dictionary_path"])
    return ChatOpsJiebaTokenizer(config, None, None)


@pytest.fixture(autouse=True)
def forget_new_jieba_words():
    """The matcher teaches jieba (a process-wide dictionary) new names: undo that per test."""
    yield
    for word in ("优惠券服务", "风控服务", "风控"):
        jieba.del_word(word)


@pytest.fixture
def grown_catalog(tmp_path: Path) -> Path:
    """The shipped catalog with one service the model was never trained on."""
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    head, tail = text.split("\nservices:\n", 1)
    path = tmp_path / "catalog.yml"
    path.write_text(head + "\nservices:\n" + NEW_SERVICE + tail, encoding="utf-8")
    return path


def matcher(catalog: Optional[Path] = None, trained=(), **config: Any) -> CatalogEntityMatcher:
    cfg = {**CatalogEntityMatcher.get_default_config(), **config}
    if catalog is not None:
        cfg["catalog_path"] = str(catalog)
    return CatalogEntityMatcher(cfg, None, None, trained)


def message(tokenizer, text: str, intent: str = "deploy", *diet: Dict[str, Any]) -> Message:
    """A Message as DIET and the synonym mapper leave it: tokens, intent, entities."""
    msg = Message(data={"text": text, "intent": {"name": intent}})
    tokenizer.process([msg])
    entities = []
    for kind, said, value in diet:
        start = text.index(said)
        entities.append(
            {
                "entity": kind,
                "start": start,
                "end": start + len(said),
                "value": value,
                "extractor": "DIETClassifier",
            }
        )
    msg.set("entities", entities)
    return msg


def frame(msg: Message) -> List[tuple]:
    return [(e["entity"], e["value"], e.get("extractor")) for e in msg.get("entities")]


def test_a_typo_diet_tagged_gets_the_canonical_value(tokenizer):
    msg = message(
        tokenizer,
        "把订单服物发到测式环境",
        "deploy",
        ("service", "订单服物", "订单服物"),
        ("environment", "测式环境", "测式环境"),
    )
    [out] = matcher().process([msg])
    assert frame(out) == [
        ("service", "order-service", "DIETClassifier"),
        ("environment", "test", "DIETClassifier"),
    ]
    assert "CatalogEntityMatcher" in out.get("entities")[0]["processors"]


def test_a_service_outside_the_catalog_keeps_its_value(tokenizer):
    msg = message(
        tokenizer, "发一下ledger-core到测试", "deploy", ("service", "ledger-core", "ledger-core")
    )
    [out] = matcher(trained={("environment", "测试")}).process([msg])
    assert frame(out) == [("service", "ledger-core", "DIETClassifier")]


def test_a_service_added_to_the_catalog_after_training_is_recognised(tokenizer, grown_catalog):
    msg = message(
        tokenizer, "把优惠券服务发到测试环境", "deploy", ("environment", "测试环境", "test")
    )
    [out] = matcher(grown_catalog).process([msg])
    assert frame(out) == [
        ("service", "coupon-service", "CatalogEntityMatcher"),
        ("environment", "test", "DIETClassifier"),
    ]
    added = out.get("entities")[0]
    assert out.get("text")[added["start"] : added["end"]] == "优惠券服务"


def test_the_new_services_short_name_is_recognised_too(tokenizer, grown_catalog):
    msg = message(tokenizer, "优惠券发一下预发", "deploy", ("environment", "预发", "uat"))
    [out] = matcher(grown_catalog).process([msg])
    assert ("service", "coupon-service", "CatalogEntityMatcher") in frame(out)


def test_the_catalog_is_read_when_loaded_not_when_trained(tokenizer, grown_catalog, monkeypatch):
    monkeypatch.setenv("CATALOG_PATH", str(grown_catalog))
    msg = message(tokenizer, "把优惠券服务发到测试环境", "deploy")
    [out] = matcher().process([msg])
    assert ("service", "coupon-service", "CatalogEntityMatcher") in frame(out)


def test_a_name_in_a_negation_is_not_added_in_any_intent(tokenizer):
    msg = message(tokenizer, "不是网观，是前端", "deny", ("service", "前端", "web-frontend"))
    [out] = matcher().process([msg])
    assert frame(out) == [("service", "web-frontend", "DIETClassifier")]


def test_spellings_the_model_was_trained_on_are_left_to_the_model(tokenizer):
    text = "测试同学说订单没问题"
    trained = {("environment", "测试"), ("service", "订单")}
    [out] = matcher(trained=trained).process([message(tokenizer, text, "inform")])
    assert frame(out) == []
    [out] = matcher(trained=trained, trust_trained_names=False).process(
        [message(tokenizer, text, "inform")]
    )
    assert [v for _, v, _ in frame(out)] == ["test", "order-service"]


def test_no_duplicate_of_a_value_already_extracted(tokenizer):
    msg = message(
        tokenizer, "订单服务，就是订单，发测试", "deploy", ("service", "订单服务", "order-service")
    )
    [out] = matcher(trained={("environment", "测试")}).process([msg])
    assert frame(out) == [("service", "order-service", "DIETClassifier")]


def test_nothing_overlapping_another_entity_is_added(tokenizer):
    # "dev" here is a branch; the matcher must not also make it an environment.
    msg = message(tokenizer, "用dev分支发网关", "deploy", ("branch", "dev", "dev"))
    [out] = matcher(trained={("service", "网关")}).process([msg])
    assert frame(out) == [("branch", "dev", "DIETClassifier")]


def test_an_ordinary_word_is_not_taken_for_a_typo(tokenizer):
    msg = message(tokenizer, "前段时间发的那个版本", "query_status")
    [out] = matcher().process([msg])
    assert frame(out) == []


def test_several_services_in_one_request(tokenizer):
    msg = message(
        tokenizer, "把wangguan和zhifu一起发到测试", "deploy", ("environment", "测试", "test")
    )
    [out] = matcher().process([msg])
    assert [(k, v) for k, v, _ in frame(out)] == [
        ("service", "gateway"),
        ("service", "payment-service"),
        ("environment", "test"),
    ]


def test_with_the_canonicalizer_a_negated_diet_value_is_still_dropped(tokenizer):
    msg = message(
        tokenizer,
        "别发升产，发遇发",
        "deploy",
        ("environment", "升产", "升产"),
        ("environment", "遇发", "遇发"),
    )
    out = EntityCanonicalizer().process(matcher().process([msg]))[0]
    assert [(e["entity"], e["value"]) for e in out.get("entities")] == [("environment", "uat")]


def test_training_records_the_spellings_and_loading_reads_them_back(tmp_path: Path, grown_catalog):
    (tmp_path / "storage").mkdir()
    storage = LocalModelStorage(tmp_path / "storage")
    resource = Resource("catalog_matcher")
    context = ExecutionContext(GraphSchema({}), "test")
    config = {**CatalogEntityMatcher.get_default_config(), "catalog_path": str(grown_catalog)}
    example = Message(
        data={
            "text": "把订单发到测试",
            "intent": "deploy",
            "entities": [
                {"entity": "service", "start": 1, "end": 3, "value": "order-service"},
                {"entity": "environment", "start": 5, "end": 7, "value": "test"},
            ],
        }
    )
    data = TrainingData(
        [example], lookup_tables=[{"name": "service", "elements": ["Gateway", "网关"]}]
    )
    CatalogEntityMatcher.create(config, storage, resource, context).train(data)

    loaded = CatalogEntityMatcher.load(config, storage, resource, context)
    assert loaded.trained_names == {
        ("service", "订单"),
        ("environment", "测试"),
        ("service", "gateway"),
        ("service", "网关"),
    }
    assert "coupon-service" in loaded.names.values("service")


def test_a_model_without_recorded_spellings_still_loads(tmp_path: Path):
    storage = LocalModelStorage(tmp_path / "storage")
    context = ExecutionContext(GraphSchema({}), "test")
    loaded = CatalogEntityMatcher.load(
        CatalogEntityMatcher.get_default_config(), storage, Resource("nothing"), context
    )
    assert loaded.trained_names == set()


def test_a_new_chinese_name_becomes_one_token_when_the_catalog_is_loaded(tokenizer, grown_catalog):
    def words(text):
        return [t.text for t in tokenizer.tokenize(Message(data={"text": text}), "text")]

    assert "风控服务" not in words("把风控服务发到测试")  # jieba alone: 把风 / 控 / 服务
    loaded = matcher(grown_catalog)
    _ = loaded.names
    assert words("把风控服务发到测试")[:2] == ["把", "风控服务"]
    assert words("把订单服务发到测试")[:2] == ["把", "订单服务"]  # known words: as in training

    [out] = loaded.process([message(tokenizer, "把风控发到测试", "deploy")])
    assert ("service", "risk-control", "CatalogEntityMatcher") in frame(out)


def test_part_of_a_name_tagged_by_diet_becomes_the_whole_name(tokenizer, grown_catalog):
    loaded = matcher(grown_catalog)
    _ = loaded.names
    msg = message(tokenizer, "测试发一版优惠券服务", "deploy", ("environment", "测试", "test"))
    start = msg.get("text").index("服务")
    msg.set(
        "entities",
        msg.get("entities")
        + [{"entity": "service", "start": start, "end": start + 2, "value": "服务"}],
    )
    [out] = loaded.process([msg])
    assert [(e["entity"], e["value"]) for e in out.get("entities")] == [
        ("environment", "test"),
        ("service", "coupon-service"),
    ]


def test_a_catalog_name_inside_a_longer_diet_entity_is_left_alone(tokenizer):
    # 订单中心 may be a service outside the catalog: DIET's span is not cut down to 订单.
    msg = message(tokenizer, "把订单中心发到测试", "deploy", ("service", "订单中心", "订单中心"))
    [out] = matcher(trained={("environment", "测试")}).process([msg])
    assert [(e["entity"], e["value"]) for e in out.get("entities")] == [("service", "订单中心")]


def test_a_name_of_the_other_kind_is_retyped(tokenizer, grown_catalog):
    msg = message(tokenizer, "开发环境发一版风控", "deploy", ("environment", "开发环境", "dev"))
    start = msg.get("text").index("风控")
    msg.set(
        "entities",
        msg.get("entities")
        + [{"entity": "environment", "start": start, "end": start + 2, "value": "风控"}],
    )
    [out] = matcher(grown_catalog).process([msg])
    assert [(e["entity"], e["value"]) for e in out.get("entities")] == [
        ("environment", "dev"),
        ("service", "risk-control"),
    ]
