"""Status and cancel requests: which task a message means, what Zadig is asked, what is said."""

from __future__ import annotations

import time

import httpx
import pytest
from rasa_sdk.events import SlotSet

from actions.tasks import (
    ActionAffirm,
    ActionCancelTask,
    ActionDeny,
    ActionQueryStatus,
)
from chatops.tasks import PENDING_CANCEL_SECONDS
from tests.actions.conftest import responses, texts

TASK_PATH = "/openapi/workflows/custom/task"
WEB = "http://127.0.0.1:7070/v1/projects/detail/mall/pipelines/custom"


def link(workflow, task_id):
    return f"{WEB}/{workflow}/{task_id}?display_name={workflow}"


def get(workflow, task_id):
    """The (method, path, params) of a task lookup."""
    return ("GET", TASK_PATH, {"taskId": str(task_id), "workflowKey": workflow})


def sent(fake):
    return [(c.method, c.path, c.params) for c in fake.calls]


def remember(
    rt,
    workflow,
    task_id,
    service,
    environment,
    *,
    conversation="cid1",
    sender="cid1:u1",
    now=1000.0,
):
    rt.store.add(
        project_key="mall",
        workflow_key=workflow,
        task_id=task_id,
        service=service,
        environment=environment,
        sender_id=sender,
        conversation_id=conversation,
        target={"conversation_id": conversation, "is_group": True, "user_id": "u"},
        now=now,
    )


# -- ActionQueryStatus --------------------------------------------------------------------


async def test_status_of_the_last_task_shows_status_progress_and_link(
    rt, fake, make_tracker, dispatcher
):
    fake.add_task("mall-test", 45, "running", stages=[("build", "passed"), ("deploy", "running")])
    remember(rt, "mall-test", 45, "order-service", "test")
    tracker = make_tracker(text="刚才的发布怎么样了", slots={"last_task": "mall-test#45"})

    events = await ActionQueryStatus().run(dispatcher, tracker, {})

    assert events == []
    assert sent(fake) == [get("mall-test", 45)]
    assert texts(dispatcher) == [
        "order-service → test（mall-test #45）：执行中\n"
        "阶段：build ✅ → deploy 执行中\n"
        f"详情：{link('mall-test', 45)}"
    ]


async def test_status_by_task_id_and_environment_asks_that_workflow_only(
    rt, fake, make_tracker, dispatcher
):
    fake.add_task(
        "mall-test",
        45,
        "passed",
        stages=[("build", "passed"), ("deploy", "passed")],
        start_time=1724300001,
        end_time=1724300200,
    )
    fake.add_task("mall-dev", 45, "running")
    tracker = make_tracker(entities={"task_id": "45", "environment": "测试环境"})

    await ActionQueryStatus().run(dispatcher, tracker, {})

    assert sent(fake) == [get("mall-test", 45)]
    [text] = texts(dispatcher)
    # Not started by the bot: no service known, the workflow names the task.
    assert text.startswith("mall-test（mall-test #45）：成功\n")
    assert "阶段：build ✅ → deploy ✅" in text
    assert "用时：3分19秒" in text
    assert link("mall-test", 45) in text


async def test_status_by_task_id_prefers_the_last_tasks_workflow(
    rt, fake, make_tracker, dispatcher
):
    fake.add_task("mall-uat", 7, "running")
    tracker = make_tracker(entities={"task_id": "7"}, slots={"last_task": "mall-uat#7"})

    await ActionQueryStatus().run(dispatcher, tracker, {})

    assert sent(fake) == [get("mall-uat", 7)]
    assert texts(dispatcher)[0].startswith("mall-uat（mall-uat #7）：执行中")


async def test_status_by_task_id_alone_probes_every_workflow_and_answers_the_one_hit(
    rt, fake, make_tracker, dispatcher
):
    fake.add_task(
        "mall-uat",
        7,
        "failed",
        stages=[("build", "passed"), ("deploy", "failed")],
        end_time=1724300061,
    )
    tracker = make_tracker(entities={"task_id": "7"}, slots={"last_task": "mall-test#3"})

    await ActionQueryStatus().run(dispatcher, tracker, {})

    assert sent(fake) == [
        get("mall-dev", 7),
        get("mall-test", 7),
        get("mall-uat", 7),
        get("mall-prod", 7),
    ]
    [text] = texts(dispatcher)
    assert text.startswith("mall-uat（mall-uat #7）：失败\n")
    assert "阶段：build ✅ → deploy ❌" in text
    assert "失败阶段：deploy" in text
    assert "用时：1分00秒" in text


