"""Safe to hand production, through the real processes: deploy only what was asked, two-person
approval, who may do what, the audit trail in the chat, no open doors, honest failures."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.e2e.conftest import APPROVAL_TTL
from tests.e2e.helpers import collect, has, texts, triggers

pytestmark = pytest.mark.e2e


def request_number(messages) -> int:
    match = re.search(r"审批 #(\d+)", texts(messages))
    assert match, texts(messages)
    return int(match.group(1))


def ask_production(chat, sentence="把网关发到生产环境"):
    """The requester asks and confirms; returns the approval request's number."""
    chat.say(sentence)
    got = collect(chat, has("请确认"))
    assert has("mall-prod")(got), texts(got)
    chat.say("确认")
    got = collect(chat, has("审批 #"))
    assert has("批准前不会向 Zadig 发送任何请求")(got), texts(got)
    return request_number(got)


# -- deploy exactly what was asked --------------------------------------------------------------


@pytest.mark.parametrize("before", ["谢谢，网关那边没问题了", "不用发网关了"])
def test_values_from_other_messages_are_never_deployed(chat, zadig, before):
    chat.say(before)
    collect(chat, lambda m: len(m) >= 1)
    chat.say("发到测试环境")
    got = collect(chat, has("发布哪个服务"))
    assert has("发布哪个服务")(got), texts(got)
    assert not has("已开始发布")(got), texts(got)
    assert triggers(zadig, "mall-test") == []


def test_a_confirmation_of_a_changed_plan_is_shown_again(chat, zadig):
    chat.say("把订单服务发到生产环境")
    collect(chat, has("请确认"))
    chat.say("确认，发支付服务")
    got = collect(chat, has("请确认"))
    assert has("- 服务：payment-service")(got), texts(got)
    assert not has("审批 #")(got), texts(got)
    chat.say("确认")
    got = collect(chat, has("审批 #"))
    assert has("- 服务：payment-service")(got), texts(got)
    assert triggers(zadig, "mall-prod") == []


# -- two-person approval ------------------------------------------------------------------------


def test_a_release_manager_approves_and_the_history_names_both(chat, zadig, colleague):
    number = ask_production(chat)
    assert triggers(zadig, "mall-prod") == []
    lead = colleague("lead01", "李四")
    lead.say(f"批准 {number}")
    got = collect(chat, has("已开始发布"))
    assert has(f"李四 批准了审批 #{number}（{chat.nick} 申请）")(got), texts(got)
    assert len(triggers(zadig, "mall-prod")) == 1
    collect(chat, has("发布成功"))
    chat.say("今天谁发了生产")
    got = collect(chat, has("发布记录"))
    assert has(f"gateway → prod（master）：{chat.nick} 申请，李四 批准，成功")(got), texts(got)


def test_self_approval_and_outsiders_are_refused(chat, zadig, colleague):
    number = ask_production(chat)
    chat.say(f"批准 {number}")  # the requester is not a release manager
    got = collect(chat, has("release-managers"))
    assert has("需要 release-managers")(got), texts(got)
    colleague("someone", "外部顾问", external=True).say(f"批准 {number}")
    got = collect(chat, has("不在机器人所在的组织里"))
    assert has("不在机器人所在的组织里")(got), texts(got)
    time.sleep(1)
    assert triggers(zadig, "mall-prod") == []


def test_a_release_manager_cannot_approve_their_own_request(chat, zadig, colleague, stack):
    lead = colleague("lead02", "赵六")
    lead.say("把网关发到生产环境")
    collect(chat, has("请确认"))
    lead.say("确认")
    number = request_number(collect(chat, has("审批 #")))
    lead.say(f"批准 {number}")
    got = collect(chat, has("不能批准或驳回自己的申请"))
    assert has("请 @lead01 批准")(got), texts(got)
    assert triggers(zadig, "mall-prod") == []


