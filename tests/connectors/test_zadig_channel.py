"""Zadig's workflow webhook notification as a Rasa channel (docs/zadig-openapi.md §6.2).

A verified notification for a task the bot started posts the result to the DingTalk
conversation that asked for it, once; nothing reaches Rasa's dialogue.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, Iterator, Optional

import httpx
import pytest

from chatops.dingtalk.inbound import ReplyTarget
from chatops.state import Database, FollowupStore
from connectors.zadig import ZadigWebhookInput
from tests.fakes.dingtalk import eventually

WEBHOOK = "/webhooks/zadig/webhook"
HOOK_TOKEN = "zadig-hook-secret"
CID = "cidAsXSBLnA=="
SESSION_WEBHOOK = "https://oapi.dingtalk.com/robot/sendBySession?session=76da36b4xxxx8f59e8"
SESSION_PATH = "/robot/sendBySession"
TASK_LINK = (
    "https://zadig.example.com/v1/projects/detail/mall/pipelines/custom/mall-test/42"
    "?display_name=mall-test"
)


def notification(
    status: str = "passed", task_id: Any = 42, workflow: str = "mall-test", event: str = "workflow"
) -> Dict[str, Any]:
    """docs/zadig-openapi.md §6.2's body (HEAD) for a build + deploy task."""
    deploy_status = "failed" if status == "failed" else status
    deploy_error = "deploy order-service timed out waiting for pods" if status == "failed" else ""
    return {
        "object_kind": "workflow",
        "event": event,
        "workflow": {
            "task_id": task_id,
            "project_name": "mall",
            "project_display_name": "商城",
            "workflow_name": workflow,
            "workflow_display_name": workflow,
            "status": status,
            "remark": "",
            "detail_url": "https://zadig.example.com/v1/projects/detail/mall/pipelines/custom/"
            f"{workflow}?display_name={workflow}",
            "error": "",
            "create_time": 1724300000,
            "start_time": 1724300001,
            "end_time": 1724300200,
            "stages": [
                {
                    "name": "build",
                    "status": "passed",
                    "start_time": 1724300001,
                    "end_time": 1724300100,
                    "error": "",
                    "jobs": [
                        {
                            "name": "build",
                            "display_name": "build",
                            "type": "zadig-build",
                            "status": "passed",
                            "start_time": 1724300001,
                            "end_time": 1724300100,
                            "error": "",
                            "spec": None,
                        }
                    ],
                },
                {
                    "name": "deploy",
                    "status": deploy_status,
                    "start_time": 1724300100,
                    "end_time": 1724300200,
                    "error": deploy_error,
                    "jobs": [
                        {
                            "name": "deploy",
                            "display_name": "deploy",
                            "type": "zadig-deploy",
                            "status": deploy_status,
                            "start_time": 1724300100,
                            "end_time": 1724300200,
                            "error": deploy_error,
                            "spec": {
                                "env": "test",
                                "service_name": "order-service",
                                "service_modules": [
                                    {"service_module": "order", "image": "harbor/order:1"}
                                ],
                            },
                        }
                    ],
                },
            ],
            "task_creator": "alice",
            "task_creator_id": "",
            "task_creator_email": "",
            "task_type": "workflow",
        },
        "release_plan": None,
    }


def zadig_headers(token: Optional[str] = HOOK_TOKEN, event: str = "workflow") -> Dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Zadig-Instance": "https://zadig.example.com",
        "X-Zadig-Event": event,
        "X-Zadig-Event-UUID": "e-1",
        "X-Zadig-Webhook-UUID": "w-1",
    }
    if token is not None:
        headers["X-Zadig-Token"] = token
    return headers


def group_target(expires_ms: int = 32_503_680_000_000) -> Dict[str, Any]:
    return ReplyTarget(
        conversation_id=CID,
        is_group=True,
        user_id="user123",
        session_webhook=SESSION_WEBHOOK,
        session_webhook_expires_ms=expires_ms,
        robot_code="dingxxxxr3xc0b",
    ).to_dict()


@pytest.fixture
async def hook_runtime(make_runtime):
    return make_runtime(ZADIG_WEBHOOK_TOKEN=HOOK_TOKEN)


@pytest.fixture
def store(hook_runtime) -> Iterator[FollowupStore]:
    """The action server's view of the same database: it records the tasks it started."""
    db = Database.open(hook_runtime.settings.db_url)
    yield FollowupStore(db)
    db.dispose()