async def test_status_by_task_id_alone_says_when_no_workflow_has_it(
    rt, fake, make_tracker, dispatcher
):
    tracker = make_tracker(entities={"task_id": "7"})

    events = await ActionQueryStatus().run(dispatcher, tracker, {})

    assert events == []
    assert len(fake.calls) == 4
    assert texts(dispatcher) == ["没有找到任务 7。"]


async def test_status_by_task_id_alone_offers_a_button_per_environment_that_has_it(
    rt, fake, make_tracker, dispatcher
):
    fake.add_task("mall-dev", 7, "passed")
    fake.add_task("mall-prod", 7, "running")
    tracker = make_tracker(entities={"task_id": "7"})

    await ActionQueryStatus().run(dispatcher, tracker, {})

    [message] = dispatcher.messages
    assert message["text"] == "好几个环境都有任务 7，是哪个环境的？"
    assert message["buttons"] == [
        {"title": "mall-dev #7", "payload": "dev环境的任务7怎么样了"},
        {"title": "mall-prod #7", "payload": "prod环境的任务7怎么样了"},
    ]


async def test_status_by_environment_reads_the_history_then_the_latest_task(
    rt, fake, make_tracker, dispatcher
):
    fake.add_task("mall-uat", 3, "passed")
    fake.add_task("mall-uat", 4, "running", stages=[("build", "running"), ("deploy", "created")])
    fake.add_task("mall-test", 9, "running")
    tracker = make_tracker(entities={"environment": "预发"})

    await ActionQueryStatus().run(dispatcher, tracker, {})

    assert sent(fake) == [
        (
            "GET",
            "/openapi/workflows/custom/mall-uat/tasks",
            {"projectKey": "mall", "pageNum": "1", "pageSize": "1"},
        ),
        get("mall-uat", 4),
    ]
    [text] = texts(dispatcher)
    assert text.startswith("mall-uat（mall-uat #4）：执行中\n阶段：build 执行中 → deploy 已创建\n")


async def test_status_by_environment_without_history(rt, fake, make_tracker, dispatcher):
    tracker = make_tracker(entities={"environment": "uat"})

    await ActionQueryStatus().run(dispatcher, tracker, {})

    assert [c.path for c in fake.calls] == ["/openapi/workflows/custom/mall-uat/tasks"]
    assert texts(dispatcher) == ["uat（预发）环境还没有发布记录。"]


async def test_status_by_service_and_environment_is_about_that_service(
    rt, fake, make_tracker, dispatcher
):
    fake.add_task("mall-test", 7, "passed")
    fake.add_task("mall-test", 8, "running")
    remember(rt, "mall-test", 7, "order-service", "test", now=1000.0)
    remember(rt, "mall-test", 8, "user-service", "test", now=2000.0)
    tracker = make_tracker(
        text="测试环境的订单服务发布成功了吗",
        entities={"service": "订单服务", "environment": "测试环境"},
    )

    await ActionQueryStatus().run(dispatcher, tracker, {})

    [text] = texts(dispatcher)
    assert "order-service" in text


async def test_status_by_service_finds_that_services_task_among_newer_ones(
    rt, fake, make_tracker, dispatcher
):
    """Tasks started outside the bot: only their jobs say which service they deployed."""
    fake.add_task("mall-test", 44, "passed", services=["order-service"], end_time=1724300300)
    fake.add_task("mall-test", 45, "failed", services=["order-service"], end_time=1724300400)
    fake.add_task("mall-test", 46, "running", services=["payment-service"])
    tracker = make_tracker(
        text="测试环境的订单服务怎么样了",
        entities={"service": "订单服务", "environment": "测试环境"},
    )

    await ActionQueryStatus().run(dispatcher, tracker, {})

    [text] = texts(dispatcher)
    assert text.startswith("order-service → test（mall-test #45）：失败"), text
    assert sent(fake)[-1] == get("mall-test", 45)


async def test_status_by_service_says_when_no_recent_task_deployed_it(
    rt, fake, make_tracker, dispatcher
):
    fake.add_task("mall-test", 46, "running", services=["payment-service"])
    tracker = make_tracker(entities={"service": "订单服务", "environment": "测试环境"})

    await ActionQueryStatus().run(dispatcher, tracker, {})

    assert texts(dispatcher) == ["test（测试）环境最近 10 次发布里没有 order-service。"]


