"""Entities said inside a negation are dropped: "不用发网关了", "别发生产，发测试"."""

from __future__ import annotations

import pytest

from chatops.negation import drop_negated, negated_spans


def entity(text, value, kind="service"):
    start = text.index(value)
    return {"entity": kind, "value": value, "start": start, "end": start + len(value)}


@pytest.mark.parametrize(
    "text, negated",
    [
        ("不用发网关了", ["网关"]),
        ("别发生产，发测试", ["生产"]),
        ("把订单服务发到测试环境，不要发生产", ["生产"]),
        ("不是生产，是测试", ["生产"]),
        ("发支付服务而不是网关", ["网关"]),
        ("别发生产而是发测试", ["生产"]),
        ("don't deploy gateway, deploy order-service", ["gateway"]),
        # "不是 X 是 Y" without punctuation (voice input): the scope ends at the turn.
        ("不是网关是前端", ["网关"]),
        ("回滚的不是订单服务是支付服务", ["订单服务"]),
        # The cue after what it negates, closing its clause.
        ("支付就不用了，把订单服务发到测试", ["支付"]),
        ("订单先不发了，只发支付", ["订单"]),
        ("把订单服务发到测试，网关不要", ["网关"]),
        ("订单和支付都先不发了，发网关", ["订单", "支付"]),
        ("生产不动，发到测试", ["生产"]),
    ],
)
def test_values_inside_a_negation_are_dropped(text, negated):
    names = ("网关", "生产", "测试", "支付服务", "订单服务", "gateway", "order-service", "前端")
    names += ("支付", "订单")
    values = []
    for v in names:
        # the longest name at each place: 订单服务, not also 订单 inside it
        if v in text and not any(v != w and v in w and w in text for w in names):
            values.append(v)
    kept = drop_negated(text, [entity(text, v) for v in values])
    assert sorted(v for v in values if v not in [e["value"] for e in kept]) == sorted(negated)


@pytest.mark.parametrize(
    "text",
    [
        "取消测试环境的发布",  # the cancel request itself
        "为什么没发到生产",  # a question about the past
        "订单服务是不是发到生产了",  # an A-not-A question
        "要不要发生产",
        "分别发到测试和uat",  # 别 inside a word
        "把订单服务发到测试环境",
    ],
)
def test_no_negation_here(text):
    assert negated_spans(text) == []


@pytest.mark.parametrize(
    "text, kept",
    [
        # A cue that does not close its clause negates what follows it, not what precedes.
        ("订单服务发到测试环境不用审批吧", ["订单服务", "测试"]),
        # Only the value next to a closing cue (and those joined to it) is negated.
        ("把订单服务发到测试，支付不用了", ["订单服务", "测试"]),
        # "不是…是" turns: what follows the 是 is wanted.
        ("不是测试是生产", ["生产"]),
        # What is replaced is not wanted; only the value right before "改成".
        ("订单服务改成支付", ["支付"]),
        ("订单服务发到测试，分支改成 dev", ["订单服务", "测试"]),
        # "先别上线" says where not to go, not which service.
        ("订单服务先别上线，发到测试就行", ["订单服务", "测试"]),
        # A verb of another request closes the clause too.
        ("订单服务不用回退了，支付回退到上一版", ["支付"]),
        ("测试的先别停，把生产的取消掉", ["生产"]),
        ("不回滚订单服务，只回滚支付", ["支付"]),
        # Dictated text: a space between Chinese words ends a clause.
        ("算了生产不发了 订单服务先发测试", ["订单服务", "测试"]),
    ],
)
def test_what_a_negation_leaves(text, kept):
    values = [v for v in ("订单服务", "测试", "生产", "支付") if v in text]
    left = drop_negated(text, [entity(text, v) for v in values])
    assert [e["value"] for e in left] == kept


NAMES = (
    "订单服务",
    "支付服务",
    "网关",
    "前端",
    "测试环境",
    "测试",
    "预发",
    "生产",
    "gateway",
    "staging",
)
NAMES += ("订单", "支付")
ENVIRONMENTS = ("测试环境", "测试", "预发", "生产", "staging")


def said(text):
    """Every name in ``text`` as an entity, longest first, as the NLU would tag them."""
    found, taken = [], []
    for name in sorted(NAMES, key=len, reverse=True):
        start = text.find(name)
        while start >= 0:
            end = start + len(name)
            if all(end <= a or start >= b for a, b in taken):
                kind = "environment" if name in ENVIRONMENTS else "service"
                found.append({"entity": kind, "value": name, "start": start, "end": end})
                taken.append((start, end))
            start = text.find(name, end)
    return sorted(found, key=lambda e: e["start"])


@pytest.mark.parametrize(
    "text, kept",
    [
        # compound cues
        ("订单服务先不要了，发支付服务到测试", ["支付服务", "测试"]),
        ("生产先不用，先发测试", ["测试"]),
        ("网关暂时不用了，发前端到测试", ["前端", "测试"]),
        # unpunctuated: a 了 with more after it ends the clause
        ("测试就别发了直接发预发", ["预发"]),
        ("生产不发了发测试", ["测试"]),
        ("别管测试了直接发生产", ["生产"]),
        ("不用审批直接发生产", ["生产"]),
        ("订单服务生产先不发了，发测试就行", ["订单服务", "测试"]),
        # 除了: except vs besides
        ("除了网关都发到测试", ["测试"]),
        ("除了订单服务，支付服务也要发到测试", ["订单服务", "支付服务", "测试"]),
        ("deploy everything except gateway to staging", ["staging"]),
        # not negations at all
        ("除了网关，别的服务都发到测试环境", ["测试环境"]),
        ("别人刚发了生产，帮我看下订单服务的状态", ["生产", "订单服务"]),
        ("测试环境连不上了，帮我重新发一下网关", ["测试环境", "网关"]),
        ("订单服务在生产一直发不上，帮我看看", ["订单服务", "生产"]),
        ("别忘了把前端也发了", ["前端"]),
        ("发网关，不要漏了支付服务", ["网关", "支付服务"]),
        ("订单服务发到测试不用管了", ["订单服务", "测试"]),
        ("订单服务回滚不回滚", ["订单服务"]),
    ],
)
def test_what_people_say_without_meaning_no(text, kept):
    assert [e["value"] for e in drop_negated(text, said(text))] == kept


def test_trailing_cues_only_where_the_negation_can_be_the_request():
    locking = "别让人往生产发了"  # lock_environment: names what to lock
    assert drop_negated(locking, [entity(locking, "生产")], forward=False) == [
        entity(locking, "生产")
    ]
    text = "生产先别锁，锁测试就行"
    kept = drop_negated(text, [entity(text, "生产"), entity(text, "测试")], forward=False)
    assert [e["value"] for e in kept] == ["测试"]


def test_entities_without_a_position_are_kept():
    assert drop_negated("不用发网关了", [{"entity": "service", "value": "gateway"}]) == [
        {"entity": "service", "value": "gateway"}
    ]
