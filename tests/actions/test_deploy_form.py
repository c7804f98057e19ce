"""The deploy form: slot validation, what a deploy may be built from, the questions it asks."""

from __future__ import annotations

import httpx
import pytest
from rasa_sdk.events import ActiveLoop, SlotSet

from actions.deploy import (
    ActionAskConfirmed,
    ActionAskEnvironment,
    ActionAskService,
    ActionStopDeploy,
    ValidateDeployForm,
)
from chatops.plans import fingerprint
from tests.actions.conftest import RESET, texts
from tests.fakes.zadig import add_deploy_task

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


def final(events):
    """The slot values after applying ``events`` in order (the last SlotSet of a slot wins)."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


# -- ValidateDeployForm: slots ------------------------------------------------------------


@pytest.mark.parametrize(
    "said, canonical",
    [
        ("订单服务", "order-service"),
        ("order-service", "order-service"),
        ("Order-Service", "order-service"),
        ("网关", ["gateway"]),
        (["支付服务", "订单服务", "payment-service"], ["payment-service", "order-service"]),
    ],
)
async def test_validate_service_maps_names_and_aliases_to_the_catalog_names(
    rt, form_tracker, dispatcher, said, canonical
):
    result = await ValidateDeployForm().validate_service(said, dispatcher, form_tracker(), {})

    assert result == {"service": canonical if isinstance(canonical, list) else [canonical]}
    assert dispatcher.messages == []


async def test_validate_service_rejects_a_misspelling_and_suggests_the_close_name(
    rt, form_tracker, dispatcher
):
    result = await ValidateDeployForm().validate_service(
        "ordr-service", dispatcher, form_tracker(), {}
    )

    # The single close name is kept as the offer a plain "是" takes.
    assert result == {"service": None, "suggested_service": "order-service"}
    [text] = texts(dispatcher)
    assert "没有找到 ordr-service" in text
    assert "order-service" in text


async def test_no_offer_a_yes_could_take_when_several_services_were_named(
    rt, form_tracker, dispatcher
):
    result = await ValidateDeployForm().validate_service(
        ["order-service", "ordr-servce"], dispatcher, form_tracker(), {}
    )

    # "是" would make the offer the whole answer and silently drop order-service.
    assert result == {"service": None}
    assert "是要 order-service 吗" in texts(dispatcher)[0]


async def test_two_environments_at_once_clear_an_earlier_offer(rt, form_tracker, dispatcher):
    tracker = form_tracker(suggested_environment="prod")

    result = await ValidateDeployForm().validate_environment(
        ["test", "uat"], dispatcher, tracker, {}
    )

    assert result == {"environment": None, "suggested_environment": None}


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
async def test_validate_environment_maps_aliases_to_the_key(
    rt, form_tracker, dispatcher, said, key
):
    tracker = form_tracker(environment=said)

    result = await ValidateDeployForm().validate_environment(said, dispatcher, tracker, {})

    assert result == {"environment": key}
    assert dispatcher.messages == []


async def test_validate_environment_asks_when_two_environments_are_named(
    rt, form_tracker, dispatcher
):
    result = await ValidateDeployForm().validate_environment(
        ["测试", "生产"], dispatcher, form_tracker(), {}
    )

    assert result == {"environment": None}
    assert texts(dispatcher) == ["一次只能发到一个环境（你提到了 test / prod），发到哪个？"]


async def test_validate_environment_rejects_an_unknown_environment(rt, form_tracker, dispatcher):
    result = await ValidateDeployForm().validate_environment("火星", dispatcher, form_tracker(), {})

    assert result == {"environment": None}
    assert texts(dispatcher) == ["没有 火星 这个环境。"]


async def test_validate_environment_suggests_the_close_key(rt, form_tracker, dispatcher):
    result = await ValidateDeployForm().validate_environment("prd", dispatcher, form_tracker(), {})

    assert result == {"environment": None, "suggested_environment": "prod"}
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


def candidates(make_tracker, *, before=None, starting=False, intent="deploy", **slots):
    """A tracker as Rasa sends it to validate_deploy_form: the slots set before this message
    (``before``), then this message's candidates. ``starting``: the form is being activated."""
    before = before or {}
    events = [
        *({"event": "slot", "name": k, "value": v} for k, v in before.items()),
        {"event": "user", "text": "…", "parse_data": {}, "input_channel": "dingtalk"},
        *({"event": "slot", "name": k, "value": v} for k, v in slots.items()),
    ]
    tracker = make_tracker(
        intent=intent,
        slots={**before, **slots},
        active_loop=None if starting else "deploy_form",
        events=events,
    )
    tracker.events = events  # exactly these: the candidates follow the latest user message
    return tracker