async def test_status_by_service_alone_asks_which_environment(rt, fake, make_tracker, dispatcher):
    tracker = make_tracker(entities={"service": "订单服务"})

    events = await ActionQueryStatus().run(dispatcher, tracker, {})

    assert events == []
    assert fake.calls == []
    [message] = dispatcher.messages
    assert message["text"] == "要查 order-service 在哪个环境的发布？"
    assert message["buttons"] == [
        {"title": "dev（开发）", "payload": "order-service在dev环境的发布怎么样了"},
        {"title": "test（测试）", "payload": "order-service在test环境的发布怎么样了"},
        {"title": "uat（预发）", "payload": "order-service在uat环境的发布怎么样了"},
        {"title": "prod（生产）", "payload": "order-service在prod环境的发布怎么样了"},
    ]


async def test_status_with_nothing_to_go_on_explains_how_to_ask(rt, fake, make_tracker, dispatcher):
    remember(
        rt,
        "mall-test",
        45,
        "order-service",
        "test",
        conversation="another-group",
        sender="another-group:u9",
    )
    tracker = make_tracker(text="怎么样了")

    events = await ActionQueryStatus().run(dispatcher, tracker, {})

    assert events == []
    assert fake.calls == []
    [text] = texts(dispatcher)
    assert "还没有发起过发布" in text and "任务 45 怎么样了" in text


async def test_status_falls_back_to_the_groups_latest_deploy_by_someone_else(
    rt, fake, make_tracker, dispatcher
):
    fake.add_task("mall-test", 45, "running")
    fake.add_task("mall-dev", 50, "running")
    fake.add_task("mall-uat", 60, "running")
    remember(rt, "mall-dev", 50, "gateway", "dev", sender="cid1:u2", now=1000.0)
    remember(rt, "mall-test", 45, "order-service", "test", sender="cid1:u2", now=2000.0)
    remember(
        rt, "mall-uat", 60, "web-frontend", "uat", conversation="cid2", sender="cid2:u1", now=3000.0
    )
    tracker = make_tracker(text="刚才的发布怎么样了", sender_id="cid1:u1")

    await ActionQueryStatus().run(dispatcher, tracker, {})

    assert sent(fake) == [get("mall-test", 45)]
    assert texts(dispatcher)[0].startswith("order-service → test（mall-test #45）：执行中")


async def test_status_of_a_task_zadig_no_longer_has(rt, fake, make_tracker, dispatcher):
    tracker = make_tracker(slots={"last_task": "mall-test#45"})

    await ActionQueryStatus().run(dispatcher, tracker, {})

    assert sent(fake) == [get("mall-test", 45)]
    assert texts(dispatcher) == ["没有找到任务 mall-test #45。"]


@pytest.mark.parametrize(
    "reply, words, attempts",
    [
        (httpx.ConnectError("connection refused"), ["查询任务失败", "连不上 Zadig"], 3),
        (httpx.ReadTimeout("timed out"), ["查询任务失败", "超时"], 3),
        (httpx.Response(401), ["查询任务失败", "API Token"], 1),
    ],
    ids=["connect-error", "timeout", "401"],
)
async def test_status_when_zadig_fails(rt, fake, make_tracker, dispatcher, reply, words, attempts):
    fake.fail("*", "*", reply)
    tracker = make_tracker(slots={"last_task": "mall-test#45"})

    events = await ActionQueryStatus().run(dispatcher, tracker, {})

    assert events == []
    # Reads are retried twice on network failures, never on a refused token.
    assert sent(fake) == [get("mall-test", 45)] * attempts
    [text] = texts(dispatcher)
    for word in words:
        assert word in text


# -- ActionCancelTask ---------------------------------------------------------------------


async def test_cancel_a_running_test_task_sends_query_and_body(rt, fake, make_tracker, dispatcher):
    fake.add_task("mall-test", 45, "running")
    tracker = make_tracker(intent="cancel", slots={"last_task": "mall-test#45"})

    events = await ActionCancelTask().run(dispatcher, tracker, {})

    assert events == []
    assert sent(fake) == [
        get("mall-test", 45),
        ("DELETE", TASK_PATH, {"taskId": "45", "workflowKey": "mall-test"}),
    ]
    assert fake.calls[1].json == {"task_id": 45, "workflow_key": "mall-test"}
    assert texts(dispatcher) == [f"🚫 已取消 mall-test #45。\n详情：{link('mall-test', 45)}"]
    assert fake.tasks[("mall-test", 45)]["status"] == "cancelled"