@pytest.fixture
def pending(store) -> None:
    store.add(
        project_key="mall",
        workflow_key="mall-test",
        task_id=42,
        service="order-service",
        environment="test",
        sender_id=f"{CID}:user123",
        conversation_id=CID,
        target=group_target(),
    )


@pytest.fixture
async def client(serve, hook_runtime) -> httpx.AsyncClient:
    return await serve(ZadigWebhookInput(runtime=lambda: hook_runtime))


async def notify(
    client: httpx.AsyncClient,
    body: Any,
    headers: Optional[Dict[str, str]] = None,
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return await client.post(
        WEBHOOK, content=content, headers=zadig_headers() if headers is None else headers
    )


async def settle() -> None:
    """Let the background handling and the outbox run before asserting nothing happened.

    Both are tasks on this event loop and the fakes answer without I/O; the outbox sender
    ticks every 20 ms here (make_runtime), so 0.2 s is ten of its rounds.
    """
    for _ in range(10):
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------------ refusals


async def test_health_says_whether_notifications_are_enabled(serve, make_runtime, client):
    disabled = make_runtime()
    disabled_client = await serve(ZadigWebhookInput(runtime=lambda: disabled))

    enabled = await client.get("/webhooks/zadig/")
    off = await disabled_client.get("/webhooks/zadig/")

    assert enabled.json() == {"status": "ok", "channel": "zadig", "enabled": True}
    assert off.json() == {"status": "ok", "channel": "zadig", "enabled": False}


async def test_refused_when_no_token_is_configured(
    serve, make_runtime, store, pending, dingtalk, agent
):
    disabled = make_runtime()  # same db as the pending row, but no ZADIG_WEBHOOK_TOKEN
    disabled_client = await serve(ZadigWebhookInput(runtime=lambda: disabled))

    response = await notify(disabled_client, notification(), zadig_headers(token=""))
    with_header = await notify(disabled_client, notification())

    assert response.status_code == 403
    assert with_header.status_code == 403
    assert "ZADIG_WEBHOOK_TOKEN" in response.json()["error"]
    assert store.get("mall-test", 42).state == "pending"
    assert dingtalk.requests == []
    assert agent.messages == []


@pytest.mark.parametrize(
    "token",
    [None, "", "wrong-token", HOOK_TOKEN + "x"],
    ids=["no-header", "empty", "wrong", "longer"],
)
async def test_refused_with_a_wrong_token(client, store, pending, dingtalk, token):
    response = await notify(client, notification(), zadig_headers(token=token))

    assert response.status_code == 401
    assert response.json() == {"error": "invalid X-Zadig-Token"}
    assert store.get("mall-test", 42).state == "pending"
    assert dingtalk.requests == []


@pytest.mark.parametrize(
    "body, error",
    [
        (b'{"event": "workflow", "workflow": ', "body is not JSON"),
        (b"", "body is not JSON"),
        (b'[{"event": "workflow"}]', "body is not a JSON object"),
    ],
    ids=["truncated", "empty", "array"],
)
async def test_bad_bodies_are_refused(client, dingtalk, body, error):
    response = await notify(client, body)

    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert dingtalk.requests == []


async def test_other_events_are_ignored(client, store, pending, dingtalk):
    response = await notify(
        client, notification(event="start_execute"), zadig_headers(event="start_execute")
    )

    assert response.status_code == 200
    assert response.json() == {"message": "ignored", "event": "start_execute"}
    assert store.get("mall-test", 42).state == "pending"
    assert dingtalk.requests == []


# ----------------------------------------------------------------------- completion


async def test_a_passed_task_posts_its_result_once(client, store, pending, dingtalk, agent):
    response = await notify(client, notification("passed"))

    assert response.status_code == 200
    assert response.json() == {"message": "success"}
    # Answered at once; the result is queued in the background and sent by the outbox.
    [post] = await dingtalk.wait_for(SESSION_PATH)
    assert str(post.url) == SESSION_WEBHOOK
    assert json.loads(post.content) == {
        "msgtype": "text",
        "text": {
            "content": "✅ 发布成功：order-service → test（mall-test #42）\n"
            "用时：3分19秒\n"
            f"详情：{TASK_LINK}\n@user123"
        },
        "at": {"atUserIds": ["user123"], "isAtAll": False},
    }
    row = store.get("mall-test", 42)
    assert (row.state, row.result_status) == ("delivered", "passed")
    assert agent.messages == []

    again = await notify(client, notification("passed"))

    assert again.status_code == 200
    assert again.json() == {"message": "success"}
    await settle()
    assert len(dingtalk.requests) == 1


async def test_a_failed_task_names_the_failed_stage(client, store, pending, dingtalk):
    response = await notify(client, notification("failed"))

    assert response.json() == {"message": "success"}
    [post] = await dingtalk.wait_for(SESSION_PATH)
    sent = json.loads(post.content)
    # Markdown: the result, then one-tap 重试 / 回滚 / 看完整日志, then the @-mention.
    assert sent["msgtype"] == "markdown" and sent["at"]["atUserIds"] == ["user123"]
    content = sent["markdown"]["text"]
    assert content.startswith("❌ 发布失败：order-service → test（mall-test #42）\n用时：3分19秒\n")
    assert "deploy order-service timed out waiting for pods" in content
    assert f"详情：{TASK_LINK}" in content and "（或回复：重试任务 42）" in content
    assert store.get("mall-test", 42).result_status == "failed"


async def test_the_system_hook_event_is_accepted(client, store, pending, dingtalk):
    body = notification("passed", event="complete_execute")

    response = await notify(client, body, zadig_headers(event="complete_execute"))

    assert response.json() == {"message": "success"}
    assert len(await dingtalk.wait_for(SESSION_PATH)) == 1


async def test_the_event_in_the_body_is_enough(client, store, pending, dingtalk):
    headers = zadig_headers()
    del headers["X-Zadig-Event"]

    response = await notify(client, notification("passed"), headers)

    assert response.json() == {"message": "success"}
    await dingtalk.wait_for(SESSION_PATH)


async def test_a_task_id_sent_as_a_string_still_matches(client, store, pending, dingtalk):
    response = await notify(client, notification("passed", task_id="42"))

    assert response.json() == {"message": "success"}
    await dingtalk.wait_for(SESSION_PATH)


async def test_an_unknown_task_completes_nothing(client, store, pending, dingtalk):
    response = await notify(client, notification("passed", task_id=43))
    other_workflow = await notify(client, notification("passed", workflow="mall-prod"))

    assert response.status_code == 200
    assert response.json() == {"message": "success"}
    assert other_workflow.json() == {"message": "success"}
    await settle()
    assert store.get("mall-test", 42).state == "pending"
    assert dingtalk.requests == []


async def test_a_running_task_completes_nothing(client, store, pending, dingtalk):
    response = await notify(client, notification("running"))

    assert response.json() == {"message": "success"}
    await settle()
    assert store.get("mall-test", 42).state == "pending"
    assert dingtalk.requests == []


async def test_an_expired_session_posts_through_the_openapi(client, store, dingtalk):
    store.add(
        project_key="mall",
        workflow_key="mall-test",
        task_id=42,
        service="order-service",
        environment="test",
        sender_id=f"{CID}:user123",
        conversation_id=CID,
        target=group_target(expires_ms=1_690_367_502_152),
    )

    response = await notify(client, notification("passed"))

    assert response.json() == {"message": "success"}
    [send] = await dingtalk.wait_for("/v1.0/robot/groupMessages/send")
    assert dingtalk.calls(SESSION_PATH) == []
    body = json.loads(send.content)
    assert body["openConversationId"] == CID
    assert json.loads(body["msgParam"])["content"].startswith("✅ 发布成功：order-service → test")


async def test_a_refused_post_is_kept_visibly_as_undeliverable(
    client, store, pending, dingtalk, hook_runtime
):
    """The robot was removed from the group: DingTalk refuses for good, so the result is not
    retried forever; it stays in the outbox, undeliverable, with DingTalk's reason."""
    dingtalk.webhook_answer = {"errcode": 300001, "errmsg": "session 不存在"}
    dingtalk.send_answer = (
        403,
        {"code": "Forbidden.AccessDenied", "message": "robot not in group"},
    )

    response = await notify(client, notification("passed"))

    assert response.json() == {"message": "success"}
    await eventually(lambda: hook_runtime.outbox.counts() == {"undeliverable": 1})
    [message] = hook_runtime.outbox.messages()
    assert "robot not in group" in message.last_error
    assert store.get("mall-test", 42).state == "delivered"  # its result was queued, once


# ------------------------------------------------------------------------------ once bugs


async def test_a_non_numeric_task_id_is_not_a_server_error(client, store, pending):
    response = await notify(client, notification("passed", task_id="abc"))

    assert response.status_code in (200, 400)
