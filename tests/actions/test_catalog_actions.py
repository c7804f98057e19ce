"""Listing services and environments: asked from Zadig, labelled by the catalog, cached."""

from __future__ import annotations

import httpx
import pytest

from actions.catalog import ActionListEnvironments, ActionListServices
from tests.actions.conftest import texts

SERVICES_PATH = "/openapi/service/yaml/services"
ENVS_PATH = "/openapi/environments"
CATALOG_SERVICES = [
    "user-service",
    "order-service",
    "payment-service",
    "inventory-service",
    "notification-service",
    "auth-service",
    "gateway",
    "web-frontend",
]


def service(name):
    """One entry of Zadig's bare-array service list (docs/zadig-openapi.md §4)."""
    return {
        "service_name": name,
        "source": "spock",
        "type": "k8s",
        "containers": [
            {"name": name, "image": f"harbor.example.com/mall/{name}:v1", "image_name": name}
        ],
    }


def environment(key, alias, status):
    return {
        "envName": alias,
        "env_key": key,
        "cluster_id": "c1",
        "namespace": f"mall-env-{key}",
        "production": False,
        "registry_id": "r1",
        "status": status,
        "update_by": "admin",
        "update_time": 1700000000,
    }


# -- ActionListServices -------------------------------------------------------------------


async def test_services_come_from_zadig_with_their_chinese_names(
    rt, fake, make_tracker, dispatcher
):
    fake.services = [service(n) for n in CATALOG_SERVICES]

    events = await ActionListServices().run(dispatcher, make_tracker(intent="list_services"), {})

    assert events == []
    assert [(c.method, c.path, c.params) for c in fake.calls] == [
        ("GET", SERVICES_PATH, {"projectKey": "mall"})
    ]
    assert texts(dispatcher) == [
        "项目 mall（商城）的服务：\n"
        "- user-service（用户服务）\n- order-service（订单服务）\n- payment-service（支付服务）\n"
        "- inventory-service（库存服务）\n- notification-service（通知服务）\n"
        "- auth-service（认证服务）\n- gateway（网关）\n- web-frontend（前端）"
    ]


async def test_services_point_out_differences_between_zadig_and_the_catalog(
    rt, fake, make_tracker, dispatcher
):
    fake.services = [service("order-service"), service("pricing-svc"), service("gateway")]

    await ActionListServices().run(dispatcher, make_tracker(intent="list_services"), {})

    [text] = texts(dispatcher)
    assert text.splitlines()[1:4] == [
        "- order-service（订单服务）",
        "- pricing-svc（目录里还没有配置，暂时不能通过我发布）",
        "- gateway（网关）",
    ]
    assert text.splitlines()[4] == (
        "注意：目录里的 user-service, payment-service, inventory-service, notification-service, "
        "auth-service, web-frontend 在 Zadig 里不存在。"
    )


async def test_services_are_cached_for_a_minute(rt, fake, make_tracker, dispatcher, clock):
    fake.services = [service("order-service")]
    action, tracker = ActionListServices(), make_tracker(intent="list_services")

    await action.run(dispatcher, tracker, {})
    fake.services = [service("order-service"), service("gateway")]
    clock.value += 59
    await action.run(dispatcher, tracker, {})

    assert len(fake.calls) == 1
    assert texts(dispatcher)[1] == texts(dispatcher)[0]

    clock.value += 2
    await action.run(dispatcher, tracker, {})

    assert len(fake.calls) == 2
    assert "- gateway（网关）" in texts(dispatcher)[2]