async def test_cancel_of_a_task_that_passed_meanwhile_explains_zadig_refuses(
    rt, fake, make_tracker, dispatcher
):
    fake.add_task("mall-test", 3, "running")
    fake.fail(
        "DELETE",
        TASK_PATH,
        httpx.Response(
            400,
            json={
                "type": "error",
                "message": "取消工作流任务失败",
                "code": 6163,
                "description": "task: mall-test:3 is passed, cannot cancel",
                "extra": {},
            },
        ),
    )
    tracker = make_tracker(intent="cancel", entities={"task_id": "3", "environment": "测试"})

    events = await ActionCancelTask().run(dispatcher, tracker, {})

    assert events == []
    assert [c.method for c in fake.calls] == ["GET", "DELETE"]
    assert texts(dispatcher) == ["mall-test #3 已经执行成功了，Zadig 不允许取消已成功的任务。"]


async def test_cancel_of_a_missing_task_reports_zadigs_answer(rt, fake, make_tracker, dispatcher):
    fake.add_task("mall-test", 3, "running")
    fake.fail(
        "DELETE",
        TASK_PATH,
        httpx.Response(
            400,
            json={
                "type": "error",
                "message": "取消工作流任务失败",
                "code": 6163,
                "description": "task not found",
                "extra": {},
            },
        ),
    )
    tracker = make_tracker(intent="cancel", slots={"last_task": "mall-test#3"})

    await ActionCancelTask().run(dispatcher, tracker, {})

    [text] = texts(dispatcher)
    assert text.startswith("取消任务失败：")
    assert "取消工作流任务失败" in text and "code 6163" in text
    assert "已经执行成功" not in text


@pytest.mark.parametrize(
    "status, label", [("failed", "失败"), ("passed", "成功"), ("cancelled", "已取消")]
)
async def test_cancel_of_a_finished_task_sends_no_delete(
    rt, fake, make_tracker, dispatcher, status, label
):
    fake.add_task("mall-test", 45, status)
    tracker = make_tracker(intent="cancel", slots={"last_task": "mall-test#45"})

    events = await ActionCancelTask().run(dispatcher, tracker, {})

    assert events == []
    assert sent(fake) == [get("mall-test", 45)]
    assert texts(dispatcher) == [f"mall-test #45 已经结束（{label}），不需要取消。"]


async def test_cancel_of_a_production_task_asks_first(rt, fake, make_tracker, dispatcher):
    fake.add_task("mall-prod", 12, "running")
    tracker = make_tracker(
        intent="cancel", entities={"task_id": "12", "environment": "生产"}, user="lead01"
    )

    events = await ActionCancelTask().run(dispatcher, tracker, {})

    assert sent(fake) == [get("mall-prod", 12)]
    [event] = events
    assert event["name"] == "pending_cancel"
    ref, asked_at = event["value"].split("@")
    assert ref == "mall-prod#12" and abs(int(asked_at) - time.time()) < 60
    [message] = dispatcher.messages
    assert "mall-prod #12" in message["text"] and "生产环境" in message["text"]
    assert "执行中" in message["text"]
    assert [b["payload"] for b in message["buttons"]] == ["确认", "不用了"]


async def test_cancel_with_nothing_to_go_on_sends_nothing(rt, fake, make_tracker, dispatcher):
    events = await ActionCancelTask().run(dispatcher, make_tracker(intent="cancel"), {})

    assert events == []
    assert fake.calls == []
    assert "还没有发起过发布" in texts(dispatcher)[0]


async def test_cancel_when_zadig_refuses_the_token(rt, fake, make_tracker, dispatcher):
    fake.add_task("mall-test", 45, "running")
    fake.fail("DELETE", TASK_PATH, httpx.Response(401))
    tracker = make_tracker(intent="cancel", slots={"last_task": "mall-test#45"})

    await ActionCancelTask().run(dispatcher, tracker, {})

    assert [c.method for c in fake.calls] == ["GET", "DELETE"]
    [text] = texts(dispatcher)
    assert "取消任务失败" in text and "API Token" in text
    assert fake.tasks[("mall-test", 45)]["status"] == "running"


# -- ActionAffirm / ActionDeny ------------------------------------------------------------


