"""The tokenizer and the canonical-value step, and the rule they exist for: every annotated
entity in the training and held-out data starts and ends on a token edge (otherwise DIET
cannot learn or be scored on it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message

from nlu_components.canonical import canonical_entities
from nlu_components.tokenizer import ChatOpsJiebaTokenizer
from scripts.nlu_report import data_files

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tokenizer() -> ChatOpsJiebaTokenizer:
    config = {
        **ChatOpsJiebaTokenizer.get_default_config(),
        "dictionary_path": str(ROOT / "data" / "jieba"),
    }
    ChatOpsJiebaTokenizer._load_custom_dictionary(config["dictionary_path"])
    return ChatOpsJiebaTokenizer(config, None, None)


def tokens(tokenizer: ChatOpsJiebaTokenizer, text: str):
    return [(t.text, t.start) for t in tokenizer.tokenize(Message(data={"text": text}), "text")]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "把库存服务的dev分支发到开发环境",
            ["把", "库存服务", "的", "dev", "分支", "发到", "开发环境"],
        ),
        ("任务#45状态", ["任务", "#", "45", "状态"]),
        ("部署库存服务的main分支到线上", ["部署", "库存服务", "的", "main", "分支", "到", "线上"]),
        ("发一下ledger-core到 qa", ["发", "一下", "ledger-core", "到", "qa"]),
        ("用 release/2.3 分支", ["用", "release/2.3", "分支"]),
        ("auth-service feature/sso 部署", ["auth-service", "feature/sso", "部署"]),
        ("发到 dev / test", ["发到", "dev", "/", "test"]),
        ("用hotfix-1024发网关，生产", ["用", "hotfix-1024", "发", "网关", "，", "生产"]),
    ],
)
def test_tokens(tokenizer, text, expected):
    assert [t for t, _ in tokens(tokenizer, text)] == expected


def test_no_whitespace_tokens_and_offsets_point_into_the_text(tokenizer):
    text = "把 order-service   发到 dev 环境"
    for piece, start in tokens(tokenizer, text):
        assert piece.strip() == piece and piece
        assert text[start : start + len(piece)] == piece


@pytest.mark.parametrize("data", ["data/nlu", "tests/nlu"])
def test_every_annotation_falls_on_token_edges(tokenizer, data):
    misaligned = []
    messages = [m for f in data_files(ROOT / data) for m in load_data(str(f)).intent_examples]
    for message in messages:
        text = message.get("text")
        spans = tokens(tokenizer, text)
        starts = {s for _, s in spans}
        ends = {s + len(t) for t, s in spans}
        for entity in message.get("entities") or []:
            if entity["start"] not in starts or entity["end"] not in ends:
                misaligned.append(f"{text!r}: {text[entity['start'] : entity['end']]!r}")
    assert misaligned == []


def test_canonical_entities_digits_only_task_ids_and_no_duplicates():
    entities = [
        {"entity": "task_id", "value": "#45", "extractor": "DIETClassifier"},
        {"entity": "service", "value": "order-service", "extractor": "DIETClassifier"},
        {"entity": "service", "value": "order-service", "extractor": "RegexEntityExtractor"},
        {"entity": "environment", "value": " test，", "extractor": "DIETClassifier"},
        {"entity": "task_id", "value": "号", "extractor": "DIETClassifier"},
    ]
    assert [(e["entity"], e["value"]) for e in canonical_entities(entities)] == [
        ("task_id", "45"),
        ("service", "order-service"),
        ("environment", "test"),
    ]
