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
    ],
)
def test_values_inside_a_negation_are_dropped(text, negated):
    values = [
        v
        for v in ("网关", "生产", "测试", "支付服务", "订单服务", "gateway", "order-service")
        if v in text
    ]
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


def test_entities_without_a_position_are_kept():
    assert drop_negated("不用发网关了", [{"entity": "service", "value": "gateway"}]) == [
        {"entity": "service", "value": "gateway"}
    ]