def test_a_rejection_tells_the_requester(chat, zadig, colleague):
    number = ask_production(chat)
    colleague("lead01", "李四").say(f"驳回 {number} 今天封网")
    got = collect(chat, has("驳回了审批"))
    assert has(f"李四 驳回了审批 #{number}")(got) and has("今天封网")(got), texts(got)
    rejected = next(m for m in got if "驳回了审批" in str(m["text"]))
    assert chat.user in rejected["at_user_ids"], rejected
    assert triggers(zadig, "mall-prod") == []


def test_an_undecided_request_expires_and_says_so(chat, zadig, colleague):
    number = ask_production(chat)
    got = collect(chat, has("已过期"), timeout=APPROVAL_TTL + 20)
    assert has(f"审批 #{number}")(got) and has("已过期，没有发布")(got), texts(got)
    colleague("lead01", "李四").say(f"批准 {number}")
    got = collect(chat, has("不能再批准"))
    assert has("已过期")(got), texts(got)
    assert triggers(zadig, "mall-prod") == []


# -- who may do what ----------------------------------------------------------------------------


def test_someone_else_cannot_cancel_a_production_task(chat, zadig, colleague):
    zadig.post("/_sim/config", json={"running_seconds": 30})
    number = ask_production(chat)
    colleague("lead01", "李四").say(f"批准 {number}")
    started = collect(chat, has("已开始发布"))
    task_id = int(re.search(r"mall-prod #(\d+)", texts(started)).group(1))
    colleague("staff-bob", "Bob").say(f"取消生产环境的任务 {task_id}")
    got = collect(chat, has("取消发布需要"))
    assert has("可以 @lead01 @lead02")(got), texts(got)
    deletes = [r for r in zadig.get("/_sim/requests").json() if r["method"] == "DELETE"]
    assert deletes == []


def test_someone_outside_the_organisation_cannot_deploy(chat, zadig, colleague):
    colleague("someone", "外部顾问", external=True).say("把订单服务发到开发环境")
    got = collect(chat, has("不在机器人所在的组织里"))
    assert has("只有本企业的成员可以让我发布")(got), texts(got)
    time.sleep(1)
    assert triggers(zadig, "mall-dev") == []


# -- no open doors ------------------------------------------------------------------------------


def test_there_is_no_rest_channel(stack, zadig):
    for sender in ("anonymous", "cid-e2e:staff1"):
        answer = httpx.post(
            f"{stack.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": "把订单服务发到生产环境"},
        )
        assert answer.status_code == 404
    assert triggers(zadig, "mall-prod") == []


def test_the_action_server_refuses_anonymous_calls(stack, zadig):
    call = {
        "next_action": "action_submit_deploy",
        "sender_id": "attacker",
        "tracker": {
            "sender_id": "attacker",
            "slots": {"service": ["order-service"], "environment": "prod", "confirmed": True},
            "latest_message": {"text": "", "intent": {}, "entities": []},
            "events": [],
        },
        "domain": {},
        "version": "3.6.21",
    }
    url = f"http://127.0.0.1:{stack.ports.actions}/webhook"
    assert httpx.post(url, json=call).status_code == 401
    assert httpx.post(url, json=call, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert triggers(zadig, "mall-prod") == []


def test_no_credential_in_any_log(chat, zadig, stack):
    chat.say("把订单服务发到测试环境")
    collect(chat, has("发布成功"))
    secrets = [stack.app_secret, "demo-zadig-token", stack.bot_env()["ACTION_SERVER_TOKEN"]]
    for log in stack.log_dir.glob("*.log"):
        text = log.read_text(encoding="utf-8", errors="replace")
        assert "session=" not in text or "session=***" in text, log
        assert not re.search(r"session=(?!\*\*\*)", text), log
        for secret in secrets:
            assert secret not in text, (log, secret)


# -- honest failures ----------------------------------------------------------------------------


def test_the_action_server_down_gets_an_honest_answer(chat, zadig, stack):
    actions = stack.process("actions")
    actions.stop()
    try:
        chat.say("把订单服务发到测试环境")
        got = collect(chat, has("没有处理完"), timeout=30)
        assert has("刚才的发布怎么样了")(got), texts(got)
        assert not has("没有向 Zadig 发送任何请求")(got), texts(got)
    finally:
        actions.start()