async def test_affirm_carries_out_the_pending_production_cancel(rt, fake, make_tracker, dispatcher):
    fake.add_task("mall-prod", 12, "running")
    tracker = make_tracker(
        user="lead01", intent="affirm", text="确认", slots={"pending_cancel": "mall-prod#12"}
    )

    events = await ActionAffirm().run(dispatcher, tracker, {})

    assert events == [SlotSet("pending_cancel", None)]
    deletes = fake.calls_to("DELETE")
    assert [(c.params, c.json) for c in deletes] == [
        ({"taskId": "12", "workflowKey": "mall-prod"}, {"task_id": 12, "workflow_key": "mall-prod"})
    ]
    assert texts(dispatcher) == [f"🚫 已取消 mall-prod #12。\n详情：{link('mall-prod', 12)}"]


async def test_affirm_clears_the_pending_cancel_even_when_zadig_refuses(
    rt, fake, make_tracker, dispatcher
):
    # Running when looked at, passed by the time the DELETE arrives: Zadig refuses (6163).
    fake.add_task("mall-prod", 12, "running")
    fake.fail(
        "DELETE",
        "/openapi/workflows/custom/task",
        httpx.Response(
            400,
            json={
                "type": "error",
                "message": "取消工作流任务失败",
                "code": 6163,
                "description": "task: mall-prod:12 is passed, cannot cancel",
                "extra": {},
            },
        ),
    )
    tracker = make_tracker(user="lead01", intent="affirm", slots={"pending_cancel": "mall-prod#12"})

    events = await ActionAffirm().run(dispatcher, tracker, {})

    assert events == [SlotSet("pending_cancel", None)]
    assert "不允许取消已成功的任务" in texts(dispatcher)[0]


async def test_affirm_does_not_cancel_a_task_that_ended_meanwhile(
    rt, fake, make_tracker, dispatcher
):
    fake.add_task(
        "mall-prod",
        12,
        "failed",
        stages=[("build", "passed"), ("deploy", "failed")],
        end_time=1724300100,
    )
    tracker = make_tracker(intent="affirm", slots={"pending_cancel": "mall-prod#12"})

    events = await ActionAffirm().run(dispatcher, tracker, {})

    assert events == [SlotSet("pending_cancel", None)]
    assert fake.calls_to("DELETE") == []
    assert fake.tasks[("mall-prod", 12)]["status"] == "failed"


async def test_affirm_with_nothing_pending_sends_nothing(rt, fake, make_tracker, dispatcher):
    tracker = make_tracker(intent="affirm", slots={"last_task": "mall-prod#12"})

    events = await ActionAffirm().run(dispatcher, tracker, {})

    assert events == []
    assert fake.calls == []
    assert responses(dispatcher) == ["utter_nothing_to_confirm"]


async def test_deny_drops_the_pending_cancel(rt, fake, make_tracker, dispatcher):
    fake.add_task("mall-prod", 12, "running")
    tracker = make_tracker(intent="deny", slots={"pending_cancel": "mall-prod#12"})

    events = await ActionDeny().run(dispatcher, tracker, {})

    assert events == [SlotSet("pending_cancel", None)]
    assert fake.calls == []
    assert responses(dispatcher) == ["utter_cancel_kept"]
    assert fake.tasks[("mall-prod", 12)]["status"] == "running"


async def test_deny_with_nothing_pending(rt, fake, make_tracker, dispatcher):
    events = await ActionDeny().run(dispatcher, make_tracker(intent="deny"), {})

    assert events == []
    assert fake.calls == []
    assert responses(dispatcher) == ["utter_ok"]


async def test_a_stale_pending_cancel_is_not_carried_out(rt, fake, make_tracker, dispatcher):
    fake.add_task("mall-prod", 12, "running")
    asked = int(time.time()) - PENDING_CANCEL_SECONDS - 5
    tracker = make_tracker(intent="affirm", slots={"pending_cancel": f"mall-prod#12@{asked}"})

    events = await ActionAffirm().run(dispatcher, tracker, {})

    assert events == [SlotSet("pending_cancel", None)]
    assert fake.calls == []
    assert responses(dispatcher) == ["utter_nothing_to_confirm"]


async def test_a_fresh_pending_cancel_is_carried_out(rt, fake, make_tracker, dispatcher):
    fake.add_task("mall-prod", 12, "running")
    tracker = make_tracker(
        user="lead01", intent="affirm", slots={"pending_cancel": f"mall-prod#12@{int(time.time())}"}
    )

    events = await ActionAffirm().run(dispatcher, tracker, {})

    assert events == [SlotSet("pending_cancel", None)]
    assert fake.calls_to("DELETE") and fake.tasks[("mall-prod", 12)]["status"] == "cancelled"
