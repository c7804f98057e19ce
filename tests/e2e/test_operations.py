"""Beyond a trigger, through the real processes: failures with their log, retry, rollback,
locks, several services at once, Zadig's own approval stages and approval jobs."""

from __future__ import annotations

import re

import pytest

from tests.e2e.helpers import collect, has, texts, triggers

pytestmark = pytest.mark.e2e


def task_number(messages, workflow: str) -> int:
    match = re.search(rf"{workflow} #(\d+)", texts(messages))
    assert match, texts(messages)
    return int(match.group(1))


def test_a_failed_build_brings_its_log_tail_and_a_retry_succeeds(chat, zadig):
    zadig.post(
        "/_sim/outcome",
        json={
            "status": "failed",
            "stage": "build",
            "log": ["Step 1/7 : FROM node:20", "npm ERR! missing script: build"],
        },
    )
    chat.say("把订单服务发到测试环境")
    got = collect(chat, has("发布失败"), timeout=30)
    result = next(m for m in got if "发布失败" in str(m["text"]))
    assert "npm ERR! missing script: build" in str(result["text"]), texts(got)
    assert "重试任务" in str(result["text"]), texts(got)
    number = task_number(got, "mall-test")

    chat.say(f"重试任务 {number}")
    got = collect(chat, has("发布成功"), timeout=30)
    assert has(f"已重试 mall-test #{number}")(got), texts(got)
    assert has("发布成功")(got), texts(got)


def test_a_passed_task_is_not_retried(chat, zadig):
    chat.say("把用户服务发到开发环境")
    number = task_number(collect(chat, has("发布成功"), timeout=30), "mall-dev")
    chat.say(f"重试任务 {number}")
    got = collect(chat, has("只能重试"))
    assert has("只能重试失败、超时、已取消或被拒绝的任务")(got), texts(got)


def test_rollback_to_the_previous_image(chat, zadig):
    for _ in range(2):
        chat.say("把库存服务发到开发环境")
        collect(chat, has("发布成功"), timeout=30)
    chat.say("把库存服务在开发环境回滚到上一个版本")
    got = collect(chat, has("回滚到"))
    assert has("inventory-service：现在")(got), texts(got)
    chat.say("确认")
    got = collect(chat, has("已开始回滚"))
    assert len(triggers(zadig, "mall-dev-rollback")) == 1
    sent = triggers(zadig, "mall-dev-rollback")[0]["json"]["inputs"][0]["parameters"]
    assert sent["service_list"][0]["image_name"], sent


def test_a_locked_environment_refuses_then_accepts_after_unlock(chat, zadig):
    chat.say("锁定预发环境，正在压测")
    collect(chat, has("锁定了 uat"))
    chat.say("把网关发到预发")
    got = collect(chat, has("正在压测"))
    assert has("锁定")(got), texts(got)
    assert triggers(zadig, "mall-uat") == []
    chat.say("解锁预发环境")
    collect(chat, has("解除了 uat"))
    chat.say("把网关发到预发")
    got = collect(chat, has("已开始发布"))
    assert has("gateway → uat")(got), texts(got)


def test_three_services_in_one_request(chat, zadig):
    chat.say("把订单服务、支付服务和网关一起发到开发环境")
    got = collect(chat, has("发布成功"), timeout=30)
    assert has("order-service、payment-service、gateway → dev")(got), texts(got)
    [sent] = triggers(zadig, "mall-dev")[-1:]
    names = [s["service_name"] for s in sent["json"]["inputs"][0]["parameters"]["service_list"]]
    assert names == ["order-service", "payment-service", "gateway"]


@pytest.mark.parametrize("approve", [True, False], ids=["approved", "rejected"])
def test_a_zadig_approval_stage_decided_from_the_chat(chat, zadig, approve):
    bot = {"user_id": "uid-chatops-bot", "user_name": "chatops-bot"}
    zadig.post("/_sim/workflows/mall-uat/approval", json={"approvers": [bot], "timeout": 10})
    try:
        chat.say("把认证服务发到预发")
        got = collect(chat, has("在等 Zadig 的审批"), timeout=30)
        number = task_number(got, "mall-uat")
        # The bot listed the approval job, so Zadig kept it (v4.1.0+).
        inputs = triggers(zadig, "mall-uat")[-1]["json"]["inputs"]
        assert "approval" in [job["job_type"] for job in inputs]
        chat.say(f"{'批准' if approve else '驳回'}任务 {number}")
        word = "发布成功" if approve else "被拒绝"
        got = collect(chat, has(word), timeout=30)
        assert has(f"在 Zadig 上{'批准' if approve else '驳回'}了 mall-uat #{number}")(got), texts(
            got
        )
    finally:
        zadig.delete("/_sim/workflows/mall-uat/approval")
