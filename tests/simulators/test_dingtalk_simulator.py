"""The DingTalk simulator as a real process, driven over HTTP and WebSocket like DingTalk."""

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List

import httpx
import pytest
import websockets

from chatops.dingtalk.inbound import MalformedMessage, ReplyTarget, parse_message
from chatops.dingtalk.messages import markdown_message, text_message
from chatops.dingtalk.sender import DeliveryFailed, DingTalkSender
from chatops.dingtalk.signing import SignatureError, verify_request
from devstack.process import ServerProcess, free_port, python_module

APP_KEY = "demo-app-key"
APP_SECRET = "demo-app-secret"


class Receiver:
    """A minimal bot endpoint: verifies DingTalk's signature with our signing module."""

    def __init__(self) -> None:
        self.calls: List[Dict[str, Any]] = []
        self.reply: Dict[str, Any] = {"msgtype": "empty"}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                call = {"headers": {k.lower(): v for k, v in self.headers.items()}, "raw": raw}
                try:
                    verify_request(
                        self.headers.get("timestamp"), self.headers.get("sign"), APP_SECRET
                    )
                except SignatureError as exc:
                    call["rejected"] = exc.reason
                    status, body = 401, {"error": exc.reason}
                else:
                    status, body = 200, receiver.reply
                receiver.calls.append(call)
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/dingtalk/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def sim_process(receiver):
    port = free_port()
    argv = python_module(
        "simulators.dingtalk",
        "--port",
        str(port),
        "--app-key",
        APP_KEY,
        "--app-secret",
        APP_SECRET,
        "--bot-url",
        receiver.url,
        "--session-ttl-seconds",
        "5400",
        "--rate-limit",
        "20",
    )
    with ServerProcess("dingtalk-sim-test", argv, port, health_path="/_sim/health") as proc:
        yield proc


@pytest.fixture
def sim(sim_process, receiver):
    """Each test starts from a fresh simulator state and an empty receiver log."""
    httpx.post(sim_process.url + "/_sim/reset").raise_for_status()
    receiver.calls.clear()
    receiver.reply = {"msgtype": "empty"}
    return sim_process.url


def post(url: str, body: Any = None, **kw: Any) -> httpx.Response:
    return httpx.post(url, json=body if body is not None else {}, timeout=10, **kw)


def messages(sim: str, **params: Any) -> List[Dict[str, Any]]:
    response = httpx.get(sim + "/_sim/messages", params=params)
    response.raise_for_status()
    return response.json()["messages"]


# ------------------------------------------------------------------ DingTalk -> bot


def test_say_delivers_a_signed_group_callback(sim, receiver):
    before = int(time.time() * 1000)
    result = post(
        sim + "/_sim/say",
        {
            "text": "部署 user-service 到 dev",
            "user": "user123",
            "nick": "张三",
            "conversation": "cid-group-1",
            "group": True,
        },
    ).json()
    assert result["status"] == 200
    assert json.loads(result["body"]) == {"msgtype": "empty"}
    [call] = receiver.calls
    assert "rejected" not in call
    headers = call["headers"]
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert abs(int(headers["timestamp"]) - before) < 5000
    verify_request(headers["timestamp"], headers["sign"], APP_SECRET)

    body = json.loads(call["raw"])
    assert body["text"] == {"content": " 部署 user-service 到 dev"}
    assert body["conversationType"] == "2"
    assert body["conversationId"] == "cid-group-1"
    assert body["conversationTitle"]
    assert body["senderStaffId"] == "user123" and body["senderNick"] == "张三"
    assert body["msgId"] == result["msg_id"]
    assert isinstance(body["createAt"], int)
    assert body["sessionWebhookExpiredTime"] - body["createAt"] == pytest.approx(
        5_400_000, abs=2000
    )
    assert body["sessionWebhook"] == f"{sim}/robot/sendBySession?session={result['session']}"
    assert body["robotCode"] == APP_KEY
    assert body["chatbotUserId"] and body["senderCorpId"] and body["senderId"]
    assert body["isInAtList"] is True
    assert body["atUsers"][0]["dingtalkId"] == body["chatbotUserId"]
    assert body["senderPlatform"] == "Mac"

    msg = parse_message(call["raw"])
    assert msg.text == "部署 user-service 到 dev" and msg.is_group and msg.user_id == "user123"


