"""The deploy form: slot validation, the questions it asks, and the trigger it sends to Zadig."""

from __future__ import annotations

import httpx
import pytest
from rasa_sdk.events import ActiveLoop, SlotSet

from actions.deploy import (
    ActionAskConfirmed,
    ActionAskEnvironment,
    ActionAskService,
    ActionStopDeploy,
    ActionSubmitDeploy,
    ValidateDeployForm,
)

TASK_PATH = "/openapi/workflows/custom/task"
LINK_46 = (
    "http://127.0.0.1:7070/v1/projects/detail/mall/pipelines/custom/mall-test/46"
    "?display_name=mall-test"
)
# ReplyTarget.to_dict() of user u1 in group cid1, as connectors/dingtalk.py attaches it.
TARGET = {
    "conversation_id": "cid1",
    "is_group": True,
    "user_id": "u1",
    "session_webhook": "http://127.0.0.1:7080/robot/sendBySession?session=s1",
    "session_webhook_expires_ms": 4102444800000,
    "robot_code": "demo-app-key",
}
GROUP = {"conversation_id": "cid1", "user_id": "u1", "is_group": True, "target": TARGET}
RESET = [
    SlotSet("service", None),
    SlotSet("environment", None),
    SlotSet("branch", None),
    SlotSet("confirmed", None),
]
ALL_SERVICES = [
    "user-service",
    "order-service",
    "payment-service",
    "inventory-service",
    "notification-service",
    "auth-service",
    "gateway",
    "web-frontend",
]


def texts(dispatcher):
    return [m["text"] for m in dispatcher.messages]


def responses(dispatcher):
    """The domain responses sent by name (fixed sentences live in domain.yml)."""
    return [m["response"] for m in dispatcher.messages]


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


@pytest.fixture
def form_tracker(make_tracker):
    def build(**slots):
        return make_tracker(intent="inform", slots=slots, active_loop="deploy_form", dingtalk=GROUP)

    return build


# -- ValidateDeployForm: slots ------------------------------------------------------------


@pytest.mark.parametrize(
    "said, canonical",
    [
        ("订单服务", "order-service"),
        ("order-service", "order-service"),
        ("Order-Service", "order-service"),
        ("网关", "gateway"),
        (["支付服务", "订单服务"], "payment-service"),
    ],
)
async def test_validate_service_maps_names_and_aliases_to_the_catalog_name(
    rt, form_tracker, dispatcher, said, canonical
):
    result = await ValidateDeployForm().validate_service(said, dispatcher, form_tracker(), {})

    assert result == {"service": canonical}
    assert dispatcher.messages == []


async def test_validate_service_rejects_a_misspelling_and_suggests_the_close_name(
    rt, form_tracker, dispatcher
):
    result = await ValidateDeployForm().validate_service(
        "ordr-service", dispatcher, form_tracker(), {}
    )

    assert result == {"service": None}
    [text] = texts(dispatcher)
    assert "没有找到 ordr-service" in text
    assert "order-service" in text


async def test_validate_service_rejects_an_unknown_name_without_a_suggestion(
    rt, form_tracker, dispatcher
):
    result = await ValidateDeployForm().validate_service("kafka", dispatcher, form_tracker(), {})

    assert result == {"service": None}
    assert texts(dispatcher) == ["没有找到 kafka。"]


@pytest.mark.parametrize(
    "said, key",
    [
        ("测试环境", "test"),
        ("测试", "test"),
        ("QA", "test"),
        ("qa", "test"),
        ("线上", "prod"),
        ("生产环境", "prod"),
        ("staging", "uat"),
        ("dev", "dev"),
    ],
)
async def test_validate_environment_maps_aliases_to_the_key_and_drops_an_old_confirmation(
    rt, form_tracker, dispatcher, said, key
):
    tracker = form_tracker(environment=said, confirmed=True)

    result = await ValidateDeployForm().validate_environment(said, dispatcher, tracker, {})

    assert result == {"environment": key, "confirmed": None}
    assert dispatcher.messages == []


