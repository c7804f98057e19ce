"""Submitting the deploy form: who may, what reaches Zadig (and what must not), the record of it."""

from __future__ import annotations

import httpx
import pytest
from rasa_sdk.events import SlotSet

from actions.deploy import ActionSubmitDeploy
from chatops.plans import fingerprint
from tests.actions.conftest import RESET, dingtalk_metadata, responses, texts

TASK_PATH = "/openapi/workflows/custom/task"
LINK_46 = (
    "http://127.0.0.1:7070/v1/projects/detail/mall/pipelines/custom/mall-test/46"
    "?display_name=mall-test"
)


def deploy_body(service, env, branch, workflow=None):
    """The trigger body Zadig needs for a catalog service (module = repo = name)."""
    svc = {"service_name": service, "service_module": service}
    return {
        "project_key": "mall",
        "workflow_key": workflow or f"mall-{env}",
        "inputs": [
            {
                "job_name": "build",
                "job_type": "zadig-build",
                "parameters": {
                    "registry": "https://harbor.example.com/mall",
                    "service_list": [
                        {
                            **svc,
                            "repo_info": [
                                {
                                    "codehost_name": "gitlab",
                                    "repo_namespace": "mall",
                                    "repo_name": service,
                                    "branch": branch,
                                }
                            ],
                        }
                    ],
                },
            },
            {
                "job_name": "deploy",
                "job_type": "zadig-deploy",
                "parameters": {"env_name": env, "service_list": [{**svc, "image_name": ""}]},
            },
        ],
    }


async def test_submit_triggers_exactly_one_build_and_deploy_and_registers_the_followup(
    rt, fake, form_tracker, dispatcher
):
    fake.next_id["mall-test"] = 46
    tracker = form_tracker(service=["order-service"], environment="test")

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    # The workflow's definition is read first (so none of its jobs is silently skipped), then
    # exactly one trigger, then the remark naming who asked.
    assert [(c.method, c.path) for c in fake.calls] == [
        ("GET", "/openapi/workflows/custom/mall-test/detail"),
        ("POST", TASK_PATH),
        ("PUT", "/openapi/workflows/custom/mall-test/task/46"),
    ]
    assert fake.calls_to("POST")[0].json == deploy_body("order-service", "test", "test")
    assert "张三（u1）申请" in fake.tasks[("mall-test", 46)]["remark"]
    assert events == [*RESET, SlotSet("last_task", "mall-test#46")]
    [text] = texts(dispatcher)
    assert "order-service → test（分支 test）" in text
    assert "任务：mall-test #46" in text
    assert f"详情：{LINK_46}" in text
    assert "任务结束后我会在这里告诉你结果" in text

    followup = rt.store.get("mall-test", 46)
    assert followup is not None
    assert (followup.project_key, followup.service, followup.environment) == (
        "mall",
        "order-service",
        "test",
    )
    assert (followup.sender_id, followup.conversation_id) == ("cid1:u1", "cid1")
    assert followup.target == dingtalk_metadata()["target"]
    assert (followup.requester, followup.requester_nick) == ("u1", "张三")
    assert followup.state == "pending"
    [event] = rt.audit.events(decisions=["triggered"])
    assert (event.actor_id, event.workflow_key, event.task_id) == ("u1", "mall-test", 46)


async def test_submit_uses_the_named_branch(rt, fake, form_tracker, dispatcher):
    tracker = form_tracker(service=["payment-service"], environment="uat", branch="release/2.3")

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert [c.json for c in fake.calls_to("POST")] == [
        deploy_body("payment-service", "uat", "release/2.3")
    ]
    assert events == [*RESET, SlotSet("last_task", "mall-uat#1")]
    assert "（分支 release/2.3）" in texts(dispatcher)[0]


async def test_submit_stops_an_unconfirmed_production_deploy_without_calling_zadig(
    rt, fake, form_tracker, dispatcher
):
    tracker = form_tracker(service=["order-service"], environment="prod", confirmed=None)

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert fake.calls == []
    assert events == RESET
    assert [m["response"] for m in dispatcher.messages] == ["utter_deploy_stopped"]
    assert rt.store.pending() == []


