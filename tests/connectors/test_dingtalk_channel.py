"""The DingTalk input channel over real HTTP: verification, parsing, de-duplication, replies.

Inbound bodies follow docs/dingtalk.md §1.5 (group @mention) with fresh ids and a
sessionWebhook that is still valid; replies are read from what the fake DingTalk received
(docs/dingtalk.md §2.2-§2.3).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, Dict, List, Optional, Union
from urllib.parse import quote

import httpx
import pytest
from rasa.core.channels.channel import UserMessage

from chatops.dingtalk.signing import sign
from chatops.runtime import server_runtime
from connectors.dingtalk import DingTalkInput, DingTalkOutput

SECRET = "s3cret"  # the conftest's DINGTALK_APP_SECRET
WEBHOOK = "/webhooks/dingtalk/webhook"
CID = "cidAsXSBLnA=="
SINGLE_CID = "cidSingleChat1=="
SESSION_WEBHOOK = "https://oapi.dingtalk.com/robot/sendBySession?session=76da36b4xxxx8f59e8"
SESSION_PATH = "/robot/sendBySession"
TEXT = " 把订单服务发到测试环境"

ONLY_TEXT = "目前只支持文字消息，请直接打字告诉我要做什么，比如“把订单服务发到测试环境”。"
# Never "nothing was done": a trigger may have gone out before the failure.
PROCESSING_FAILED = (
    "这条消息没有处理完，请稍后问我“刚才的发布怎么样了”确认发布状态，再决定要不要重发。"
)
ACK = {"msgtype": "empty"}


def now_ms() -> int:
    return int(time.time() * 1000)


def group_message(**overrides: Any) -> Dict[str, Any]:
    """docs/dingtalk.md §1.5 as sent now: fresh msgId, valid session, an unknown key."""
    created = now_ms()
    body: Dict[str, Any] = {
        "conversationId": CID,
        "atUsers": [{"dingtalkId": "$:LWCP_v1:$4xxTgHFUDZ8Qi8qr3"}],
        "chatbotCorpId": "ding9f50b15bxxxx16741",
        "chatbotUserId": "$:LWCP_v1:$4xxTgHFUDZ8Qi8qr3",
        "msgId": f"msg{uuid.uuid4().hex[:16]}==",
        "senderNick": "张三",
        "isAdmin": True,
        "senderStaffId": "user123",
        "sessionWebhookExpiredTime": created + 5_400_000,
        "createAt": created,
        "senderCorpId": "ding9f50b15bxxxx16741",
        "conversationType": "2",
        "senderId": "$:LWCP_v1:$Ff09GIxxxxx",
        "conversationTitle": "测试群",
        "isInAtList": True,
        "sessionWebhook": SESSION_WEBHOOK,
        "text": {"content": TEXT},
        "robotCode": "dingxxxxr3xc0b",
        "msgtype": "text",
        "senderPlatform": "Mac",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def single_message(**overrides: Any) -> Dict[str, Any]:
    """A 1:1 chat: no title, no @ list, every message delivered (docs/dingtalk.md §1.5)."""
    fields: Dict[str, Any] = {
        "conversationId": SINGLE_CID,
        "conversationType": "1",
        "conversationTitle": None,
        "atUsers": None,
        "isInAtList": None,
        "text": {"content": "把订单服务发到测试环境"},
    }
    return group_message(**{**fields, **overrides})


def signed_headers(secret: str = SECRET, timestamp: Optional[str] = None) -> Dict[str, str]:
    ts = str(now_ms()) if timestamp is None else timestamp
    return {
        "timestamp": ts,
        "sign": sign(ts, secret),
        "Content-Type": "application/json; charset=utf-8",
    }


def text_to(content: str, mention: Optional[str] = "user123") -> Dict[str, Any]:
    """The exact sessionWebhook body for a text reply (docs/dingtalk.md §2.4)."""
    if mention is None:
        return {"msgtype": "text", "text": {"content": content}}
    return {
        "msgtype": "text",
        "text": {"content": f"{content}\n@{mention}"},
        "at": {"atUserIds": [mention], "isAtAll": False},
    }


async def settle() -> None:
    """Let the dialogue task and the reply queue run before asserting that nothing happened.

    Both are tasks on this event loop and the fakes answer without I/O, so each step needs
    only a turn of the loop; five 20 ms sleeps give them many turns.
    """
    for _ in range(5):
        await asyncio.sleep(0.02)


@pytest.fixture
def channel(runtime) -> DingTalkInput:
    return DingTalkInput(runtime=lambda: runtime)


@pytest.fixture
async def client(serve, channel) -> httpx.AsyncClient:
    return await serve(channel)


async def deliver(
    client: httpx.AsyncClient,
    body: Union[Dict[str, Any], List[Any], bytes],
    headers: Optional[Dict[str, str]] = None,
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return await client.post(
        WEBHOOK, content=content, headers=signed_headers() if headers is None else headers
    )


def reply_with(*texts: str):
    async def reply(message: UserMessage) -> None:
        for text in texts:
            await message.output_channel.send_text_message(message.sender_id, text)

    return reply


# ------------------------------------------------------------------------------ health


async def test_health_answers_json(client, runtime):
    response = await client.get("/webhooks/dingtalk/")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "channel": "dingtalk",
        "mode": "http",
        "pending_followups": 0,
        "outbox": {},  # messages by state: nothing queued, sent or undeliverable yet
    }


# ------------------------------------------------------------------------- inbound text


async def test_signed_group_text_becomes_a_user_message(client, agent, dingtalk):
    body = group_message()

    response = await deliver(client, body)

    assert response.status_code == 200
    assert response.json() == ACK
    [message] = await agent.wait_for(1)
    assert message.text == "把订单服务发到测试环境"
    assert message.sender_id == f"{CID}:user123"
    assert message.input_channel == "dingtalk"
    assert message.message_id == body["msgId"]
    assert isinstance(message.output_channel, DingTalkOutput)
    assert message.metadata == {
        "dingtalk": {
            "msg_id": body["msgId"],
            "conversation_id": CID,
            "conversation_title": "测试群",
            "is_group": True,
            "user_id": "user123",
            "nick": "张三",
            "staff_id": "user123",
            "sender_corp_id": body["senderCorpId"],
            "chatbot_corp_id": body["chatbotCorpId"],
            "target": {
                "conversation_id": CID,
                "is_group": True,
                "user_id": "user123",
                "session_webhook": SESSION_WEBHOOK,
                "session_webhook_expires_ms": body["sessionWebhookExpiredTime"],
                "robot_code": "dingxxxxr3xc0b",
            },
        }
    }
    # The agent said nothing: that is never right for this bot, so the user hears so.
    [request] = await dingtalk.wait_for(SESSION_PATH)
    assert json.loads(request.content) == text_to(PROCESSING_FAILED)


async def test_answers_before_the_dialogue_finishes(client, agent):
    agent.gate = asyncio.Event()

    response = await asyncio.wait_for(deliver(client, group_message()), timeout=5)

    assert response.status_code == 200
    await agent.wait_for(1)
    assert agent.finished == 0  # still inside on_new_message, yet DingTalk has its 200
    agent.gate.set()
    await settle()
    assert agent.finished == 1


async def test_user_id_falls_back_to_sender_id_without_staff_id(client, agent):
    await deliver(client, group_message(senderStaffId=None))

    [message] = await agent.wait_for(1)
    assert message.sender_id == f"{CID}:$:LWCP_v1:$Ff09GIxxxxx"
    assert message.metadata["dingtalk"]["user_id"] == "$:LWCP_v1:$Ff09GIxxxxx"


async def test_two_members_of_one_group_get_separate_conversations(client, agent):
    await deliver(client, group_message())
    await deliver(
        client,
        group_message(
            senderStaffId="user456",
            senderNick="李四",
            senderId="$:LWCP_v1:$Other",
            text={"content": " 发到生产环境"},
        ),
    )

    first, second = await agent.wait_for(2)
    assert {first.sender_id, second.sender_id} == {f"{CID}:user123", f"{CID}:user456"}
    assert first.metadata["dingtalk"]["conversation_id"] == CID
    assert second.metadata["dingtalk"]["conversation_id"] == CID


async def test_single_chat_is_keyed_by_its_conversation_and_user(client, agent):
    body = single_message()

    await deliver(client, body)

    [message] = await agent.wait_for(1)
    assert message.sender_id == f"{SINGLE_CID}:user123"
    assert message.text == "把订单服务发到测试环境"
    dingtalk_meta = message.metadata["dingtalk"]
    assert dingtalk_meta["is_group"] is False
    assert dingtalk_meta["conversation_title"] == ""
    assert dingtalk_meta["target"]["is_group"] is False


# ------------------------------------------------------------------------ verification


def _stale(hours: float) -> Dict[str, str]:
    return signed_headers(timestamp=str(now_ms() + int(hours * 3_600_000)))


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({}, "missing"),
        ({"timestamp": str(now_ms())}, "missing"),
        ({"sign": sign(str(now_ms()), SECRET)}, "missing"),
        ("wrong-secret", "forged"),
        ("two-hours-old", "stale"),
        ("two-hours-ahead", "stale"),
        ({"timestamp": "yesterday", "sign": sign("yesterday", SECRET)}, "bad_timestamp"),
    ],
    ids=["no-headers", "no-sign", "no-timestamp", "wrong-sign", "old", "future", "garbled-ts"],
)
async def test_unverified_requests_are_refused(client, agent, dingtalk, headers, reason):
    if headers == "wrong-secret":
        headers = signed_headers(secret="not-the-secret")
    elif headers == "two-hours-old":
        headers = _stale(-2)
    elif headers == "two-hours-ahead":
        headers = _stale(2)

    response = await deliver(client, group_message(), headers=headers)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid signature", "reason": reason}
    await settle()
    assert agent.messages == []
    assert dingtalk.requests == []


async def test_a_refused_request_does_not_use_up_its_msg_id(client, agent):
    body = group_message()

    refused = await deliver(client, body, headers=signed_headers(secret="forged"))
    accepted = await deliver(client, body)

    assert (refused.status_code, accepted.status_code) == (401, 200)
    assert accepted.json() == ACK
    await agent.wait_for(1)


async def test_timestamp_just_inside_the_hour_is_accepted(client, agent):
    response = await deliver(client, group_message(), headers=_stale(-0.98))

    assert response.status_code == 200
    await agent.wait_for(1)


# --------------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize(
    "body, detail",
    [
        (b'{"msgId": "msg1==", "conversationId": ', "body is not JSON"),
        (b'[{"msgId": "msg1=="}]', "body is not a JSON object"),
        (json.dumps(group_message(msgId=None)).encode(), "message has no msgId"),
        (json.dumps(group_message(conversationId=None)).encode(), "message has no conversationId"),
    ],
    ids=["truncated-json", "json-array", "no-msgId", "no-conversationId"],
)
async def test_malformed_bodies_are_refused(client, agent, dingtalk, body, detail):
    response = await deliver(client, body)

    assert response.status_code == 400
    assert response.json() == {"error": "malformed message", "detail": detail}
    await settle()
    assert agent.messages == []
    assert dingtalk.requests == []


# ---------------------------------------------------------------------- de-duplication


async def test_a_redelivered_message_is_processed_once(client, agent):
    body = group_message()

    first = await deliver(client, body)
    second = await deliver(client, body)

    assert first.json() == ACK
    assert second.status_code == 200
    assert second.json() == {"msgtype": "empty", "duplicate": True}
    await agent.wait_for(1)
    await settle()
    assert len(agent.messages) == 1


async def test_duplicates_are_caught_after_a_restart(serve, make_runtime, client, runtime, agent):
    body = group_message()
    assert (await deliver(client, body)).json() == ACK
    await agent.wait_for(1)

    # A new process: new runtime and channel, same database file.
    restarted = make_runtime(db=runtime.settings.state_db)
    restarted_client = await serve(DingTalkInput(runtime=lambda: restarted))
    again = await deliver(restarted_client, body)
    other = group_message()
    fresh = await deliver(restarted_client, other)

    assert again.json() == {"msgtype": "empty", "duplicate": True}
    assert fresh.json() == ACK
    await agent.wait_for(2)
    await settle()
    assert [m.message_id for m in agent.messages] == [body["msgId"], other["msgId"]]


# ----------------------------------------------------------------- non-text messages


@pytest.mark.parametrize(
    "msgtype, content",
    [
        ("picture", {"pictureDownloadCode": "pdc", "downloadCode": "dc"}),
        ("file", {"spaceId": "1", "fileName": "foobar.zip", "downloadCode": "dc", "fileId": "f"}),
        (
            "richText",
            {
                "richText": [
                    {"text": "看这个"},
                    {"pictureDownloadCode": "p", "downloadCode": "d", "type": "picture"},
                ]
            },
        ),
        ("video", {"duration": "5", "videoType": "mp4", "downloadCode": "dc"}),
        ("unknownMsgType", {"unknownMsgType": "用户发送了一条消息，机器人暂不支持接收。"}),
        ("audio", {"downloadCode": "dc"}),
        ("audio", {"downloadCode": "dc", "recognition": "  "}),
    ],
    ids=[
        "picture",
        "file",
        "richText",
        "video",
        "unknown",
        "audio-no-recognition",
        "audio-blank-recognition",
    ],
)
async def test_non_text_messages_get_the_only_text_reply(client, agent, dingtalk, msgtype, content):
    response = await deliver(client, group_message(msgtype=msgtype, text=None, content=content))

    assert response.status_code == 200
    assert response.json() == ACK
    [request] = await dingtalk.wait_for(SESSION_PATH)
    assert str(request.url) == SESSION_WEBHOOK
    assert request.method == "POST"
    assert json.loads(request.content) == text_to(ONLY_TEXT)
    await settle()
    assert agent.messages == []
    assert len(dingtalk.requests) == 1


async def test_audio_with_recognition_is_processed_as_its_text(client, agent, dingtalk):
    await deliver(
        client,
        group_message(
            msgtype="audio",
            text=None,
            content={"downloadCode": "dc", "recognition": "把订单服务发到测试环境。 "},
        ),
    )

    [message] = await agent.wait_for(1)
    assert message.text == "把订单服务发到测试环境。"
    assert message.sender_id == f"{CID}:user123"


async def test_an_empty_text_gets_a_hint_not_the_dialogue(client, agent, dingtalk):
    await deliver(client, group_message(text={"content": "  "}))

    [request] = await dingtalk.wait_for(SESSION_PATH)
    assert json.loads(request.content) == text_to("在的！说“帮助”看看我能做什么。")
    await settle()
    assert agent.messages == []


async def test_non_text_in_a_single_chat_mentions_nobody(client, dingtalk):
    await deliver(
        client, single_message(msgtype="picture", text=None, content={"downloadCode": "dc"})
    )

    [request] = await dingtalk.wait_for(SESSION_PATH)
    assert json.loads(request.content) == text_to(ONLY_TEXT, mention=None)


# --------------------------------------------------------------------------- replies


async def test_text_replies_go_to_the_session_webhook_in_order(client, agent, dingtalk):
    agent.reply = reply_with("好的，马上把 order-service 发到 test。", "已触发 mall-test #42")

    await deliver(client, group_message())

    first, second = await dingtalk.wait_for(SESSION_PATH, 2)
    assert str(first.url) == SESSION_WEBHOOK
    assert first.headers["content-type"] == "application/json"
    assert "x-acs-dingtalk-access-token" not in first.headers  # the URL is the credential
    assert json.loads(first.content) == text_to("好的，马上把 order-service 发到 test。")
    assert json.loads(second.content) == text_to("已触发 mall-test #42")
    await settle()
    assert len(dingtalk.requests) == 2


async def test_buttons_become_markdown_with_dtmd_links(client, agent, dingtalk):
    payload = '/choose_environment{"environment": "test"}'

    async def reply(message: UserMessage) -> None:
        await message.output_channel.send_text_with_buttons(
            message.sender_id,
            "要发布到哪个环境？",
            [{"title": "测试环境", "payload": payload}, {"title": "取消", "payload": "取消"}],
        )

    agent.reply = reply

    await deliver(client, group_message())

    [request] = await dingtalk.wait_for(SESSION_PATH)
    assert json.loads(request.content) == {
        "msgtype": "markdown",
        "markdown": {
            "title": "要发布到哪个环境？",
            "text": "要发布到哪个环境？\n\n"
            "- [测试环境](dtmd://dingtalkclient/sendMessage?content="
            f"{quote(payload, safe='')})（或回复：{payload}）\n"
            "- [取消](dtmd://dingtalkclient/sendMessage?content="
            f"{quote('取消', safe='')})\n\n@user123",
        },
        "at": {"atUserIds": ["user123"], "isAtAll": False},
    }
    assert (
        "%2Fchoose_environment%7B%22environment%22%3A%20%22test%22%7D" in request.content.decode()
    )


async def test_replies_in_a_single_chat_mention_nobody(client, agent, dingtalk):
    agent.reply = reply_with("好的")

    await deliver(client, single_message())

    [request] = await dingtalk.wait_for(SESSION_PATH)
    assert json.loads(request.content) == text_to("好的", mention=None)


async def test_a_failing_dialogue_tells_the_user(client, agent, dingtalk):
    async def explode(message: UserMessage) -> None:
        raise RuntimeError("tracker store is down")

    agent.reply = explode

    response = await deliver(client, group_message())

    assert response.status_code == 200
    [request] = await dingtalk.wait_for(SESSION_PATH)
    assert json.loads(request.content) == text_to(PROCESSING_FAILED)
    assert "tracker store is down" not in request.content.decode("utf-8")


async def test_a_turn_whose_reply_was_lost_to_a_crash_is_answered_after_the_restart(
    client, agent, dingtalk, runtime, make_runtime
):
    """The replica died mid-turn: its message is never marked answered. The sweeper (of this
    or another replica, after INBOUND_LOST_SECONDS) tells the sender it was not processed."""
    agent.gate = asyncio.Event()  # the dialogue never finishes: the process "dies" here
    body = group_message(text={"content": " 把订单服务发到生产环境"})
    await deliver(client, body)
    await agent.wait_for(1)

    other = make_runtime(db=runtime.settings.state_db, INBOUND_LOST_SECONDS="0.001")
    await asyncio.sleep(0.01)
    assert other.sweep_once() == [body["msgId"]]
    assert other.sweep_once() == []  # told once

    [request] = await dingtalk.wait_for(SESSION_PATH)
    text = json.loads(request.content)["text"]["content"]
    assert text.startswith("你刚才说的“把订单服务发到生产环境”没有处理完")
    assert "刚才的发布怎么样了" in text  # it may have started: ask, do not just resend
    agent.gate.set()


async def test_a_gone_session_falls_back_to_the_group_openapi(client, agent, dingtalk):
    dingtalk.webhook_answer = {"errcode": 300001, "errmsg": "session 不存在"}
    agent.reply = reply_with("好的")

    await deliver(client, group_message())

    [send] = await dingtalk.wait_for("/v1.0/robot/groupMessages/send")
    [webhook_try] = dingtalk.calls(SESSION_PATH)
    assert json.loads(webhook_try.content) == text_to("好的")
    [token_call] = dingtalk.calls("/v1.0/oauth2/accessToken")
    assert str(token_call.url) == "http://dingtalk.test/v1.0/oauth2/accessToken"
    assert json.loads(token_call.content) == {"appKey": "app-key-1", "appSecret": SECRET}
    assert str(send.url) == "http://dingtalk.test/v1.0/robot/groupMessages/send"
    assert send.headers["x-acs-dingtalk-access-token"] == "token-1"
    sent = json.loads(send.content)
    assert json.loads(sent.pop("msgParam")) == {"content": "好的\n@user123"}
    assert sent == {"robotCode": "dingrobot-1", "openConversationId": CID, "msgKey": "sampleText"}


async def test_a_gone_session_in_a_single_chat_falls_back_to_batch_send(client, agent, dingtalk):
    dingtalk.webhook_answer = {"errcode": 300001, "errmsg": "session not exist"}
    agent.reply = reply_with("好的")

    await deliver(client, single_message())

    [send] = await dingtalk.wait_for("/v1.0/robot/oToMessages/batchSend")
    sent = json.loads(send.content)
    assert json.loads(sent.pop("msgParam")) == {"content": "好的"}
    assert sent == {"robotCode": "dingrobot-1", "userIds": ["user123"], "msgKey": "sampleText"}


async def test_an_expired_session_is_not_tried(client, agent, dingtalk):
    agent.reply = reply_with("好的")

    await deliver(client, group_message(sessionWebhookExpiredTime=now_ms() - 1000))

    await dingtalk.wait_for("/v1.0/robot/groupMessages/send")
    assert dingtalk.calls(SESSION_PATH) == []


# ------------------------------------------------------------------------------ once bugs


@pytest.fixture
def process_runtime(make_runtime):
    """A different runtime in the process-wide slot, as `rasa run` would build from its env."""
    server_runtime.install(make_runtime(start=False, DINGTALK_APP_SECRET="process-env-secret"))
    yield server_runtime.get()
    server_runtime.install(None)


async def test_signature_is_checked_with_the_injected_runtimes_secret(
    process_runtime, client, runtime, agent
):
    response = await deliver(
        client, group_message(), headers=signed_headers(runtime.settings.dingtalk_app_secret)
    )

    assert response.status_code == 200


async def test_server_start_starts_the_channels_own_runtime(process_runtime, serve, make_runtime):
    injected = make_runtime(start=False)

    await serve(DingTalkInput(runtime=lambda: injected), listeners=True)

    assert injected.started
    assert not process_runtime.started


async def test_external_senders_are_not_mentioned_by_their_encrypted_id(client, agent, dingtalk):
    agent.reply = reply_with("好的")

    await deliver(client, group_message(senderStaffId=None))

    [request] = await dingtalk.wait_for(SESSION_PATH)
    body = json.loads(request.content)
    assert "$:LWCP_v1:$" not in body["text"]["content"]
    assert "$:LWCP_v1:$Ff09GIxxxxx" not in body.get("at", {}).get("atUserIds", [])
