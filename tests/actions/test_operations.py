"""Retry, job logs and rollback from the chat, under the same rules as a deploy."""

from __future__ import annotations

import json

import pytest

from actions.approvals import ActionApprove
from actions.operations import ActionRetry, ActionRollback, ActionShowLogs
from actions.tasks import ActionAffirm, ActionDeny
from chatops.catalog import DEFAULT_PATH, parse_catalog
from tests.actions.conftest import said as texts
from tests.fakes.zadig import add_deploy_task

IMAGE = "harbor.example.com/mall/order-service:{}"


def retries(fake):
    return [c for c in fake.calls if c.method == "POST" and "/task/" in c.path]


# -- retry --------------------------------------------------------------------------------------


async def test_a_failed_test_task_is_retried_in_place_and_followed_again(
    rt, fake, make_tracker, dispatcher
):
    fake.add_task("mall-test", 9, "failed", services=["order-service"])
    tracker = make_tracker(intent="retry", text="重试任务 9", entities={"task_id": "9"})

    await ActionRetry().run(dispatcher, tracker, {})

    [call] = retries(fake)
    assert (call.path, call.params) == (
        "/openapi/workflows/custom/mall-test/task/9",
        {"projectKey": "mall"},
    )
    assert "已重试 mall-test #9" in texts(dispatcher)[0]
    assert rt.store.get("mall-test", 9).state == "pending"
    assert [(e.action, e.decision) for e in rt.audit.events()] == [("retry", "triggered")]


async def test_a_passed_task_is_not_retried(rt, fake, make_tracker, dispatcher):
    fake.add_task("mall-test", 9, "passed", services=["order-service"])
    tracker = make_tracker(intent="retry", entities={"task_id": "9"})

    await ActionRetry().run(dispatcher, tracker, {})

    assert retries(fake) == []
    assert "Zadig 只能重试失败、超时、已取消或被拒绝的任务" in texts(dispatcher)[0]


async def test_a_production_retry_needs_an_approval_first(rt, fake, make_tracker, dispatcher):
    fake.add_task("mall-prod", 4, "failed", services=["gateway"])
    await ActionRetry().run(dispatcher, make_tracker(intent="retry", entities={"task_id": "4"}), {})
    assert retries(fake) == []
    [request] = rt.approvals.pending("cid1")
    assert "申请在生产环境重试" in texts(dispatcher)[0]

    approve = make_tracker(
        intent="approve", user="lead01", nick="李四", entities={"request_id": str(request.id)}
    )
    await ActionApprove().run(dispatcher, approve, {})

    assert [c.path for c in retries(fake)] == ["/openapi/workflows/custom/mall-prod/task/4"]
    assert "李四 批准了审批" in texts(dispatcher)[-1]


# -- logs ---------------------------------------------------------------------------------------


async def test_why_did_it_fail_quotes_the_failed_jobs_log(rt, fake, make_tracker, dispatcher):
    task = fake.add_task(
        "mall-test", 5, "failed", [("build", "failed")], services=["order-service"]
    )
    job = task["stages"][0]["jobs"][0]["name"]
    fake.logs[("mall-test", 5, job)] = "\n".join(f"step {i}" for i in range(50)) + "\nnpm ERR! 1"

    await ActionShowLogs().run(
        dispatcher, make_tracker(intent="show_logs", entities={"task_id": "5"}), {}
    )

    [text] = texts(dispatcher)
    assert "失败的 job：构建 build-order-service-order-service" in text
    assert "日志最后 20 行" in text and "> npm ERR! 1" in text and "> step 31" in text
    assert "> step 30" not in text


# -- rollback -----------------------------------------------------------------------------------


@pytest.fixture
def deployed(fake):
    """order-service in test: v1 by task 1, then v2 by task 2 (running now)."""
    add_deploy_task(fake, "mall-test", 1, {"order-service": IMAGE.format("v1")}, env="test")
    add_deploy_task(
        fake,
        "mall-test",
        2,
        {"order-service": IMAGE.format("v2")},
        env="test",
        start_time=1724400001,
    )


def rollback_request(make_tracker, **entities):
    return make_tracker(intent="rollback", text="回滚", entities=entities)