async def test_form_run_completes_a_test_deploy_without_asking_for_confirmation(
    rt, make_tracker, dispatcher, domain
):
    tracker = candidates(make_tracker, service="订单服务", environment="测试环境")

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    assert events == [
        SlotSet("service", ["order-service"]),
        SlotSet("environment", "test"),
        SlotSet("requested_slot", None),
    ]
    assert dispatcher.messages == []


async def test_form_run_leaves_the_production_confirmation_to_be_asked(
    rt, make_tracker, dispatcher, domain
):
    tracker = candidates(make_tracker, service="订单服务", environment="线上")

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    # No requested_slot=None: the form stays open and asks `confirmed` next.
    assert events == [SlotSet("service", ["order-service"]), SlotSet("environment", "prod")]


async def test_form_run_asks_again_for_an_unknown_service(rt, make_tracker, dispatcher, domain):
    tracker = candidates(make_tracker, service="ordr-service", environment="test")

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    assert events == [
        SlotSet("service", None),
        SlotSet("environment", "test"),
        SlotSet("suggested_service", "order-service"),
        SlotSet("requested_slot", "service"),
    ]
    assert "没有找到 ordr-service" in texts(dispatcher)[0]


def answered(make_tracker, intent, entities=(), **slots):
    """A tracker as Rasa sends it to validate_deploy_form after an answer with no candidates."""
    tracker = make_tracker(
        intent=intent, entities=list(entities), slots=slots, active_loop="deploy_form"
    )
    tracker.events = [
        {"event": "user", "text": "是", "parse_data": {}, "input_channel": "dingtalk"}
    ]
    return tracker


async def test_a_plain_yes_takes_the_single_service_offered(rt, make_tracker, dispatcher, domain):
    tracker = answered(
        make_tracker,
        "affirm",
        suggested_service="order-service",
        environment="test",
        requested_slot="service",
    )

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    assert final(events)["service"] == ["order-service"]
    assert final(events)["suggested_service"] is None  # spent
    assert dispatcher.messages == []


async def test_a_plain_yes_takes_the_single_environment_offered(
    rt, make_tracker, dispatcher, domain
):
    tracker = answered(
        make_tracker,
        "affirm",
        service=["order-service"],
        suggested_environment="uat",
        requested_slot="environment",
    )

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    assert final(events)["environment"] == "uat"
    assert final(events)["suggested_environment"] is None


@pytest.mark.parametrize(
    "intent, entities, requested",
    [
        ("deny", [], "service"),  # "不是"
        ("affirm", [{"entity": "service", "value": "gateway"}], "service"),  # "对，发网关"
        ("affirm", [], "environment"),  # the question is about another slot now
    ],
)
async def test_an_offer_is_taken_only_by_a_plain_yes_to_its_question(
    rt, make_tracker, dispatcher, domain, intent, entities, requested
):
    tracker = answered(
        make_tracker,
        intent,
        entities,
        suggested_service="order-service",
        requested_slot=requested,
    )

    extracted = await ValidateDeployForm().extract_service(dispatcher, tracker, domain)

    assert extracted == {}


async def test_asking_again_after_an_offer_does_not_repeat_the_whole_list(
    rt, make_tracker, dispatcher
):
    tracker = make_tracker(
        intent="deploy", slots={"suggested_service": "payment-service"}, active_loop="deploy_form"
    )

    await ActionAskService().run(dispatcher, tracker, {})

    [message] = dispatcher.messages
    assert message["text"] == "回复“是”就用 payment-service，或者点下面选别的。"
    assert message["buttons"][0]["payload"].endswith("payment-service")


async def test_form_run_validates_a_branch_given_with_the_request(
    rt, make_tracker, dispatcher, domain
):
    tracker = candidates(
        make_tracker, service="订单服务", environment="测试环境", branch="feature x"
    )

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    assert SlotSet("branch", None) in events
    assert any("不合法" in t for t in texts(dispatcher))


# -- what a deploy may be built from ---------------------------------------------------------


async def test_a_new_request_drops_what_earlier_messages_left_behind(
    rt, make_tracker, dispatcher, domain
):
    # "谢谢，网关那边没问题了" once left service=gateway; "发到测试环境" must not deploy it.
    tracker = candidates(
        make_tracker, before={"service": ["gateway"]}, starting=True, environment="测试环境"
    )

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    assert SlotSet("service", None) in events
    assert events[-1] == SlotSet("requested_slot", "service")


async def test_a_confirmation_of_a_changed_plan_shows_the_new_plan_again(
    rt, make_tracker, dispatcher, domain
):
    # Asked to confirm order-service -> prod, the user answers "确认，发支付服务".
    shown = fingerprint(rt.catalog.plan("order-service", "prod"))
    before = {
        "service": ["order-service"],
        "environment": "prod",
        "plan_shown": shown,
        "requested_slot": "confirmed",
    }
    tracker = candidates(
        make_tracker, before=before, intent="affirm", service=["支付服务"], confirmed=True
    )

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    # Production: Rasa's form asks the next empty slot itself, which is `confirmed` again.
    assert final(events) == {"service": ["payment-service"], "confirmed": None}