async def test_validate_environment_rejects_an_unknown_environment(rt, form_tracker, dispatcher):
    result = await ValidateDeployForm().validate_environment("火星", dispatcher, form_tracker(), {})

    assert result == {"environment": None}
    assert texts(dispatcher) == ["没有 火星 这个环境。"]


async def test_validate_environment_suggests_the_close_key(rt, form_tracker, dispatcher):
    result = await ValidateDeployForm().validate_environment("prd", dispatcher, form_tracker(), {})

    assert result == {"environment": None}
    [text] = texts(dispatcher)
    assert "没有 prd 这个环境" in text and "prod" in text


@pytest.mark.parametrize("branch", ["master", "release/2.3", "feature/pay-v2", "hotfix-1024"])
async def test_validate_branch_accepts_a_git_branch_name(rt, form_tracker, dispatcher, branch):
    result = await ValidateDeployForm().validate_branch(branch, dispatcher, form_tracker(), {})

    assert result == {"branch": branch}
    assert dispatcher.messages == []


@pytest.mark.parametrize("branch", ["feature x", "--upload-pack=x"])
async def test_validate_branch_rejects_spaces_and_option_like_names(
    rt, form_tracker, dispatcher, branch
):
    result = await ValidateDeployForm().validate_branch(branch, dispatcher, form_tracker(), {})

    assert result == {"branch": None}
    [text] = texts(dispatcher)
    assert "不合法" in text and "默认分支" in text


@pytest.mark.parametrize("value, kept", [(True, True), (False, None), ("确认", None)])
async def test_validate_confirmed_only_keeps_an_explicit_yes(
    rt, form_tracker, dispatcher, value, kept
):
    result = await ValidateDeployForm().validate_confirmed(value, dispatcher, form_tracker(), {})

    assert result == {"confirmed": kept}


@pytest.mark.parametrize(
    "environment, required",
    [
        ("prod", ["service", "environment", "confirmed"]),
        ("线上", ["service", "environment", "confirmed"]),
        ("test", ["service", "environment"]),
        ("dev", ["service", "environment"]),
        (None, ["service", "environment"]),
    ],
)
async def test_required_slots_ask_for_confirmation_only_in_production(
    rt, form_tracker, dispatcher, environment, required
):
    tracker = form_tracker(environment=environment)

    slots = await ValidateDeployForm().required_slots(
        ["service", "environment", "confirmed"], dispatcher, tracker, {}
    )

    assert slots == required


# -- ValidateDeployForm.run: what the action server answers the form ------------------------


def candidates(make_tracker, **slots):
    """A tracker as Rasa sends it to validate_deploy_form: slot candidates at the end."""
    events = [
        {"event": "user", "text": "…", "parse_data": {}},
        *({"event": "slot", "name": k, "value": v} for k, v in slots.items()),
    ]
    return make_tracker(
        intent="deploy", slots=slots, active_loop="deploy_form", events=events, dingtalk=GROUP
    )


async def test_form_run_completes_a_test_deploy_without_asking_for_confirmation(
    rt, make_tracker, dispatcher, domain
):
    tracker = candidates(make_tracker, service="订单服务", environment="测试环境")

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    assert events == [
        SlotSet("service", "order-service"),
        SlotSet("environment", "test"),
        SlotSet("confirmed", None),
        SlotSet("requested_slot", None),
    ]
    assert dispatcher.messages == []


async def test_form_run_leaves_the_production_confirmation_to_be_asked(
    rt, make_tracker, dispatcher, domain
):
    tracker = candidates(make_tracker, service="订单服务", environment="线上")

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    # No requested_slot=None: the form stays open and asks `confirmed` next.
    assert events == [
        SlotSet("service", "order-service"),
        SlotSet("environment", "prod"),
        SlotSet("confirmed", None),
    ]


async def test_form_run_asks_again_for_an_unknown_service(rt, make_tracker, dispatcher, domain):
    tracker = candidates(make_tracker, service="ordr-service", environment="test")

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    assert events == [
        SlotSet("service", None),
        SlotSet("environment", "test"),
        SlotSet("confirmed", None),
        SlotSet("requested_slot", "service"),
    ]
    assert "没有找到 ordr-service" in texts(dispatcher)[0]