async def test_a_rollback_shows_both_versions_and_waits_for_a_yes(
    rt, fake, deployed, make_tracker, dispatcher
):
    tracker = rollback_request(make_tracker, service="订单服务", environment="测试")

    events = await ActionRollback().run(dispatcher, tracker, {})

    [text] = texts(dispatcher)
    assert "order-service：现在 v2（mall-test #2" in text
    assert "回滚到 v1（mall-test #1" in text
    assert fake.calls_to("POST") == []
    [event] = events
    assert event["name"] == "pending_action"
    pending = json.loads(event["value"])
    assert pending["plan"]["images"][0]["image"] == IMAGE.format("v1")

    yes = make_tracker(intent="affirm", text="确认", slots={"pending_action": event["value"]})
    await ActionAffirm().run(dispatcher, yes, {})

    [trigger] = fake.calls_to("POST")
    assert trigger.json["workflow_key"] == "mall-test-rollback"
    assert trigger.json["inputs"][0]["parameters"]["service_list"] == [
        {
            "service_name": "order-service",
            "service_module": "order-service",
            "image_name": IMAGE.format("v1"),
        }
    ]
    assert "已开始回滚 test：order-service → v1" in texts(dispatcher)[-1]
    assert rt.store.get("mall-test-rollback", 1) is not None
    assert [e.decision for e in rt.audit.events()] == ["confirmed", "triggered"]


async def test_a_rollback_to_a_named_task(rt, fake, deployed, make_tracker, dispatcher):
    add_deploy_task(
        fake,
        "mall-test",
        3,
        {"order-service": IMAGE.format("v3")},
        env="test",
        start_time=1724500001,
    )
    tracker = rollback_request(
        make_tracker, service="order-service", environment="test", task_id="1"
    )

    await ActionRollback().run(dispatcher, tracker, {})

    assert "回滚到 v1（mall-test #1" in texts(dispatcher)[0]


async def test_no_to_a_shown_rollback_sends_nothing(rt, fake, deployed, make_tracker, dispatcher):
    events = await ActionRollback().run(
        dispatcher, rollback_request(make_tracker, service="order-service", environment="test"), {}
    )
    no = make_tracker(intent="deny", slots={"pending_action": events[0]["value"]})

    assert await ActionDeny().run(dispatcher, no, {}) == [
        {"event": "slot", "timestamp": None, "name": "pending_action", "value": None}
    ]
    assert fake.calls_to("POST") == []


async def test_without_a_rollback_workflow_the_bot_says_how_to_set_one_up(
    rt, fake, deployed, make_tracker, dispatcher
):
    text = DEFAULT_PATH.read_text(encoding="utf-8").replace(
        "    rollback: {workflow: mall-test-rollback, deploy_job: deploy}\n", ""
    )
    rt.catalog = parse_catalog(text)

    await ActionRollback().run(
        dispatcher, rollback_request(make_tracker, service="order-service", environment="test"), {}
    )

    assert "没有配置回滚工作流" in texts(dispatcher)[0]
    assert "rollback: {workflow:" in texts(dispatcher)[0]


async def test_a_production_rollback_is_approved_before_it_runs(rt, fake, make_tracker, dispatcher):
    add_deploy_task(fake, "mall-prod", 1, {"gateway": "h/gateway:1.0"}, env="prod")
    add_deploy_task(
        fake, "mall-prod", 2, {"gateway": "h/gateway:1.1"}, env="prod", start_time=1724400001
    )
    events = await ActionRollback().run(
        dispatcher, rollback_request(make_tracker, service="网关", environment="生产"), {}
    )
    assert "提交审批" in texts(dispatcher)[0]
    yes = make_tracker(intent="affirm", slots={"pending_action": events[0]["value"]})
    await ActionAffirm().run(dispatcher, yes, {})
    assert fake.calls_to("POST") == []
    [request] = rt.approvals.pending("cid1")
    assert request.kind == "rollback"

    approve = make_tracker(
        intent="approve", user="lead02", nick="赵六", entities={"request_id": str(request.id)}
    )
    await ActionApprove().run(dispatcher, approve, {})

    [trigger] = fake.calls_to("POST")
    assert trigger.json["workflow_key"] == "mall-prod-rollback"
    assert "赵六 批准了审批" in texts(dispatcher)[-1]


async def test_an_old_confirmation_is_not_carried_out(
    rt, fake, deployed, make_tracker, dispatcher, clock
):
    events = await ActionRollback().run(
        dispatcher, rollback_request(make_tracker, service="order-service", environment="test"), {}
    )
    clock.value += 301

    await ActionAffirm().run(
        dispatcher, make_tracker(intent="affirm", slots={"pending_action": events[0]["value"]}), {}
    )

    assert fake.calls_to("POST") == []
    assert "已经超时" in texts(dispatcher)[-1]