def test_external_sender_has_another_corp_and_no_staff_id(sim, receiver):
    # docs/dingtalk.md §1.4: senderStaffId only for org members, senderCorpId their corp.
    spec = {"text": "部署 user-service 到 dev", "user": "ext001", "msg_id": "msgSameId=="}
    post(sim + "/_sim/say", spec).raise_for_status()
    post(sim + "/_sim/say", {**spec, "external": True}).raise_for_status()
    member, outsider = (json.loads(c["raw"]) for c in receiver.calls)
    assert member["senderCorpId"] == member["chatbotCorpId"]
    assert member["senderStaffId"] == "ext001"
    assert outsider["senderCorpId"] == "dingexternalcorp0000001"
    assert outsider["chatbotCorpId"] == member["chatbotCorpId"]
    assert "senderStaffId" not in outsider
    # Everything else is as for a member (the times and the session aside).
    volatile = {"senderCorpId", "senderStaffId", "createAt", "sessionWebhookExpiredTime"}
    assert {k: v for k, v in outsider.items() if k not in volatile} == {
        k: v for k, v in member.items() if k not in volatile
    }


def test_say_single_chat_and_redelivery(sim, receiver):
    first = post(sim + "/_sim/say", {"text": "你好", "user": "user456", "group": False}).json()
    again = post(
        sim + "/_sim/say",
        {"text": "你好", "user": "user456", "group": False, "msg_id": first["msg_id"]},
    ).json()
    one, two = (json.loads(c["raw"]) for c in receiver.calls)
    assert one["conversationType"] == "1"
    assert "conversationTitle" not in one and "atUsers" not in one
    assert one["text"] == {"content": "你好"}
    assert two["msgId"] == one["msgId"] == first["msg_id"]
    assert again["session"] == first["session"]  # same live session for the same chat


@pytest.mark.parametrize(
    "override,reason",
    [
        ({"sign": "Zm9yZ2VkIHNpZ25hdHVyZQ=="}, "forged"),
        ({"timestamp_offset_ms": -3_601_000}, "stale"),
        ({"timestamp_offset_ms": 3_601_000}, "stale"),
        ({"omit_headers": True}, "missing"),
    ],
)
def test_say_negative_signatures(sim, receiver, override, reason):
    result = post(sim + "/_sim/say", {"text": "hi", **override}).json()
    assert result["status"] == 401
    assert receiver.calls[-1]["rejected"] == reason


def test_say_raw_body_is_sent_as_is_and_signed(sim, receiver):
    result = post(sim + "/_sim/say", {"raw_body": "{not json"}).json()
    assert result["status"] == 200
    assert receiver.calls[-1]["raw"] == b"{not json"
    with pytest.raises(MalformedMessage):
        parse_message(receiver.calls[-1]["raw"])


@pytest.mark.parametrize(
    "msgtype,key",
    [
        ("picture", "downloadCode"),
        ("richText", "richText"),
        ("video", "videoType"),
        ("file", "fileName"),
        ("unknownMsgType", "unknownMsgType"),
    ],
)
def test_say_non_text_types(sim, receiver, msgtype, key):
    post(sim + "/_sim/say", {"msgtype": msgtype, "text": "x"})
    body = json.loads(receiver.calls[-1]["raw"])
    assert body["msgtype"] == msgtype and "text" not in body and key in body["content"]
    assert parse_message(body).supported is False


def test_say_audio_with_and_without_recognition(sim, receiver):
    post(sim + "/_sim/say", {"msgtype": "audio", "recognition": "查看部署状态"})
    post(sim + "/_sim/say", {"msgtype": "audio"})
    with_text, without = (parse_message(c["raw"]) for c in receiver.calls)
    assert with_text.supported and with_text.text == "查看部署状态"
    assert not without.supported


def test_say_reports_an_unreachable_bot(sim):
    response = post(
        sim + "/_sim/say", {"text": "hi", "bot_url": f"http://127.0.0.1:{free_port()}/x"}
    )
    assert response.status_code == 502
    assert "unreachable" in response.json()["error"]