async def test_a_confirmation_of_the_plan_shown_completes_the_form(
    rt, make_tracker, dispatcher, domain
):
    shown = fingerprint(rt.catalog.plan("order-service", "prod"))
    before = {
        "service": ["order-service"],
        "environment": "prod",
        "plan_shown": shown,
        "requested_slot": "confirmed",
    }
    tracker = candidates(make_tracker, before=before, intent="affirm", confirmed=True)

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    assert final(events) == {"confirmed": True}


async def test_a_confirmation_without_a_plan_shown_is_not_a_confirmation(
    rt, make_tracker, dispatcher, domain
):
    before = {"service": ["order-service"], "environment": "prod", "requested_slot": "confirmed"}
    tracker = candidates(make_tracker, before=before, intent="affirm", confirmed=True)

    events = await ValidateDeployForm().run(dispatcher, tracker, domain)

    assert final(events) == {"confirmed": None}


async def test_someone_outside_the_organisation_is_asked_nothing(
    rt, make_tracker, dispatcher, domain
):
    tracker = make_tracker(intent="deploy", external=True, slots={"environment": "prod"})

    slots = await ValidateDeployForm().required_slots(
        ["service", "environment", "confirmed"], dispatcher, tracker, domain
    )

    assert slots == []


async def test_metadata_from_another_channel_is_not_believed(rt, make_tracker, dispatcher, domain):
    # A caller of some other channel can send any metadata: it does not make them a member.
    tracker = make_tracker(intent="deploy", input_channel="rest", slots={"environment": "test"})

    slots = await ValidateDeployForm().required_slots(
        ["service", "environment", "confirmed"], dispatcher, tracker, domain
    )

    assert slots == []


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

    assert events == [SlotSet("plan_shown", fingerprint(rt.catalog.plan("order-service", "prod")))]
    [message] = dispatcher.messages
    text = message["text"]
    assert "生产环境" in text
    assert "- 服务：order-service\n" in text
    assert "- 环境：prod（生产）\n" in text
    assert "- 工作流：mall-prod\n" in text
    assert "- 分支：master\n" in text
    assert "回复“确认”提交审批（批准后才会开始发布）" in text
    assert [b["payload"] for b in message["buttons"]] == ["确认", "不发了"]


async def test_ask_confirmed_shows_the_named_branch(rt, form_tracker, dispatcher):
    tracker = form_tracker(service="gateway", environment="prod", branch="release/2.3")

    await ActionAskConfirmed().run(dispatcher, tracker, {})

    text = texts(dispatcher)[0]
    assert "- 服务：gateway\n" in text
    assert "- 分支：release/2.3\n" in text
    assert "master" not in text


async def test_ask_confirmed_shows_what_runs_in_production_now_next_to_what_comes(
    rt, fake, form_tracker, dispatcher
):
    add_deploy_task(
        fake,
        "mall-prod",
        41,
        {"order-service": "harbor.example.com/mall/order-service:20261129-41"},
        env="prod",
        end_time=1764400000,  # 2025-11-29 15:06 in Asia/Shanghai
        creator="wangwu",
    )
    tracker = form_tracker(service=["order-service", "payment-service"], environment="prod")

    await ActionAskConfirmed().run(dispatcher, tracker, {})

    text = texts(dispatcher)[0]
    assert (
        "- 现在运行：\n"
        "  - order-service：20261129-41（mall-prod #41，wangwu，11-29 15:06）\n"
        "  - payment-service：没有找到部署记录\n"
        "- 将发布：分支 master 的新构建\n"
    ) in text
    assert fake.writes == []


async def test_ask_confirmed_still_asks_when_zadig_cannot_say_what_runs(
    rt, fake, form_tracker, dispatcher
):
    fake.fail("GET", "*", httpx.ConnectError("connection refused"))
    tracker = form_tracker(service="order-service", environment="prod")

    events = await ActionAskConfirmed().run(dispatcher, tracker, {})

    assert "- 现在运行：查不到（Zadig 暂时读不到任务记录）\n" in texts(dispatcher)[0]
    assert events == [SlotSet("plan_shown", fingerprint(rt.catalog.plan("order-service", "prod")))]


# -- ActionStopDeploy ---------------------------------------------------------------------


async def test_stop_deploy_closes_the_form_and_forgets_its_answers(
    rt, fake, form_tracker, dispatcher
):
    tracker = form_tracker(service="order-service", environment="prod", requested_slot="confirmed")

    events = await ActionStopDeploy().run(dispatcher, tracker, {})

    assert events == [ActiveLoop(None), *RESET, SlotSet("requested_slot", None)]
    assert dispatcher.messages == []
    assert fake.calls == []