async def test_form_run_validates_a_branch_given_with_the_request(
    rt, make_tracker, dispatcher, domain
):
    tracker = candidates(
        make_tracker, service="订单服务", environment="测试环境", branch="feature x"
    )

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    assert SlotSet("branch", None) in events
    assert any("不合法" in t for t in texts(dispatcher))


# -- the questions ------------------------------------------------------------------------


async def test_ask_service_offers_every_catalog_service(rt, form_tracker, dispatcher):
    events = await ActionAskService().run(dispatcher, form_tracker(), {})

    assert events == []
    [message] = dispatcher.messages
    assert message["text"].startswith(
        "发布哪个服务？可选：user-service（用户服务） / order-service（订单服务） / "
    )
    assert [b["payload"] for b in message["buttons"]] == ALL_SERVICES
    assert message["buttons"][1] == {
        "title": "order-service（订单服务）",
        "payload": "order-service",
    }


async def test_ask_environment_offers_every_environment_with_its_label(
    rt, form_tracker, dispatcher
):
    events = await ActionAskEnvironment().run(dispatcher, form_tracker(service="order-service"), {})

    assert events == []
    [message] = dispatcher.messages
    assert message["text"] == (
        "发布到哪个环境？可选：dev（开发） / test（测试） / uat（预发） / prod（生产）"
    )
    assert message["buttons"] == [
        {"title": "dev（开发）", "payload": "dev"},
        {"title": "test（测试）", "payload": "test"},
        {"title": "uat（预发）", "payload": "uat"},
        {"title": "prod（生产）", "payload": "prod"},
    ]


async def test_ask_confirmed_summarises_the_production_deploy_with_the_default_branch(
    rt, form_tracker, dispatcher
):
    tracker = form_tracker(service="order-service", environment="prod")

    events = await ActionAskConfirmed().run(dispatcher, tracker, {})

    assert events == []
    [message] = dispatcher.messages
    text = message["text"]
    assert "生产环境" in text
    assert "- 服务：order-service\n" in text
    assert "- 环境：prod（生产）\n" in text
    assert "- 工作流：mall-prod\n" in text
    assert "- 分支：master\n" in text
    assert [b["payload"] for b in message["buttons"]] == ["确认", "不发了"]


async def test_ask_confirmed_shows_the_named_branch(rt, form_tracker, dispatcher):
    tracker = form_tracker(service="gateway", environment="prod", branch="release/2.3")

    await ActionAskConfirmed().run(dispatcher, tracker, {})

    text = texts(dispatcher)[0]
    assert "- 服务：gateway\n" in text
    assert "- 分支：release/2.3\n" in text
    assert "master" not in text


# -- ActionSubmitDeploy -------------------------------------------------------------------


async def test_submit_triggers_exactly_one_build_and_deploy_and_registers_the_followup(
    rt, fake, form_tracker, dispatcher
):
    fake.next_id["mall-test"] = 46
    tracker = form_tracker(service="order-service", environment="test")

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert [(c.method, c.path) for c in fake.calls] == [("POST", TASK_PATH)]
    assert fake.calls[0].params == {}
    assert fake.calls[0].json == deploy_body("order-service", "test", "test")
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
    assert followup.target == TARGET
    assert followup.state == "pending"


async def test_submit_uses_the_named_branch(rt, fake, form_tracker, dispatcher):
    tracker = form_tracker(service="payment-service", environment="uat", branch="release/2.3")

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert [c.json for c in fake.calls] == [deploy_body("payment-service", "uat", "release/2.3")]
    assert events == [*RESET, SlotSet("last_task", "mall-uat#1")]
    assert "（分支 release/2.3）" in texts(dispatcher)[0]


async def test_submit_stops_an_unconfirmed_production_deploy_without_calling_zadig(
    rt, fake, form_tracker, dispatcher
):
    tracker = form_tracker(service="order-service", environment="prod", confirmed=None)

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert fake.calls == []
    assert events == RESET
    assert [m["response"] for m in dispatcher.messages] == ["utter_deploy_stopped"]
    assert rt.store.pending() == []