def test_synchronous_reply_body_is_posted_to_the_chat(sim, receiver):
    receiver.reply = {"msgtype": "text", "text": {"content": "收到"}}
    post(sim + "/_sim/say", {"text": "hi", "conversation": "cid-sync"})
    [message] = messages(sim, conversation="cid-sync")
    assert message["route"] == "sync_response" and message["text"] == "收到"


# ------------------------------------------------------------- bot -> DingTalk: webhook


def test_session_webhook_ok_then_gone_after_expiry(sim, receiver):
    say = post(sim + "/_sim/say", {"text": "hi", "conversation": "cid-a"}).json()
    webhook = json.loads(receiver.calls[-1]["raw"])["sessionWebhook"]
    reply = text_message("发布完成", ["user123"])
    assert post(webhook, reply).json() == {"errcode": 0, "errmsg": "ok"}
    [message] = messages(sim, conversation="cid-a")
    assert message["route"] == "session_webhook"
    assert message["text"] == "发布完成\n@user123"
    assert message["at_user_ids"] == ["user123"]
    assert message["session"] == say["session"]

    assert post(sim + "/_sim/expire_sessions").json()["expired"] >= 1
    gone = post(webhook, reply)
    assert gone.status_code == 200
    assert gone.json() == {"errcode": 300001, "errmsg": "session 不存在"}
    assert post(f"{sim}/robot/sendBySession?session=nope", reply).json()["errcode"] == 300001
    assert len(messages(sim, conversation="cid-a")) == 1

    fresh = post(sim + "/_sim/say", {"text": "hi again", "conversation": "cid-a"}).json()
    assert fresh["session"] != say["session"]


def test_session_expires_by_ttl(sim, receiver):
    post(sim + "/_sim/config", {"session_ttl_seconds": 1})
    post(sim + "/_sim/say", {"text": "hi", "conversation": "cid-ttl"})
    webhook = json.loads(receiver.calls[-1]["raw"])["sessionWebhook"]
    time.sleep(1.2)
    assert post(webhook, text_message("late")).json()["errcode"] == 300001


def test_webhook_rejects_malformed_messages(sim, receiver):
    post(sim + "/_sim/say", {"text": "hi"})
    webhook = json.loads(receiver.calls[-1]["raw"])["sessionWebhook"]
    assert post(webhook, {"msgtype": "text", "text": {}}).json()["errcode"] != 0
    assert httpx.post(webhook, content=b"{bad").json()["errcode"] != 0
    assert messages(sim) == []


def test_rate_limit_answers_130101(sim, receiver):
    post(sim + "/_sim/config", {"rate_limit": 3})
    post(sim + "/_sim/say", {"text": "hi"})
    webhook = json.loads(receiver.calls[-1]["raw"])["sessionWebhook"]
    answers = [post(webhook, text_message(f"m{i}")).json()["errcode"] for i in range(5)]
    assert answers == [0, 0, 0, 130101, 130101]
    too_fast = post(webhook, text_message("x")).json()
    assert too_fast["errmsg"].startswith("send too fast")
    assert [m["text"] for m in messages(sim)] == ["m0", "m1", "m2"]
    # The OpenAPI shares the robot's budget.
    token = post(
        sim + "/v1.0/oauth2/accessToken", {"appKey": APP_KEY, "appSecret": APP_SECRET}
    ).json()
    throttled = post(
        sim + "/v1.0/robot/groupMessages/send",
        {
            "robotCode": APP_KEY,
            "openConversationId": "cid-group-1",
            "msgKey": "sampleText",
            "msgParam": '{"content":"x"}',
        },
        headers={"x-acs-dingtalk-access-token": token["accessToken"]},
    )
    assert throttled.status_code == 400
    assert throttled.json()["code"] == "sendTooFast" and throttled.json()["errcode"] == 130101


# --------------------------------------------------------------- bot -> DingTalk: OpenAPI