async def test_submit_of_a_confirmed_production_plan_asks_for_approval_and_sends_nothing(
    rt, fake, form_tracker, dispatcher
):
    plan = rt.catalog.plan("order-service", "prod")
    tracker = form_tracker(
        service=["order-service"], environment="prod", confirmed=True, plan_shown=fingerprint(plan)
    )

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert fake.writes == []  # nothing but reads reaches Zadig before the approval
    assert events == RESET
    [message] = dispatcher.messages
    # A ready DingTalk message: it @-mentions the release managers (and the requester).
    sent = message["custom"]
    assert sent["at"]["atUserIds"] == ["u1", "lead01", "lead02"]
    assert "审批 #1：张三 申请发布到生产环境" in sent["markdown"]["text"]
    assert "批准 1" in sent["markdown"]["text"]
    # The approvers see what runs in production now next to what would come.
    assert "order-service：没有找到部署记录" in sent["markdown"]["text"]
    assert "将发布：分支 master 的新构建" in sent["markdown"]["text"]
    [request] = rt.approvals.pending("cid1")
    assert (request.requester, request.plan["services"]) == ("u1", ["order-service"])
    decisions = [e.decision for e in rt.audit.events()]
    assert decisions == ["confirmed", "approval_requested"]


async def test_submit_of_a_production_plan_other_than_the_one_confirmed_sends_nothing(
    rt, fake, form_tracker, dispatcher
):
    shown = fingerprint(rt.catalog.plan("order-service", "prod"))
    tracker = form_tracker(
        service=["payment-service"], environment="prod", confirmed=True, plan_shown=shown
    )

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert fake.calls == []
    assert events == RESET
    assert responses(dispatcher) == ["utter_deploy_stopped"]
    assert rt.approvals.pending() == []


async def test_submit_with_missing_slots_sends_nothing(rt, fake, form_tracker, dispatcher):
    events = await ActionSubmitDeploy().run(dispatcher, form_tracker(environment="test"), {})

    assert fake.calls == []
    assert events == RESET
    assert responses(dispatcher) == ["utter_deploy_incomplete"]


@pytest.mark.parametrize(
    "reply, words",
    [
        (httpx.Response(401), ["触发发布失败", "API Token", "401"]),
        (
            httpx.Response(
                500,
                json={
                    "message": "Internal Error: ",
                    "code": 500,
                    "description": "failed to find code host with name:gitlab",
                },
            ),
            ["触发发布失败", "failed to find code host with name:gitlab", "code 500"],
        ),
        (
            httpx.Response(
                400,
                json={
                    "type": "error",
                    "message": "查询workflow失败",
                    "code": 6542,
                    "description": "mongo: no documents in result",
                    "extra": {},
                },
            ),
            ["触发发布失败"],
        ),
        (httpx.ConnectError("connection refused"), ["触发发布失败", "连不上 Zadig"]),
        (httpx.ReadTimeout("timed out"), ["触发发布", "超时", "可能已经生效"]),
    ],
    ids=["401", "500", "6542", "connect-error", "timeout"],
)
async def test_submit_explains_a_zadig_failure_and_registers_nothing(
    rt, fake, form_tracker, dispatcher, reply, words
):
    fake.fail("POST", TASK_PATH, reply)
    tracker = form_tracker(service=["order-service"], environment="test")

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    # A trigger is never retried: a second POST could deploy twice.
    assert [(c.method, c.path) for c in fake.calls_to("POST")] == [("POST", TASK_PATH)]
    assert events == RESET
    [text] = texts(dispatcher)
    for word in words:
        assert word in text
    assert rt.store.pending() == []


async def test_submit_explains_an_unknown_workflow(rt, fake, form_tracker, dispatcher):
    fake.fail(
        "POST",
        TASK_PATH,
        httpx.Response(
            400,
            json={
                "type": "error",
                "message": "查询workflow失败",
                "code": 6542,
                "description": "mongo: no documents in result",
                "extra": {},
            },
        ),
    )
    tracker = form_tracker(service=["order-service"], environment="test")

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert len(fake.calls_to("POST")) == 1
    assert events == RESET
    assert rt.store.pending() == []
    [text] = texts(dispatcher)
    assert "查询workflow失败" in text
    assert [e.decision for e in rt.audit.events()] == ["trigger_failed"]


async def test_submit_timeout_does_not_claim_nothing_happened(rt, fake, form_tracker, dispatcher):
    fake.fail("POST", TASK_PATH, httpx.ReadTimeout("timed out"))
    tracker = form_tracker(service=["order-service"], environment="test")

    await ActionSubmitDeploy().run(dispatcher, tracker, {})

    [text] = texts(dispatcher)
    assert "什么都没有改变" not in text


async def test_submit_from_another_channel_is_refused_and_triggers_nothing(
    rt, fake, make_tracker, dispatcher
):
    # Metadata on any other channel is whatever the caller sent: not a member of anything.
    tracker = make_tracker(
        intent="inform",
        input_channel="rest",
        slots={"service": ["order-service"], "environment": "test"},
        active_loop="deploy_form",
    )

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert fake.calls == []
    assert events == RESET
    assert texts(dispatcher) == ["只有本企业的成员可以让我发布，你的账号不在机器人所在的组织里。"]
    assert rt.store.pending() == []