@pytest.mark.parametrize(
    "reply, words",
    [
        (httpx.ConnectError("connection refused"), ["查询服务列表失败", "连不上 Zadig"]),
        (httpx.Response(401), ["查询服务列表失败", "API Token"]),
    ],
    ids=["connect-error", "401"],
)
async def test_services_fall_back_to_the_catalog_when_zadig_fails(
    rt, fake, make_tracker, dispatcher, reply, words
):
    fake.fail("GET", SERVICES_PATH, reply)

    events = await ActionListServices().run(dispatcher, make_tracker(intent="list_services"), {})

    assert events == []
    [text] = texts(dispatcher)
    for word in words:
        assert word in text
    assert "以下是本地目录里配置的服务：" in text
    tail = text.split("以下是本地目录里配置的服务：\n", 1)[1]
    assert tail.splitlines() == [
        "- user-service（用户服务）",
        "- order-service（订单服务）",
        "- payment-service（支付服务）",
        "- inventory-service（库存服务）",
        "- notification-service（通知服务）",
        "- auth-service（认证服务）",
        "- gateway（网关）",
        "- web-frontend（前端）",
    ]


async def test_a_failed_service_lookup_is_not_cached(rt, fake, make_tracker, dispatcher, clock):
    fake.fail("GET", SERVICES_PATH, httpx.ConnectError("connection refused"))
    action, tracker = ActionListServices(), make_tracker(intent="list_services")
    await action.run(dispatcher, tracker, {})
    failed_calls = len(fake.calls)

    fake.recover()
    fake.services = [service("order-service")]
    await action.run(dispatcher, tracker, {})

    assert failed_calls == 3  # one request and two retries
    assert len(fake.calls) == 4
    assert texts(dispatcher)[1].startswith("项目 mall（商城）的服务：\n- order-service（订单服务）")


# -- ActionListEnvironments ---------------------------------------------------------------


async def test_environments_show_workflow_branch_and_zadig_status(
    rt, fake, make_tracker, dispatcher
):
    # Zadig's list has no production environments (they need /environments/production).
    fake.environments = [
        environment("dev", "开发", "running"),
        environment("test", "测试", "unstable"),
    ]

    events = await ActionListEnvironments().run(
        dispatcher, make_tracker(intent="list_environments"), {}
    )

    assert events == []
    assert [(c.method, c.path, c.params) for c in fake.calls] == [
        ("GET", ENVS_PATH, {"projectKey": "mall"})
    ]
    assert texts(dispatcher) == [
        "可以发布的环境：\n"
        "- dev（开发）：工作流 mall-dev，默认分支 dev，状态 running\n"
        "- test（测试）：工作流 mall-test，默认分支 test，状态 unstable\n"
        "- uat（预发）：工作流 mall-uat，默认分支 uat\n"
        "- prod（生产）：工作流 mall-prod，默认分支 master，需要确认"
    ]


async def test_environments_are_cached_separately_from_services(
    rt, fake, make_tracker, dispatcher, clock
):
    fake.environments = [environment("dev", "开发", "running")]
    fake.services = [service("order-service")]
    tracker = make_tracker(intent="list_environments")

    await ActionListEnvironments().run(dispatcher, tracker, {})
    await ActionListEnvironments().run(dispatcher, tracker, {})
    await ActionListServices().run(dispatcher, tracker, {})

    assert [c.path for c in fake.calls] == [ENVS_PATH, SERVICES_PATH]
    assert texts(dispatcher)[1] == texts(dispatcher)[0]


async def test_environments_still_listed_from_the_catalog_when_zadig_is_down(
    rt, fake, make_tracker, dispatcher
):
    fake.fail("GET", ENVS_PATH, httpx.ReadTimeout("timed out"))

    events = await ActionListEnvironments().run(
        dispatcher, make_tracker(intent="list_environments"), {}
    )

    assert events == []
    [text] = texts(dispatcher)
    lines = text.splitlines()
    assert lines[:5] == [
        "可以发布的环境：",
        "- dev（开发）：工作流 mall-dev，默认分支 dev",
        "- test（测试）：工作流 mall-test，默认分支 test",
        "- uat（预发）：工作流 mall-uat，默认分支 uat",
        "- prod（生产）：工作流 mall-prod，默认分支 master，需要确认",
    ]
    assert lines[5].startswith("查询环境状态失败") and "超时" in lines[5]
