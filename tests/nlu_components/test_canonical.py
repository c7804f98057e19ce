"""The last NLU step: canonical entity values, and no entity said inside a negation of a request."""

from __future__ import annotations

from rasa.shared.nlu.training_data.message import Message

from nlu_components.canonical import EntityCanonicalizer, canonical_entities


def parsed(text, intent, *values):
    entities = []
    for kind, value, canonical in values:
        start = text.index(value)
        entities.append(
            {"entity": kind, "value": canonical, "start": start, "end": start + len(value)}
        )
    return Message(data={"text": text, "intent": {"name": intent}, "entities": entities})


def values(message):
    return [(e["entity"], e["value"]) for e in message.get("entities")]


def test_a_negated_value_in_a_deploy_request_is_dropped():
    message = parsed(
        "别发生产，发测试",
        "deploy",
        ("environment", "生产", "prod"),
        ("environment", "测试", "test"),
    )
    [out] = EntityCanonicalizer().process([message])
    assert values(out) == [("environment", "test")]


def test_a_lock_request_keeps_the_environment_it_names():
    message = parsed("别让人往生产发了，锁住", "lock_environment", ("environment", "生产", "prod"))
    [out] = EntityCanonicalizer().process([message])
    assert values(out) == [("environment", "prod")]


def test_ids_keep_only_their_digits_and_duplicates_go():
    out = canonical_entities(
        [
            {"entity": "request_id", "value": "#12号"},
            {"entity": "task_id", "value": "45"},
            {"entity": "task_id", "value": " 45 "},
        ]
    )
    assert [(e["entity"], e["value"]) for e in out] == [("request_id", "12"), ("task_id", "45")]