async def test_submit_by_someone_outside_the_organisation_is_refused(
    rt, fake, make_tracker, dispatcher
):
    tracker = make_tracker(
        intent="inform",
        external=True,
        slots={"service": ["order-service"], "environment": "dev"},
        active_loop="deploy_form",
    )

    await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert fake.calls == []
    assert "不在机器人所在的组织里" in texts(dispatcher)[0]
    [event] = rt.audit.events()
    assert (event.decision, event.environment) == ("refused", "dev")


async def test_submit_keeps_the_workflows_own_approval_job(rt, fake, form_tracker, dispatcher):
    fake.define_workflow(
        "mall-test",
        [("build", "zadig-build"), ("sign-off", "approval"), ("deploy", "zadig-deploy")],
    )

    await ActionSubmitDeploy().run(
        dispatcher, form_tracker(service=["order-service"], environment="test"), {}
    )

    [trigger] = fake.calls_to("POST")
    assert trigger.json["inputs"][-1] == {
        "job_name": "sign-off",
        "job_type": "approval",
        "parameters": {},
    }


async def test_submit_refuses_a_workflow_with_a_job_it_cannot_fill(
    rt, fake, form_tracker, dispatcher
):
    fake.define_workflow(
        "mall-test",
        [("build", "zadig-build"), ("scan", "zadig-scanning"), ("deploy", "zadig-deploy")],
    )

    events = await ActionSubmitDeploy().run(
        dispatcher, form_tracker(service=["order-service"], environment="test"), {}
    )

    assert fake.calls_to("POST") == []
    assert events == RESET
    assert "scan（zadig-scanning）" in texts(dispatcher)[0]


async def test_submit_never_sends_an_invalid_branch(rt, fake, form_tracker, dispatcher):
    tracker = form_tracker(service=["order-service"], environment="test", branch="feature x")

    await ActionSubmitDeploy().run(dispatcher, tracker, {})

    branches = [
        c.json["inputs"][0]["parameters"]["service_list"][0]["repo_info"][0]["branch"]
        for c in fake.calls_to("POST")
    ]
    assert "feature x" not in branches


async def test_submit_with_an_invalid_branch_deploys_the_default_branch(
    rt, fake, form_tracker, dispatcher
):
    tracker = form_tracker(service=["order-service"], environment="test", branch="feature x")

    await ActionSubmitDeploy().run(dispatcher, tracker, {})

    [trigger] = fake.calls_to("POST")
    build = trigger.json["inputs"][0]["parameters"]["service_list"][0]
    assert build["repo_info"][0]["branch"] == "test"  # catalog.yml: test's branch
    assert texts(dispatcher)[0] == "分支名 'feature x' 不合法，改用 test 的默认分支 test。"
    assert "已开始发布 order-service → test（分支 test）" in texts(dispatcher)[1]


async def test_several_services_go_in_one_task_with_one_plan(rt, fake, form_tracker, dispatcher):
    tracker = form_tracker(service=["order-service", "payment-service"], environment="test")

    await ActionSubmitDeploy().run(dispatcher, tracker, {})

    [trigger] = fake.calls_to("POST")
    build, deploy = trigger.json["inputs"]
    assert [s["service_name"] for s in build["parameters"]["service_list"]] == [
        "order-service",
        "payment-service",
    ]
    assert [s["service_name"] for s in deploy["parameters"]["service_list"]] == [
        "order-service",
        "payment-service",
    ]
    assert "已开始发布 order-service、payment-service → test" in texts(dispatcher)[0]
    assert rt.store.get("mall-test", 1).service == "order-service、payment-service"


async def test_an_approval_job_added_between_two_deploys_is_kept_by_the_second(
    rt, fake, form_tracker, dispatcher
):
    tracker = form_tracker(service=["order-service"], environment="test")
    await ActionSubmitDeploy().run(dispatcher, tracker, {})
    fake.define_workflow(
        "mall-test", [("build", "zadig-build"), ("ok", "approval"), ("deploy", "zadig-deploy")]
    )

    await ActionSubmitDeploy().run(dispatcher, tracker, {})

    first, second = fake.calls_to("POST")
    assert [i["job_type"] for i in first.json["inputs"]] == ["zadig-build", "zadig-deploy"]
    assert [i["job_type"] for i in second.json["inputs"]][-1] == "approval"
