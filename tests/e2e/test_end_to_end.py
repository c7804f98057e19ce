"""Whole conversations through real processes on loopback, as a DingTalk group would have them."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from devstack.stack import ChatClient
from tests.e2e.helpers import collect, has, texts, triggers

pytestmark = pytest.mark.e2e


def test_one_shot_deploy_and_its_unprompted_result(chat, zadig):
    answer = chat.say("把订单服务发到测试环境")
    assert answer["status"] == 200
    got = collect(chat, has("发布成功"))
    assert has("已开始发布 order-service → test")(got), texts(got)
    assert has("发布成功")(got), texts(got)
    result = next(m for m in got if "发布成功" in str(m["text"]))
    assert result["at_user_ids"] == [chat.user]  # the requester is @-mentioned in the group
    sent = triggers(zadig, "mall-test")
    assert len(sent) == 1
    inputs = {job["job_name"]: job for job in sent[0]["json"]["inputs"]}
    assert set(inputs) == {"build", "deploy"}  # a deploy that builds nothing is impossible
    assert inputs["build"]["parameters"]["service_list"][0]["repo_info"][0]["branch"] == "test"
    assert inputs["deploy"]["parameters"]["env_name"] == "test"
    # exactly once: polling and Zadig's webhook both saw the end. The follow-up worker runs a
    # round every second, so a second path posting the same result would have done so within
    # two rounds.
    time.sleep(2)
    later = chat.messages()
    assert not has("发布成功")(later), texts(later)


def test_clarifying_questions(chat, zadig):
    chat.say("发布一下")
    assert has("发布哪个服务")(collect(chat, has("发布哪个服务")))
    chat.say("网关")
    got = collect(chat, has("发布到哪个环境"))
    assert has("dev（开发）")(got), texts(got)
    chat.say("测试")
    got = collect(chat, has("已开始发布"))
    assert has("gateway → test")(got), texts(got)
    assert len(triggers(zadig, "mall-test")) == 1


def test_an_unknown_service_gets_a_suggestion_and_a_plain_yes_takes_it(chat, zadig):
    chat.say("发 order-api 到测试环境")
    got = collect(chat, has("回复“是”就用 order-service"))
    assert has("没有找到 order-api，是要 order-service 吗？")(got), texts(got)
    assert not has("可选：")(got), texts(got)  # not the whole list again
    assert triggers(zadig, "mall-test") == []
    chat.say("是")
    got = collect(chat, has("已开始发布"))
    assert has("order-service → test")(got), texts(got)
    assert len(triggers(zadig, "mall-test")) == 1


def test_short_names_and_pinyin_typos_are_understood(chat, zadig):
    chat.say("把订单服物发到测式环境")
    got = collect(chat, has("已开始发布"))
    assert has("order-service → test")(got), texts(got)


def test_production_deploy_confirmed_goes_to_approval(chat, zadig):
    chat.say("把网关发到生产环境")
    got = collect(chat, has("请确认"))
    assert has("mall-prod")(got) and has("master")(got), texts(got)
    assert has("- 现在运行：")(got) and has("- 将发布：分支 master 的新构建")(got), texts(got)
    assert "dtmd://dingtalkclient/sendMessage" in str(got[-1].get("payload") or got[-1]), got[-1]
    assert triggers(zadig, "mall-prod") == []
    chat.say("确认")
    got = collect(chat, has("审批 #"))
    # A confirmed production plan waits for a release manager (tests/e2e/test_safety.py).
    assert has("需要 @lead01 @lead02 中的一位批准")(got), texts(got)
    assert triggers(zadig, "mall-prod") == []


def test_production_deploy_denied_sends_nothing(chat, zadig):
    chat.say("网关发线上")
    collect(chat, has("请确认"))
    chat.say("算了，不发了")
    got = collect(chat, has("不发了"))
    assert has("没有向 Zadig 发送任何请求")(got), texts(got)
    # A wrong trigger would have been sent before that reply; the second only lets the
    # simulator record a request that raced the reply.
    time.sleep(1)
    assert triggers(zadig, "mall-prod") == []


def test_forged_and_stale_signatures_are_rejected(chat, zadig):
    forged = chat.say("把订单服务发到测试环境", sign="bm90IHRoZSByaWdodCBzaWdu")
    assert forged["status"] == 401
    stale = chat.say("把订单服务发到测试环境", timestamp_offset_ms=-2 * 3600 * 1000)
    assert stale["status"] == 401
    missing = chat.say("把订单服务发到测试环境", omit_headers=True)
    assert missing["status"] == 401
    # Each was refused before the dialogue; an accepted one would have been answered well
    # within 1.5 s (first reply p95 0.1 s, bench/results/speed.md).
    time.sleep(1.5)
    assert chat.messages() == []
    assert triggers(zadig, "mall-test") == []


def test_duplicate_delivery_deploys_once(chat, zadig):
    first = chat.say("把库存服务发到开发环境", msg_id="msgDUPLICATE-e2e-1")
    second = chat.say("把库存服务发到开发环境", msg_id="msgDUPLICATE-e2e-1")
    assert first["status"] == 200 and second["status"] == 200
    collect(chat, has("已开始发布"))
    # Both deliveries arrived before the first reply; a second dialogue run would have
    # triggered within 1.5 s (first reply p95 0.1 s, bench/results/speed.md).
    time.sleep(1.5)
    assert len(triggers(zadig, "mall-dev")) == 1


def test_malformed_json_is_a_400(chat):
    answer = chat.say("ignored", raw_body='{"msgId": "x", "text": ')
    assert answer["status"] == 400


def test_picture_message_gets_a_clear_answer(chat, zadig):
    chat.say("", msgtype="picture")
    got = collect(chat, has("目前只支持文字消息"))
    assert has("目前只支持文字消息")(got), texts(got)


def test_zadig_down_gets_a_clear_answer_and_nothing_half_done(chat, zadig):
    zadig.post("/_sim/fault", json={"mode": "error500"})
    chat.say("把支付服务发到测试环境")
    got = collect(chat, has("触发发布失败"))
    assert has("触发发布失败")(got), texts(got)
    zadig.post("/_sim/fault", json={"mode": "ok"})
    chat.say("刚才的发布怎么样了")
    got = collect(chat, has("还没有发起过发布"))
    assert has("还没有发起过发布")(got), texts(got)


def test_failed_task_result_names_the_stage(chat, zadig):
    zadig.post(
        "/_sim/outcome",
        json={
            "status": "failed",
            "stage": "deploy",
            "error": "ImagePullBackOff",
            "workflow_key": "mall-uat",
        },
    )
    chat.say("用 release/2.3 分支发认证服务到预发")
    got = collect(chat, has("发布失败"))
    assert has("失败阶段：deploy")(got), texts(got)
    build = triggers(zadig, "mall-uat")[0]["json"]["inputs"][0]
    assert build["parameters"]["service_list"][0]["repo_info"][0]["branch"] == "release/2.3"


def test_status_and_cancel(chat, zadig):
    zadig.post("/_sim/config", json={"running_seconds": 30})
    chat.say("把通知服务发到测试环境")
    collect(chat, has("已开始发布"))
    chat.say("刚才的发布怎么样了")
    got = collect(chat, has("详情"))
    assert has("notification-service → test")(got), texts(got)
    chat.say("取消刚才的发布")
    got = collect(chat, lambda m: has("已取消 mall-test")(m) and has("发布已取消")(m))
    assert has("已取消 mall-test")(got), texts(got)
    assert has("发布已取消")(got), texts(got)  # the follow-up reports the cancelled task
    assert len(triggers(zadig, "mall-test")) == 1


def test_follow_up_after_the_session_webhook_expired(chat, zadig, stack):
    zadig.post("/_sim/config", json={"running_seconds": 4})
    chat.say("把用户服务发到测试环境")
    collect(chat, has("已开始发布"))
    httpx.post(f"{stack.dingtalk_url}/_sim/expire_sessions")
    got = collect(chat, has("发布成功"), timeout=25)
    result = [m for m in got if "发布成功" in str(m["text"])]
    assert result and result[0]["route"] == "openapi_group", texts(got)


def test_an_action_server_restart_does_not_stop_a_follow_up(chat, zadig, stack):
    """The follow-up worker runs in the Rasa server: the result arrives across the restart."""
    zadig.post("/_sim/config", json={"running_seconds": 15})
    chat.say("把前端发到开发环境")
    collect(chat, has("已开始发布"))
    stack.restart("actions")
    got = collect(chat, has("发布成功"), timeout=40)
    assert has("web-frontend → dev")(got), texts(got)


def test_pending_follow_up_survives_a_rasa_server_restart(chat, zadig, stack):
    """The task ends while the Rasa server is down (Zadig's webhook finds nobody, and Zadig does
    not retry it): the restarted server resumes the follow-up from the database and posts the
    result, once."""
    zadig.post("/_sim/config", json={"running_seconds": 3})
    chat.say("把认证服务发到开发环境")
    started = collect(chat, has("已开始发布"))
    task_id = int(re.search(r"mall-dev #(\d+)", texts(started)).group(1))
    stack.restart("rasa")  # stop, then start and wait for the model (longer than the task)
    got = collect(chat, has("发布成功"), timeout=60)
    assert has(f"auth-service → dev（mall-dev #{task_id}）")(got), texts(got)
    # The worker polls every second once resumed; a second post would come within two rounds.
    time.sleep(2)
    assert not has("发布成功")(chat.messages())
    [webhook] = [
        d
        for d in zadig.get("/_sim/webhooks").json()
        if (d["workflow_key"], d["task_id"]) == ("mall-dev", task_id)
    ]
    assert "error" in webhook, "Zadig's webhook should have found the Rasa server down"


def test_throttled_robot_loses_no_reply(chat, zadig, stack):
    """DingTalk answers 130101 above its per-minute limit: the conversation waits out the
    penalty (3 s here instead of DingTalk's 10 minutes) and nothing is dropped."""
    dingtalk = httpx.Client(base_url=stack.dingtalk_url, timeout=10)
    dingtalk.post("/_sim/config", json={"rate_limit": 2})
    try:
        time.sleep(61)  # an empty window, so exactly the messages below count
        for text in ("你好", "有哪些环境", "帮助"):
            chat.say(text)
        got = collect(chat, lambda m: len(m) >= 3, timeout=150)
        assert len(got) == 3, texts(got)
        assert has("我是部署助手")(got) and has("可以发布的环境")(got) and has("我能做这些事")(got)
    finally:
        dingtalk.post("/_sim/config", json={"rate_limit": 600})
        dingtalk.close()


def test_same_conversation_over_stream_mode(stack, zadig):
    if not stack.stream:
        pytest.fail(
            "Stream mode needs .venv-stream (make e2e creates it: scripts/bootstrap.sh stream)"
        )
    chat = ChatClient(
        stack, conversation=f"cid-stream-{time.time_ns()}", user="streamer", stream=True
    )
    try:
        pushed = chat.say("把订单服务发到测试环境", wait_ack_seconds=5)
        assert pushed.get("ack", {}).get("code") == 200, pushed
        got = collect(chat, has("发布成功"))
        assert has("已开始发布 order-service → test")(got), texts(got)
        assert has("发布成功")(got), texts(got)
        assert len(triggers(zadig, "mall-test")) == 1
    finally:
        chat.close()
