"""chatops/catalog/fuzzy.py: short names, homophones, raw pinyin, typos, and the ambiguity rule."""

from __future__ import annotations

import pytest

from chatops.catalog import Catalog, load_catalog, parse_catalog
from chatops.catalog.fuzzy import ACCEPT, FuzzyNames, derive_short_aliases

CATALOG_HEAD = """
project: {key: mall}
registry: r
codehost: gitlab
repo_namespace: mall
environments:
  test:
    aliases: [测试环境, 测试]
    workflow: w
    build_job: b
    deploy_job: d
    branch: test
"""


def catalog_with(services: str) -> Catalog:
    return parse_catalog(CATALOG_HEAD + "services:\n" + services)


@pytest.fixture(scope="module")
def names() -> FuzzyNames:
    return FuzzyNames.from_catalog(load_catalog())


def resolved(names: FuzzyNames, text: str):
    found = names.resolve(text)
    return (found.kind, found.value) if found else None


# -- short names -------------------------------------------------------------------------------


def test_short_names_are_derived_from_the_catalog():
    shorts = derive_short_aliases(load_catalog())
    assert shorts["订单"] == "order-service"
    assert shorts["支付"] == "payment-service"
    assert shorts["order"] == "order-service"
    # 网关 and 前端 are already short: nothing to derive from them.
    assert "网" not in shorts and "前" not in shorts


def test_a_short_name_that_would_name_two_things_is_not_derived():
    catalog = catalog_with(
        "  order-service: {aliases: [订单服务]}\n"
        "  order-svc: {aliases: [订单中心]}\n"
        "  test-service: {aliases: [测试服务]}\n"
    )
    shorts = derive_short_aliases(catalog)
    assert "order" not in shorts  # order-service and order-svc
    assert "测试" not in shorts  # the test environment's alias
    assert shorts["订单"] == "order-service"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("订单", ("service", "order-service")),
        ("支付", ("service", "payment-service")),
        ("网关", ("service", "gateway")),
        ("前端", ("service", "web-frontend")),
        ("Order-Service", ("service", "order-service")),
        ("order service", ("service", "order-service")),
        ("测试环境", ("environment", "test")),
        ("QA", ("environment", "test")),
    ],
)
def test_declared_and_short_names_resolve(names: FuzzyNames, text, expected):
    assert resolved(names, text) == expected


# -- typos and homophones ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected, how",
    [
        ("订单服物", ("service", "order-service"), "homophone"),  # the issue's own examples
        ("测式环境", ("environment", "test"), "homophone"),
        ("订单服各", ("service", "order-service"), "one-char"),  # wrong char in 服务
        ("生厂", ("environment", "prod"), "fuzzy-pinyin"),  # chan / chang
        ("zhifu", ("service", "payment-service"), "raw-pinyin"),
        ("yufa", ("environment", "uat"), "raw-pinyin"),
        ("zifu", ("service", "payment-service"), "raw-pinyin"),  # z for zh
        ("ordr-service", ("service", "order-service"), "typo"),
        ("gatway", ("service", "gateway"), "typo"),
        ("tset", ("environment", "test"), "typo"),
    ],
)
def test_typos_and_homophones_resolve_with_how_they_matched(names: FuzzyNames, text, expected, how):
    found = names.resolve(text)
    assert found is not None
    assert (found.kind, found.value, found.how) == (*expected, how)
    assert ACCEPT <= found.score < 100


@pytest.mark.parametrize(
    "text",
    [
        "支持服务",  # another service's name, one distinguishing character away from 支付服务
        "积分服务",
        "order-center",  # a service outside the catalog is not order-service
        "payment-gateway",
        "知府",  # sounds like 支付 but shares no character: another word
        "text",  # four letters: only a swapped pair is a typo
        "prd",
        "staging2",  # a digit makes another name, not a typo
        "测试同学",
        "",
    ],
)
def test_what_is_not_close_enough_does_not_resolve(names: FuzzyNames, text):
    assert names.resolve(text) is None


def test_two_close_candidates_are_ambiguous_but_both_are_offered():
    catalog = catalog_with("  order-api: {}\n  order-app: {}\n")
    names = FuzzyNames.from_catalog(catalog)

    assert names.resolve("order-apx") is None
    offered = {c.value for c in names.candidates("order-apx")}
    assert offered == {"order-api", "order-app"}
    assert names.resolve("order-api").value == "order-api"  # the exact one is not ambiguous


def test_kind_restricts_the_candidates(names: FuzzyNames):
    assert names.resolve("测试", "service") is None
    assert names.resolve("测试", "environment").value == "test"


# -- names inside a sentence ------------------------------------------------------------------


def found(names: FuzzyNames, text: str, edges=None):
    return [(s.text, s.candidate.value) for s in names.find(text, edges)]


def test_find_returns_every_name_once_in_order(names: FuzzyNames):
    assert found(names, "把订单和支付一起发到测式环境") == [
        ("订单", "order-service"),
        ("支付", "payment-service"),
        ("测式环境", "test"),
    ]


def test_find_prefers_the_longest_best_span(names: FuzzyNames):
    assert found(names, "发一下订单服务到qa") == [("订单服务", "order-service"), ("qa", "test")]


def test_find_keeps_to_the_token_edges_it_is_given(names: FuzzyNames):
    text = "订单量涨了"
    # As one token, 订单量 holds no name; split per character, 订单 would be one.
    assert found(names, text, [(0, 3), (3, 4), (4, 5)]) == []
    assert found(names, text) == [("订单", "order-service")]


def test_a_new_catalog_service_is_found_without_anything_else_changing():
    catalog = catalog_with("  coupon-service: {aliases: [优惠券服务]}\n")
    names = FuzzyNames.from_catalog(catalog)
    assert found(names, "把优惠券发到测试") == [
        ("优惠券", "coupon-service"),
        ("测试", "test"),
    ]