async def test_submit_triggers_a_confirmed_production_deploy_on_master(
    rt, fake, form_tracker, dispatcher
):
    fake.next_id["mall-prod"] = 12
    tracker = form_tracker(service="order-service", environment="prod", confirmed=True)

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert [c.json for c in fake.calls] == [deploy_body("order-service", "prod", "master")]
    assert events == [*RESET, SlotSet("last_task", "mall-prod#12")]
    assert rt.store.get("mall-prod", 12) is not None


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
    tracker = form_tracker(service="order-service", environment="test")

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    # A trigger is never retried: a second POST could deploy twice.
    assert [(c.method, c.path) for c in fake.calls] == [("POST", TASK_PATH)]
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
    tracker = form_tracker(service="order-service", environment="test")

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert len(fake.calls) == 1
    assert events == RESET
    assert rt.store.pending() == []
    [text] = texts(dispatcher)
    assert "查询workflow失败" in text


async def test_submit_timeout_does_not_claim_nothing_happened(rt, fake, form_tracker, dispatcher):
    fake.fail("POST", TASK_PATH, httpx.ReadTimeout("timed out"))
    tracker = form_tracker(service="order-service", environment="test")

    await ActionSubmitDeploy().run(dispatcher, tracker, {})

    [text] = texts(dispatcher)
    assert "什么都没有改变" not in text


async def test_submit_outside_dingtalk_still_triggers_but_promises_no_notification(
    rt, fake, make_tracker, dispatcher
):
    tracker = make_tracker(
        intent="inform",
        sender_id="rest-user",
        dingtalk=None,
        slots={"service": "order-service", "environment": "test"},
        active_loop="deploy_form",
    )

    events = await ActionSubmitDeploy().run(dispatcher, tracker, {})

    assert [c.json for c in fake.calls] == [deploy_body("order-service", "test", "test")]
    assert events == [*RESET, SlotSet("last_task", "mall-test#1")]
    [text] = texts(dispatcher)
    assert "这个渠道收不到自动通知" in text
    assert "任务结束后我会在这里告诉你结果" not in text
    followup = rt.store.get("mall-test", 1)
    assert (followup.target, followup.conversation_id, followup.sender_id) == (
        None,
        "rest-user",
        "rest-user",
    )


async def test_submit_never_sends_an_invalid_branch(rt, fake, form_tracker, dispatcher):
    tracker = form_tracker(service="order-service", environment="test", branch="feature x")

    await ActionSubmitDeploy().run(dispatcher, tracker, {})

    branches = [
        c.json["inputs"][0]["parameters"]["service_list"][0]["repo_info"][0]["branch"]
        for c in fake.calls_to("POST")
    ]
    assert "feature x" not in branches


async def test_submit_with_an_invalid_branch_deploys_the_default_branch(
    rt, fake, form_tracker, dispatcher
):
    tracker = form_tracker(service="order-service", environment="test", branch="feature x")

    await ActionSubmitDeploy().run(dispatcher, tracker, {})

    [trigger] = fake.calls_to("POST")
    build = trigger.json["inputs"][0]["parameters"]["service_list"][0]
    assert build["repo_info"][0]["branch"] == "test"  # catalog.yml: test's branch
    assert texts(dispatcher)[0] == "分支名 'feature x' 不合法，改用 test 的默认分支 test。"
    assert "已开始发布 order-service → test（分支 test）" in texts(dispatcher)[1]


# -- ActionStopDeploy ---------------------------------------------------------------------


async def test_stop_deploy_closes_the_form_and_forgets_its_answers(
    rt, fake, form_tracker, dispatcher
):
    tracker = form_tracker(service="order-service", environment="prod", requested_slot="confirmed")

    events = await ActionStopDeploy().run(dispatcher, tracker, {})

    assert events == [ActiveLoop(None), *RESET, SlotSet("requested_slot", None)]
    assert dispatcher.messages == []
    assert fake.calls == []