def test_openapi_token_and_group_send(sim):
    bad = post(sim + "/v1.0/oauth2/accessToken", {"appKey": APP_KEY, "appSecret": "wrong"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalidClientIdOrSecret"
    token = post(
        sim + "/v1.0/oauth2/accessToken", {"appKey": APP_KEY, "appSecret": APP_SECRET}
    ).json()
    assert token["expireIn"] == 7200 and token["accessToken"]

    body = {
        "robotCode": APP_KEY,
        "openConversationId": "cid-group-1",
        "msgKey": "sampleMarkdown",
        "msgParam": json.dumps({"title": "发布", "text": "### 完成"}, ensure_ascii=False),
    }
    no_token = post(sim + "/v1.0/robot/groupMessages/send", body)
    assert no_token.status_code == 401 and no_token.json()["code"] == "InvalidAuthentication"
    headers = {"x-acs-dingtalk-access-token": token["accessToken"]}
    sent = post(sim + "/v1.0/robot/groupMessages/send", body, headers=headers)
    assert sent.status_code == 200 and sent.json()["processQueryKey"]
    [message] = messages(sim, conversation="cid-group-1")
    assert message["route"] == "openapi_group"
    assert (message["msgtype"], message["title"], message["text"]) == (
        "markdown",
        "发布",
        "### 完成",
    )

    not_a_string = post(
        sim + "/v1.0/robot/groupMessages/send",
        {**body, "msgParam": {"title": "t", "text": "x"}},
        headers=headers,
    )
    assert not_a_string.status_code == 400
    wrong_robot = post(
        sim + "/v1.0/robot/groupMessages/send", {**body, "robotCode": "other"}, headers=headers
    )
    assert wrong_robot.status_code == 400
    assert len(messages(sim)) == 1


def test_openapi_batch_send_maps_user_to_their_chat(sim, receiver):
    post(
        sim + "/_sim/say",
        {"text": "hi", "user": "user456", "group": False, "conversation": "cid-single-x"},
    )
    token = post(
        sim + "/v1.0/oauth2/accessToken", {"appKey": APP_KEY, "appSecret": APP_SECRET}
    ).json()
    sent = post(
        sim + "/v1.0/robot/oToMessages/batchSend",
        {
            "robotCode": APP_KEY,
            "userIds": ["user456"],
            "msgKey": "sampleText",
            "msgParam": '{"content":"好的"}',
        },
        headers={"x-acs-dingtalk-access-token": token["accessToken"]},
    ).json()
    assert sent["processQueryKey"] and sent["invalidStaffIdList"] == []
    [message] = messages(sim, conversation="cid-single-x")
    assert message["route"] == "openapi_single" and message["user_ids"] == ["user456"]
    assert message["text"] == "好的"


def test_messages_since_index_and_reset(sim, receiver):
    post(sim + "/_sim/say", {"text": "hi"})
    webhook = json.loads(receiver.calls[-1]["raw"])["sessionWebhook"]
    for i in range(3):
        post(webhook, text_message(f"m{i}"))
    listing = httpx.get(sim + "/_sim/messages", params={"since": 1}).json()
    assert [m["text"] for m in listing["messages"]] == ["m1", "m2"]
    assert listing["next"] == 3
    post(sim + "/_sim/reset")
    assert messages(sim) == []
    assert post(webhook, text_message("x")).json()["errcode"] == 300001


async def test_sender_against_the_simulator(sim, receiver):
    post(sim + "/_sim/say", {"text": "部署", "conversation": "cid-e2e"})
    target = parse_message(receiver.calls[-1]["raw"]).reply_target()
    target = ReplyTarget.from_dict(json.loads(json.dumps(target.to_dict())))
    async with DingTalkSender(sim, APP_KEY, APP_SECRET, APP_KEY) as sender:
        first = await sender.send(target, markdown_message("发布", "开始部署", [target.user_id]))
        assert first.route == "session_webhook"
        post(sim + "/_sim/expire_sessions")
        second = await sender.send(target, text_message("部署完成"))
        assert second.route == "openapi_group" and second.attempts == 2
        bad = DingTalkSender(sim, APP_KEY, "wrong-secret", APP_KEY)
        with pytest.raises(DeliveryFailed, match="invalidClientIdOrSecret"):
            await bad.send(target, text_message("x"))
        await bad.aclose()
    routes = [(m["route"], m["text"]) for m in messages(sim, conversation="cid-e2e")]
    assert routes == [("session_webhook", "开始部署\n\n@user123"), ("openapi_group", "部署完成")]


# ----------------------------------------------------------------------- Stream mode


def open_connection(sim: str, secret: str = APP_SECRET) -> httpx.Response:
    return post(
        sim + "/v1.0/gateway/connections/open",
        {
            "clientId": APP_KEY,
            "clientSecret": secret,
            "subscriptions": [{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}],
            "ua": "chatops-test",
            "localIp": "127.0.0.1",
        },
    )


async def wait_connected(sim: str, expected: bool = True) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            status = (await client.get(sim + "/_sim/stream/status")).json()
            if status["connected"] is expected:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"stream connected never became {expected}")


async def test_stream_callback_and_ack(sim):
    assert open_connection(sim, "wrong").status_code in (400, 401)
    assert (await _status(sim))["connected"] is False
    opened = open_connection(sim).json()
    assert opened["endpoint"].startswith("ws://127.0.0.1:") and opened["endpoint"].endswith(
        "/connect"
    )
    url = f"{opened['endpoint']}?ticket={opened['ticket']}"
    async with websockets.connect(url) as ws:
        await wait_connected(sim)
        async with httpx.AsyncClient() as client:
            pushed = (
                await client.post(
                    sim + "/_sim/stream/say",
                    json={
                        "text": "部署 user-service",
                        "user": "user123",
                        "conversation": "cid-group-1",
                    },
                )
            ).json()
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["specVersion"] == "1.0" and frame["type"] == "CALLBACK"
        assert frame["headers"]["topic"] == "/v1.0/im/bot/messages/get"
        assert frame["headers"]["contentType"] == "application/json"
        assert frame["headers"]["appId"] == APP_KEY
        assert frame["headers"]["messageId"] == pushed["messageId"]
        assert frame["headers"]["time"].isdigit()
        assert isinstance(frame["data"], str)
        msg = parse_message(frame["data"])
        assert msg.text == "部署 user-service" and msg.msg_id == pushed["msg_id"]
        assert msg.session_webhook.endswith(f"session={pushed['session']}")

        await ws.send(
            json.dumps(
                {
                    "code": 200,
                    "headers": {
                        "messageId": frame["headers"]["messageId"],
                        "contentType": "application/json",
                    },
                    "message": "OK",
                    "data": json.dumps({"response": "OK"}),
                }
            )
        )
        acks = await _acks(sim, 1)
        assert acks[0]["messageId"] == pushed["messageId"]
        assert acks[0]["code"] == 200 and acks[0]["type"] == "CALLBACK"
        assert json.loads(acks[0]["data"]) == {"response": "OK"}

        # The session webhook from a Stream callback works like the HTTP one.
        assert post(msg.session_webhook, text_message("收到")).json()["errcode"] == 0

    # Tickets are one-use.
    with pytest.raises(websockets.exceptions.InvalidStatusCode) as info:
        async with websockets.connect(url):
            pass
    assert info.value.status_code == 403
    await wait_connected(sim, expected=False)
    async with httpx.AsyncClient() as client:
        assert (await client.post(sim + "/_sim/stream/say", json={"text": "x"})).status_code == 409


async def test_stream_ping_and_disconnect(sim):
    opened = open_connection(sim).json()
    async with websockets.connect(f"{opened['endpoint']}?ticket={opened['ticket']}") as ws:
        await wait_connected(sim)
        async with httpx.AsyncClient() as client:
            await client.post(sim + "/_sim/stream/ping")
            ping = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert ping["type"] == "SYSTEM" and ping["headers"]["topic"] == "ping"
            opaque = json.loads(ping["data"])["opaque"]
            await ws.send(
                json.dumps(
                    {"code": 200, "headers": ping["headers"], "message": "OK", "data": ping["data"]}
                )
            )
            acks = await _acks(sim, 1)
            assert acks[0]["topic"] == "ping" and json.loads(acks[0]["data"]) == {"opaque": opaque}

            await client.post(sim + "/_sim/stream/disconnect", json={"close_after_seconds": 0.2})
            bye = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert bye["type"] == "SYSTEM" and bye["headers"]["topic"] == "disconnect"
            assert json.loads(bye["data"]) == {"reason": "connection is expired"}
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
    await wait_connected(sim, expected=False)


async def _status(sim: str) -> Dict[str, Any]:
    async with httpx.AsyncClient() as client:
        return (await client.get(sim + "/_sim/stream/status")).json()


async def _acks(sim: str, count: int) -> List[Dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            acks = (await client.get(sim + "/_sim/stream/acks")).json()["acks"]
            if len(acks) >= count:
                return acks
            await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} acks recorded")
