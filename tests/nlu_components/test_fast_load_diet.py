"""FastLoadDIETClassifier: the same predictions as DIET's own load, from the same trained files."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.constants import EPOCHS, RANDOM_SEED

from nlu_components.fast_load_diet import FastLoadDIETClassifier
from nlu_components.tokenizer import ChatOpsJiebaTokenizer

ROOT = Path(__file__).resolve().parents[2]

TRAINING = [
    ("把订单服务发到测试环境", "deploy", [("订单服务", "service"), ("测试环境", "environment")]),
    ("发布支付服务到预发", "deploy", [("支付服务", "service"), ("预发", "environment")]),
    ("网关发生产", "deploy", [("网关", "service"), ("生产", "environment")]),
    ("任务45怎么样了", "query_status", []),
    ("刚才的发布进度如何", "query_status", []),
    ("取消刚才的发布", "cancel", []),
    ("停掉任务 45", "cancel", []),
]
PROBES = ["把网关发到测试环境", "支付服务现在怎么样了", "取消任务 46", "发订单服务"]


def test_it_overrides_the_rasa_method_it_was_written_for():
    """Rasa 3.6.21's signature; an upgrade that changes it must fail here, not at load time."""
    parameters = list(inspect.signature(DIETClassifier._load_model_class).parameters)

    assert parameters == [
        "tf_model_file",
        "model_data_example",
        "label_data",
        "entity_tag_specs",
        "config",
        "finetune_mode",
    ]
    assert FastLoadDIETClassifier._load_model_class.__qualname__.startswith("FastLoadDIET")


def _messages() -> List[Message]:
    messages = []
    for text, intent, spans in TRAINING:
        entities = []
        for said, entity in spans:
            start = text.index(said)
            entities.append(
                {"start": start, "end": start + len(said), "value": said, "entity": entity}
            )
        messages.append(Message(data={TEXT: text, INTENT: intent, ENTITIES: entities}))
    return messages


def _parse(classifier: Any, tokenizer: Any, featurizer: Any) -> List[Dict[str, Any]]:
    out = []
    for text in PROBES:
        [message] = featurizer.process(tokenizer.process([Message(data={TEXT: text})]))
        [message] = classifier.process([message])
        out.append(
            {
                "intent": message.get(INTENT)["name"],
                "confidence": message.get(INTENT)["confidence"],
                "ranking": [(r["name"], r["confidence"]) for r in message.get("intent_ranking")],
                "entities": [
                    (e["entity"], e["start"], e["end"], e["extractor"])
                    for e in message.get(ENTITIES, [])
                ],
            }
        )
    return out


def test_predictions_equal_the_stock_load_of_the_same_files(tmp_path):
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(GraphSchema({}), "test")
    tokenizer = ChatOpsJiebaTokenizer.create(
        {
            **ChatOpsJiebaTokenizer.get_default_config(),
            "dictionary_path": str(ROOT / "data" / "jieba"),
        },
        storage,
        Resource("tokenizer"),
        context,
    )
    featurizer = CountVectorsFeaturizer.create(
        {**CountVectorsFeaturizer.get_default_config(), "analyzer": "char_wb", "max_ngram": 3},
        storage,
        Resource("featurizer"),
        context,
    )
    data = TrainingData(training_examples=_messages())
    tokenizer.process_training_data(data)
    featurizer.train(data)
    featurizer.process_training_data(data)

    config = {**FastLoadDIETClassifier.get_default_config(), EPOCHS: 3, RANDOM_SEED: 1}
    resource = Resource("diet")
    trained = FastLoadDIETClassifier.create(config, storage, resource, context)
    trained.train(data)  # persists the files under the class's name

    # Rasa's own load of those files: DIETClassifier's code under the name they were saved as.
    stock_class = type("FastLoadDIETClassifier", (DIETClassifier,), {})
    stock = stock_class.load(config, storage, resource, context)
    fast = FastLoadDIETClassifier.load(config, storage, resource, context)

    assert fast.model is not None and not fast.model.run_eagerly
    expected, got = _parse(stock, tokenizer, featurizer), _parse(fast, tokenizer, featurizer)
    assert [p["intent"] for p in got] == [p["intent"] for p in expected]
    assert [[e[:3] for e in p["entities"]] for p in got] == [
        [e[:3] for e in p["entities"]] for p in expected
    ]
    for mine, theirs in zip(got, expected):
        assert np.allclose(
            [c for _, c in mine["ranking"]], [c for _, c in theirs["ranking"]], atol=1e-6
        )
    # Entities keep DIET's extractor name (rasa test and the reports look it up by name).
    assert {e[3] for p in got for e in p["entities"]} == {"DIETClassifier"}


@pytest.mark.parametrize("config_file", ["config.yml", "bench/configs/shipped.yml"])
def test_the_shipped_pipeline_uses_it(config_file):
    text = (ROOT / config_file).read_text(encoding="utf-8")

    assert "nlu_components.fast_load_diet.FastLoadDIETClassifier" in text
