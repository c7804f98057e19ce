"""The server's sweeper: approval requests nobody decided expire once, saying so in their chat."""

from __future__ import annotations

import json

from tests.connectors.test_dingtalk_channel import SESSION_PATH, SESSION_WEBHOOK

TARGET = {
    "conversation_id": "cid1",
    "is_group": True,
    "user_id": "u1",
    "session_webhook": SESSION_WEBHOOK,
    "session_webhook_expires_ms": 4102444800000,
    "robot_code": "dingrobot-1",
}
PLAN = {
    "services": ["order-service"],
    "environment": "prod",
    "branch": "master",
    "workflow_key": "mall-prod",
}


async def test_an_undecided_approval_expires_once_with_a_notice_and_an_audit_row(
    runtime, make_runtime, dingtalk
):
    request = runtime.approvals.create(
        kind="deploy",
        environment="prod",
        plan=PLAN,
        summary="order-service → prod",
        requester="u1",
        requester_nick="张三",
        requester_sender="cid1:u1",
        conversation_id="cid1",
        target=TARGET,
        ttl=0.0,
    )
    other = make_runtime(start=False)  # a second replica sweeping the same database

    runtime.sweep_once()
    other.sweep_once()

    [sent] = await dingtalk.wait_for(SESSION_PATH)
    body = json.loads(sent.content)
    assert f"审批 #{request.id}（张三 申请 order-service → prod）" in body["text"]["content"]
    assert "已过期，没有发布" in body["text"]["content"]
    assert body["at"]["atUserIds"] == ["u1"]
    assert runtime.approvals.get(request.id).state == "expired"
    [event] = runtime.audit.events()
    assert (event.decision, event.approval_id) == ("expired", request.id)
