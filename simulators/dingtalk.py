"""A stand-in for DingTalk (钉钉) that the bot cannot tell from the real service.

It plays both sides of /work/shared/reference/dingtalk.md:

* DingTalk -> bot. ``POST /_sim/say`` builds the full callback body of §1.5 (leading space in
  group text, ``atUsers``, ``sessionWebhook`` pointing back here, unknown extra keys ...), signs
  it as in §1.3 and POSTs it to the bot's URL. ``POST /_sim/stream/say`` pushes the same body
  as a Stream-mode CALLBACK frame (§4.2) to a client connected over the WebSocket gateway.
* bot -> DingTalk. The session webhook (``/robot/sendBySession``), the OpenAPI access token and
  the robot send endpoints (``/v1.0/robot/groupMessages/send``, ``oToMessages/batchSend``),
  with DingTalk's error answers: 300001 for a gone session, 130101 over the per-robot rate
  limit, HTTP 400/401 bodies ``{"code","message"}`` for the OpenAPI.

Every message the bot sends is recorded; ``GET /_sim/messages`` lists them for tests and the
demo REPL.

Control endpoints (JSON in, JSON out):

* ``POST /_sim/say`` ``{"text", "user", "nick", "conversation", "group", "msgtype", "recognition",
  "msg_id", "timestamp_offset_ms", "sign", "raw_body", "omit_headers", "bot_url", "admin",
  "external", "title", "at_users"}`` -> ``{"status", "body", "msg_id", "session",
  "conversation", "callback"}`` (502 if the bot is unreachable).
* ``GET /_sim/messages?conversation=<cid>&since=<index>`` -> ``{"messages": [...], "next": n}``;
  each message has index, conversation, route (session_webhook / openapi_group /
  openapi_single / sync_response), msgtype, title, text, at_user_ids, is_at_all, user_ids,
  session, time_ms and the decoded payload.
* ``GET /_sim/inbound`` (every callback sent to the bot), ``POST /_sim/expire_sessions``,
  ``POST /_sim/reset`` (back to the start-up state and config), ``POST /_sim/config
  {"rate_limit", "session_ttl_seconds", "bot_url"}``, ``GET /_sim/health``.
* Stream: ``POST /v1.0/gateway/connections/open``, WebSocket ``/connect?ticket=``,
  ``POST /_sim/stream/say`` (same fields as /_sim/say, plus ``wait_ack_seconds``; 409 without a
  client), ``GET /_sim/stream/acks``, ``POST /_sim/stream/ping``, ``POST /_sim/stream/disconnect
  {"close_after_seconds": 10}``, ``GET /_sim/stream/status``.

Sessions: one live session per conversation (per user for 1:1 chats), reused until it expires
or is revoked by ``/_sim/expire_sessions``; the next message then opens a new one. The rate
limit is one sliding 60 s window per robot shared by every send route (no 10-minute penalty).
A JSON message in the bot's HTTP response body is recorded as route ``sync_response``
(historic behaviour, reference §2.1); ``{"msgtype":"empty"}`` or an empty body is ignored.

The OpenAPI throttle answer is not documented publicly; this simulator answers
HTTP 400 ``{"code":"sendTooFast","message":"send too fast, exceed 20 times per minute",
"errcode":130101,"requestid":...}`` so both the code/message and the errcode reading apply.

Run: ``python -m simulators.dingtalk --port 7080 --app-key demo-app-key --app-secret
demo-app-secret --bot-url http://127.0.0.1:5005/webhooks/dingtalk/webhook``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import logging
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

import httpx
from sanic import Request, Sanic
from sanic.response import HTTPResponse
from sanic.response import json as _sanic_json

from chatops.dingtalk.signing import sign as dingtalk_sign

logger = logging.getLogger("simulators.dingtalk")

CORP_ID = "dingsimcorp0000000001"
BOT_DINGTALK_ID = "$:LWCP_v1:$simBotDingtalkId0000"
STREAM_TOPIC = "/v1.0/im/bot/messages/get"
TICKET_TTL_S = 90.0
TOKEN_TTL_S = 7200
MSG_PARAM_MAX_BYTES = 15_000
TOO_FAST_MSG = "send too fast, exceed {n} times per minute"
BAD_CLIENT_MSG = "无效的clientId或者clientSecret"
UNKNOWN_MSG_NOTICE = "用户发送了一条消息，机器人暂不支持接收。"

WEBHOOK_MSGTYPES = {"text", "markdown", "link", "actionCard", "feedCard", "empty"}
OPENAPI_MSGKEYS = {
    "sampleText": "text",
    "sampleMarkdown": "markdown",
    "sampleLink": "link",
    "sampleImageMsg": "image",
    "sampleActionCard": "actionCard",
    "sampleActionCard2": "actionCard",
    "sampleActionCard3": "actionCard",
    "sampleActionCard4": "actionCard",
    "sampleActionCard5": "actionCard",
    "sampleActionCard6": "actionCard",
    "sampleAudio": "audio",
    "sampleFile": "file",
    "sampleVideo": "video",
}

_dumps = partial(json.dumps, ensure_ascii=False)
_app_numbers = itertools.count(1)


def _json(body: Any, status: int = 200) -> HTTPResponse:
    return _sanic_json(body, status=status, dumps=_dumps)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _request_id() -> str:
    return secrets.token_hex(8).upper()


@dataclass
class Session:
    key: str
    conversation_id: str
    is_group: bool
    user_id: str
    expires_ms: int
    revoked: bool = False


@dataclass
class SimConfig:
    app_key: str
    app_secret: str
    robot_code: str
    bot_url: str
    session_ttl_seconds: float = 5400.0
    rate_limit: int = 20
    public_url: str = ""


@dataclass
class StreamClient:
    ws: Any
    connected_at_ms: int
    closed: bool = False


@dataclass
class SimState:
    config: SimConfig
    sessions: Dict[str, Session] = field(default_factory=dict)
    messages: List[Dict[str, Any]] = field(default_factory=list)
    inbound: List[Dict[str, Any]] = field(default_factory=list)
    sent_at: Deque[float] = field(default_factory=deque)
    tokens: Dict[str, float] = field(default_factory=dict)
    tickets: Dict[str, float] = field(default_factory=dict)
    single_chats: Dict[str, str] = field(default_factory=dict)
    stream_clients: List[StreamClient] = field(default_factory=list)
    acks: List[Dict[str, Any]] = field(default_factory=list)
    pushed: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    # ---- rate limit: one sliding 60 s window per robot, across all send routes
    def take_send_slot(self) -> bool:
        now = time.monotonic()
        while self.sent_at and now - self.sent_at[0] >= 60.0:
            self.sent_at.popleft()
        limit = self.config.rate_limit
        if limit > 0 and len(self.sent_at) >= limit:
            return False
        self.sent_at.append(now)
        return True

    def session_for(self, conversation_id: str, is_group: bool, user_id: str) -> Session:
        """Reuse the conversation's live session (as DingTalk does), else open a new one."""
        now = _now_ms()
        for session in self.sessions.values():
            if (
                session.conversation_id == conversation_id
                and not session.revoked
                and session.expires_ms > now + 60_000
                and session.is_group == is_group
                and (is_group or session.user_id == user_id)
            ):
                return session
        session = Session(
            key=secrets.token_hex(16),
            conversation_id=conversation_id,
            is_group=is_group,
            user_id=user_id,
            expires_ms=now + int(self.config.session_ttl_seconds * 1000),
        )
        self.sessions[session.key] = session
        return session

    def record(
        self,
        *,
        conversation: str,
        route: str,
        msgtype: str,
        payload: Dict[str, Any],
        at_user_ids: Sequence[str] = (),
        is_at_all: bool = False,
        user_ids: Sequence[str] = (),
        session: str = "",
    ) -> Dict[str, Any]:
        body = payload.get(msgtype) if isinstance(payload.get(msgtype), dict) else payload
        entry = {
            "index": len(self.messages),
            "conversation": conversation,
            "route": route,
            "msgtype": msgtype,
            "title": str(body.get("title") or ""),
            "text": str(body.get("content") if "content" in body else body.get("text") or ""),
            "at_user_ids": list(at_user_ids),
            "is_at_all": is_at_all,
            "user_ids": list(user_ids),
            "session": session,
            "time_ms": _now_ms(),
            "payload": payload,
        }
        self.messages.append(entry)
        return entry

    def live_stream_client(self) -> Optional[StreamClient]:
        for client in reversed(self.stream_clients):
            if not client.closed:
                return client
        return None


# ----------------------------------------------------------------- callback bodies


def build_callback(
    state: SimState, request: Request, spec: Dict[str, Any]
) -> Tuple[Dict[str, Any], Session]:
    """The §1.5 body DingTalk would send for a user message described by ``spec``."""
    cfg = state.config
    group = bool(spec.get("group", True))
    user = str(spec.get("user") or "user123")
    nick = str(spec.get("nick") or "张三")
    external = bool(spec.get("external", False))
    if spec.get("conversation"):
        conversation = str(spec["conversation"])
    elif group:
        conversation = "cid-group-1"
    else:
        conversation = state.single_chats.get(user) or f"cid-single-{user}"
    if not group:
        state.single_chats[user] = conversation
    session = state.session_for(conversation, group, user)
    now = _now_ms()
    sender_id = "$:LWCP_v1:$" + hashlib.sha1(user.encode()).hexdigest()[:22]
    msgtype = str(spec.get("msgtype") or "text")
    text = str(spec.get("text") or "")
    base = cfg.public_url or f"{request.scheme}://{request.host}"

    body: Dict[str, Any] = {"conversationId": conversation}
    if group:
        at_users = [{"dingtalkId": BOT_DINGTALK_ID}]
        for other in spec.get("at_users") or []:
            at_users.append(
                {
                    "dingtalkId": "$:LWCP_v1:$"
                    + hashlib.sha1(str(other).encode()).hexdigest()[:22],
                    "staffId": str(other),
                }
            )
        body["atUsers"] = at_users
    body.update(
        {
            "chatbotCorpId": CORP_ID,
            "chatbotUserId": BOT_DINGTALK_ID,
            "msgId": str(spec.get("msg_id") or "msg" + secrets.token_urlsafe(15) + "=="),
            "senderNick": nick,
            "isAdmin": bool(spec.get("admin", False)),
        }
    )
    if not external:
        body["senderStaffId"] = user
    body.update(
        {
            "sessionWebhookExpiredTime": session.expires_ms,
            "createAt": now,
            "senderCorpId": CORP_ID,
            "conversationType": "2" if group else "1",
            "senderId": sender_id,
        }
    )
    if group:
        body["conversationTitle"] = str(spec.get("title") or "测试群")
        body["isInAtList"] = True
    body.update(
        {
            "sessionWebhook": f"{base}/robot/sendBySession?session={session.key}",
            "robotCode": cfg.robot_code,
            "msgtype": msgtype,
            "senderPlatform": "Mac",  # an extra key real payloads carry; parsers must ignore it
        }
    )
    body.update(_content(msgtype, text, group, spec))
    return body, session


def _content(msgtype: str, text: str, group: bool, spec: Dict[str, Any]) -> Dict[str, Any]:
    code = secrets.token_urlsafe(24)
    if msgtype == "text":
        # DingTalk strips "@robot" in groups and keeps the space that followed it.
        return {"text": {"content": (" " + text) if group else text}}
    if msgtype == "picture":
        return {"content": {"pictureDownloadCode": code, "downloadCode": code}}
    if msgtype == "richText":
        return {
            "content": {
                "richText": [
                    {"text": text or "看下这张图"},
                    {"pictureDownloadCode": code, "downloadCode": code, "type": "picture"},
                ]
            }
        }
    if msgtype == "audio":
        content: Dict[str, Any] = {"downloadCode": code, "duration": 3000}
        if spec.get("recognition"):
            content["recognition"] = str(spec["recognition"])
        return {"content": content}
    if msgtype == "video":
        return {"content": {"duration": "5", "videoType": "mp4", "downloadCode": code}}
    if msgtype == "file":
        return {
            "content": {
                "spaceId": "2040000000",
                "fileName": text or "foobar.zip",
                "downloadCode": code,
                "fileId": secrets.token_hex(6),
            }
        }
    return {"content": {"unknownMsgType": UNKNOWN_MSG_NOTICE}}


def _signed_headers(state: SimState, spec: Dict[str, Any]) -> Dict[str, str]:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if spec.get("omit_headers"):
        return headers
    timestamp = str(_now_ms() + int(spec.get("timestamp_offset_ms") or 0))
    headers["timestamp"] = timestamp
    headers["sign"] = (
        str(spec["sign"]) if spec.get("sign") else dingtalk_sign(timestamp, state.config.app_secret)
    )
    return headers


def _read_json(request: Request) -> Tuple[Optional[Any], Optional[HTTPResponse]]:
    try:
        return json.loads(request.body or b"{}"), None
    except ValueError:
        return None, _json({"error": "body is not JSON"}, 400)


def _read_object(request: Request) -> Tuple[Dict[str, Any], Optional[HTTPResponse]]:
    """A control request's JSON object, or the 400 answer for anything else."""
    spec, error = _read_json(request)
    if error is None and not isinstance(spec, dict):
        error = _json({"error": "body must be a JSON object"}, 400)
    return (spec if isinstance(spec, dict) else {}), error


# --------------------------------------------------------------------- the app


def create_app(
    app_key: str = "demo-app-key",
    app_secret: str = "demo-app-secret",
    bot_url: str = "http://127.0.0.1:5005/webhooks/dingtalk/webhook",
    *,
    robot_code: Optional[str] = None,
    session_ttl_seconds: float = 5400.0,
    rate_limit: int = 20,
    public_url: str = "",
    bot_timeout: float = 60.0,
) -> Sanic:
    """A Sanic app simulating DingTalk for one enterprise-internal robot."""
    initial = SimConfig(
        app_key=app_key,
        app_secret=app_secret,
        robot_code=robot_code or app_key,
        bot_url=bot_url,
        session_ttl_seconds=session_ttl_seconds,
        rate_limit=rate_limit,
        public_url=public_url.rstrip("/"),
    )
    app = Sanic(f"dingtalk_sim_{next(_app_numbers)}")
    app.config.KEEP_ALIVE_TIMEOUT = 30
    app.config.WEBSOCKET_PING_INTERVAL = None  # the gateway does not ping at WS level
    app.ctx.state = SimState(config=SimConfig(**vars(initial)))

    def state() -> SimState:
        return app.ctx.state

    @app.before_server_start
    async def _open_client(app_: Sanic, _loop: Any) -> None:
        app_.ctx.http = httpx.AsyncClient(timeout=bot_timeout)

    @app.after_server_stop
    async def _close_client(app_: Sanic, _loop: Any) -> None:
        await app_.ctx.http.aclose()

    # ------------------------------------------------------ control: DingTalk -> bot

    @app.post("/_sim/say")
    async def say(request: Request) -> HTTPResponse:
        spec, error = _read_object(request)
        if error:
            return error
        st = state()
        body, session = build_callback(st, request, spec)
        if spec.get("raw_body") is not None:
            payload = str(spec["raw_body"]).encode("utf-8")
        else:
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = _signed_headers(st, spec)
        url = str(spec.get("bot_url") or st.config.bot_url)
        st.inbound.append(
            {
                "route": "http",
                "url": url,
                "headers": headers,
                "body": body,
                "raw_body": spec.get("raw_body"),
            }
        )
        try:
            response = await app.ctx.http.post(url, content=payload, headers=headers)
        except httpx.HTTPError as exc:
            return _json(
                {
                    "error": f"bot unreachable at {url}: {type(exc).__name__}: {exc}",
                    "msg_id": body["msgId"],
                    "session": session.key,
                },
                502,
            )
        logger.info(
            "say %s/%s -> %s: HTTP %s",
            body["conversationId"],
            body["msgId"],
            url,
            response.status_code,
        )
        _record_sync_reply(st, body, response)
        return _json(
            {
                "status": response.status_code,
                "body": response.text,
                "msg_id": body["msgId"],
                "session": session.key,
                "conversation": body["conversationId"],
                "callback": body,
            }
        )

    # ------------------------------------------------- bot -> DingTalk: session webhook

    @app.post("/robot/sendBySession")
    async def send_by_session(request: Request) -> HTTPResponse:
        st = state()
        key = request.args.get("session", "")
        session = st.sessions.get(key)
        if session is None or session.revoked or session.expires_ms <= _now_ms():
            return _json({"errcode": 300001, "errmsg": "session 不存在"})
        try:
            message = json.loads(request.body or b"")
        except ValueError:
            return _json({"errcode": 40035, "errmsg": "缺少参数 json"})
        problem = _webhook_message_problem(message)
        if problem:
            return _json({"errcode": 40035, "errmsg": f"不合法的参数: {problem}"})
        if not st.take_send_slot():
            return _json({"errcode": 130101, "errmsg": TOO_FAST_MSG.format(n=st.config.rate_limit)})
        at = message.get("at") if isinstance(message.get("at"), dict) else {}
        logger.info(
            "session webhook message for %s (%s)", session.conversation_id, message["msgtype"]
        )
        st.record(
            conversation=session.conversation_id,
            route="session_webhook",
            msgtype=message["msgtype"],
            payload=message,
            at_user_ids=[str(u) for u in at.get("atUserIds") or []],
            is_at_all=bool(at.get("isAtAll")),
            user_ids=[] if session.is_group else [session.user_id],
            session=key,
        )
        return _json({"errcode": 0, "errmsg": "ok"})

    # ------------------------------------------------------------ bot -> DingTalk: OpenAPI

    @app.post("/v1.0/oauth2/accessToken")
    async def access_token(request: Request) -> HTTPResponse:
        st = state()
        data, error = _read_json(request)
        if error or not isinstance(data, dict):
            return _openapi_error(400, "MissingParameter", "请求体不是 JSON 对象")
        if data.get("appKey") != st.config.app_key or data.get("appSecret") != st.config.app_secret:
            return _openapi_error(400, "invalidClientIdOrSecret", BAD_CLIENT_MSG)
        token = secrets.token_hex(16)
        st.tokens[token] = time.time() + TOKEN_TTL_S
        return _json({"accessToken": token, "expireIn": TOKEN_TTL_S})

    @app.post("/v1.0/robot/groupMessages/send")
    async def group_send(request: Request) -> HTTPResponse:
        return _openapi_send(state(), request, group=True)

    @app.post("/v1.0/robot/oToMessages/batchSend")
    async def single_send(request: Request) -> HTTPResponse:
        return _openapi_send(state(), request, group=False)

    # ------------------------------------------------------------- control: inspection

    @app.get("/_sim/messages")
    async def list_messages(request: Request) -> HTTPResponse:
        st = state()
        conversation = request.args.get("conversation")
        try:
            since = int(request.args.get("since", "0"))
        except ValueError:
            return _json({"error": "since must be an integer index"}, 400)
        found = [
            m
            for m in st.messages[max(since, 0) :]
            if not conversation or m["conversation"] == conversation
        ]
        return _json({"messages": found, "next": len(st.messages)})

    @app.get("/_sim/inbound")
    async def list_inbound(request: Request) -> HTTPResponse:
        return _json({"inbound": state().inbound})

    @app.post("/_sim/expire_sessions")
    async def expire_sessions(request: Request) -> HTTPResponse:
        st = state()
        for session in st.sessions.values():
            session.revoked = True
        return _json({"expired": len(st.sessions)})

    @app.post("/_sim/reset")
    async def reset(request: Request) -> HTTPResponse:
        old = state()
        for client in old.stream_clients:
            if not client.closed:
                client.closed = True
                await _close_quietly(client.ws)
        app.ctx.state = SimState(config=SimConfig(**vars(initial)))
        return _json({"reset": True})

    @app.post("/_sim/config")
    async def configure(request: Request) -> HTTPResponse:
        data, error = _read_object(request)
        if error:
            return error
        cfg = state().config
        try:
            if "rate_limit" in data:
                cfg.rate_limit = int(data["rate_limit"])
            if "session_ttl_seconds" in data:
                cfg.session_ttl_seconds = float(data["session_ttl_seconds"])
        except (TypeError, ValueError):
            return _json({"error": "rate_limit and session_ttl_seconds must be numbers"}, 400)
        if data.get("bot_url"):
            cfg.bot_url = str(data["bot_url"])
        return _json(_public_config(cfg))

    @app.get("/_sim/health")
    async def health(request: Request) -> HTTPResponse:
        st = state()
        return _json(
            {
                "status": "ok",
                "config": _public_config(st.config),
                "messages": len(st.messages),
                "sessions": len(st.sessions),
                "stream_connected": st.live_stream_client() is not None,
            }
        )

    # ---------------------------------------------------------------- Stream gateway

    @app.post("/v1.0/gateway/connections/open")
    async def open_connection(request: Request) -> HTTPResponse:
        st = state()
        data, error = _read_json(request)
        if error or not isinstance(data, dict):
            return _openapi_error(400, "MissingParameter", "请求体不是 JSON 对象")
        if (
            data.get("clientId") != st.config.app_key
            or data.get("clientSecret") != st.config.app_secret
        ):
            return _openapi_error(401, "invalidClientIdOrSecret", BAD_CLIENT_MSG)
        ticket = str(uuid.uuid4())
        st.tickets[ticket] = time.monotonic() + TICKET_TTL_S
        base = st.config.public_url or f"{request.scheme}://{request.host}"
        ws_base = "ws" + base[len("http") :] if base.startswith("http") else base
        return _json({"endpoint": f"{ws_base}/connect", "ticket": ticket})

    @app.on_request
    async def _check_ticket(request: Request) -> Optional[HTTPResponse]:
        # Runs before the WebSocket handshake, so a bad ticket is refused like a real gateway
        # refuses it: with an HTTP error instead of an upgrade.
        if request.path != "/connect":
            return None
        st = state()
        ticket = request.args.get("ticket", "")
        expires = st.tickets.pop(ticket, None)  # one use only
        if expires is None or expires < time.monotonic():
            return _json({"code": "invalidTicket", "message": "ticket 无效或已使用"}, 403)
        return None

    @app.websocket("/connect")
    async def connect(request: Request, ws: Any) -> None:
        st = state()
        client = StreamClient(ws=ws, connected_at_ms=_now_ms())
        st.stream_clients.append(client)
        try:
            while True:
                raw = await ws.recv()
                if raw is None:
                    continue
                _record_ack(st, raw)
        except Exception:  # closed by either side
            pass
        finally:
            client.closed = True

    @app.get("/_sim/stream/status")
    async def stream_status(request: Request) -> HTTPResponse:
        st = state()
        live = [c for c in st.stream_clients if not c.closed]
        return _json({"connected": bool(live), "connections": len(live), "acks": len(st.acks)})

    @app.get("/_sim/stream/acks")
    async def stream_acks(request: Request) -> HTTPResponse:
        return _json({"acks": state().acks})

    @app.post("/_sim/stream/say")
    async def stream_say(request: Request) -> HTTPResponse:
        spec, error = _read_object(request)
        if error:
            return error
        st = state()
        client = st.live_stream_client()
        if client is None:
            return _json({"error": "no Stream client is connected"}, 409)
        body, session = build_callback(st, request, spec)
        data = (
            str(spec["raw_body"])
            if spec.get("raw_body") is not None
            else json.dumps(body, ensure_ascii=False)
        )
        frame = {
            "specVersion": "1.0",
            "type": "CALLBACK",
            "headers": {
                "appId": st.config.app_key,
                "contentType": "application/json",
                "messageId": _stream_message_id(),
                "time": str(_now_ms()),
                "topic": STREAM_TOPIC,
            },
            "data": data,
        }
        st.inbound.append({"route": "stream", "frame": frame, "body": body})
        ack = await _push(st, client, frame, float(spec.get("wait_ack_seconds") or 0))
        return _json(
            {
                "messageId": frame["headers"]["messageId"],
                "msg_id": body["msgId"],
                "session": session.key,
                "conversation": body["conversationId"],
                "ack": ack,
                "callback": body,
            }
        )

    @app.post("/_sim/stream/ping")
    async def stream_ping(request: Request) -> HTTPResponse:
        spec, _ = _read_json(request)
        st = state()
        client = st.live_stream_client()
        if client is None:
            return _json({"error": "no Stream client is connected"}, 409)
        frame = _system_frame("ping", {"opaque": str(uuid.uuid4())})
        wait = float((spec or {}).get("wait_ack_seconds") or 0) if isinstance(spec, dict) else 0
        ack = await _push(st, client, frame, wait)
        return _json({"messageId": frame["headers"]["messageId"], "ack": ack, "frame": frame})

    @app.post("/_sim/stream/disconnect")
    async def stream_disconnect(request: Request) -> HTTPResponse:
        spec, _ = _read_json(request)
        spec = spec if isinstance(spec, dict) else {}
        st = state()
        client = st.live_stream_client()
        if client is None:
            return _json({"error": "no Stream client is connected"}, 409)
        frame = _system_frame("disconnect", {"reason": "connection is expired"})
        await _push(st, client, frame, 0)
        close_after = float(spec.get("close_after_seconds", 10.0))

        async def close_later() -> None:
            await asyncio.sleep(close_after)
            client.closed = True
            await _close_quietly(client.ws)

        app.add_task(close_later())
        return _json(
            {"messageId": frame["headers"]["messageId"], "close_after_seconds": close_after}
        )

    return app


# --------------------------------------------------------------------- helpers


def _public_config(cfg: SimConfig) -> Dict[str, Any]:
    return {
        "app_key": cfg.app_key,
        "robot_code": cfg.robot_code,
        "bot_url": cfg.bot_url,
        "session_ttl_seconds": cfg.session_ttl_seconds,
        "rate_limit": cfg.rate_limit,
    }


def _openapi_error(status: int, code: str, message: str, **extra: Any) -> HTTPResponse:
    return _json({"code": code, "message": message, "requestid": _request_id(), **extra}, status)


def _webhook_message_problem(message: Any) -> str:
    if not isinstance(message, dict):
        return "body is not a JSON object"
    msgtype = message.get("msgtype")
    if msgtype not in WEBHOOK_MSGTYPES:
        return f"msgtype {msgtype!r}"
    if msgtype == "text":
        text = message.get("text")
        if not isinstance(text, dict) or not isinstance(text.get("content"), str):
            return "text.content"
    if msgtype == "markdown":
        markdown = message.get("markdown")
        if (
            not isinstance(markdown, dict)
            or not isinstance(markdown.get("title"), str)
            or not isinstance(markdown.get("text"), str)
        ):
            return "markdown.title/markdown.text"
    at = message.get("at")
    if at is not None and not isinstance(at, dict):
        return "at"
    return ""


def _openapi_send(st: SimState, request: Request, *, group: bool) -> HTTPResponse:
    token = request.headers.get("x-acs-dingtalk-access-token", "")
    expires = st.tokens.get(token)
    if not token or expires is None or expires < time.time():
        return _openapi_error(401, "InvalidAuthentication", "不合法的access_token")
    try:
        data = json.loads(request.body or b"")
    except ValueError:
        return _openapi_error(400, "MissingParameter", "请求体不是 JSON")
    if not isinstance(data, dict):
        return _openapi_error(400, "MissingParameter", "请求体不是 JSON 对象")
    if data.get("robotCode") != st.config.robot_code:
        return _openapi_error(400, "invalidParameter.robotCode", "robot 不存在")
    msg_key = data.get("msgKey")
    if msg_key not in OPENAPI_MSGKEYS:
        return _openapi_error(400, "invalidParameter.msgKey", f"不支持的 msgKey: {msg_key}")
    msg_param = data.get("msgParam")
    if not isinstance(msg_param, str):
        return _openapi_error(400, "invalidParameter.msgParam", "msgParam 必须是 JSON 字符串")
    if len(msg_param.encode("utf-8")) > MSG_PARAM_MAX_BYTES:
        return _openapi_error(
            400, "invalidParameter.msgParam.length", f"msgParam 超过 {MSG_PARAM_MAX_BYTES} 字节"
        )
    try:
        param = json.loads(msg_param)
    except ValueError:
        return _openapi_error(400, "invalidParameter.msgParam", "msgParam 不是合法的 JSON")
    if not isinstance(param, dict):
        return _openapi_error(400, "invalidParameter.msgParam", "msgParam 必须是 JSON 对象")
    if group:
        conversation = data.get("openConversationId")
        if not isinstance(conversation, str) or not conversation:
            return _openapi_error(400, "MissingParameter", "缺少 openConversationId")
        user_ids: List[str] = []
    else:
        users = data.get("userIds")
        if not isinstance(users, list) or not users or not all(isinstance(u, str) for u in users):
            return _openapi_error(400, "MissingParameter", "userIds 必须是非空字符串数组")
        user_ids = list(users)
        conversation = st.single_chats.get(user_ids[0]) or f"cid-single-{user_ids[0]}"
    if not st.take_send_slot():
        return _openapi_error(
            400, "sendTooFast", TOO_FAST_MSG.format(n=st.config.rate_limit), errcode=130101
        )
    msgtype = OPENAPI_MSGKEYS[msg_key]
    logger.info("OpenAPI %s message for %s", "group" if group else "1:1", conversation)
    st.record(
        conversation=conversation,
        route="openapi_group" if group else "openapi_single",
        msgtype=msgtype,
        payload=param,
        user_ids=user_ids,
    )
    result: Dict[str, Any] = {"processQueryKey": secrets.token_urlsafe(24)}
    if not group:
        result.update({"invalidStaffIdList": [], "flowControlledStaffIdList": []})
    return _json(result)


def _record_sync_reply(st: SimState, callback: Dict[str, Any], response: httpx.Response) -> None:
    """A message in the HTTP response body is posted to the chat (historic behaviour, §2.1)."""
    if response.status_code != 200 or not response.content:
        return
    try:
        message = response.json()
    except ValueError:
        return
    if (
        not isinstance(message, dict)
        or message.get("msgtype") in (None, "empty")
        or _webhook_message_problem(message)
    ):
        return
    at = message.get("at") if isinstance(message.get("at"), dict) else {}
    st.record(
        conversation=callback["conversationId"],
        route="sync_response",
        msgtype=message["msgtype"],
        payload=message,
        at_user_ids=[str(u) for u in at.get("atUserIds") or []],
        is_at_all=bool(at.get("isAtAll")),
    )


def _stream_message_id() -> str:
    # Shaped like DingTalk's, e.g. 212ca9d7_974_1898c159aa6_1783b.
    parts = (
        secrets.token_hex(4),
        str(secrets.randbelow(1000)),
        secrets.token_hex(6),
        secrets.token_hex(3),
    )
    return "_".join(parts)


def _system_frame(topic: str, data: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "specVersion": "1.0",
        "type": "SYSTEM",
        "headers": {
            "contentType": "application/json",
            "messageId": _stream_message_id(),
            "time": str(_now_ms()),
            "topic": topic,
        },
        "data": json.dumps(data),
    }


async def _push(
    st: SimState, client: StreamClient, frame: Dict[str, Any], wait_ack_seconds: float
) -> Optional[Dict[str, Any]]:
    message_id = frame["headers"]["messageId"]
    st.pushed[message_id] = frame
    await client.ws.send(json.dumps(frame, ensure_ascii=False))
    deadline = time.monotonic() + max(wait_ack_seconds, 0)
    while True:
        for ack in st.acks:
            if ack["messageId"] == message_id:
                return ack
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.02)


def _record_ack(st: SimState, raw: Any) -> None:
    try:
        frame = json.loads(raw)
    except (TypeError, ValueError):
        logger.warning("Stream client sent a non-JSON frame")
        return
    headers = frame.get("headers") if isinstance(frame, dict) else None
    message_id = headers.get("messageId") if isinstance(headers, dict) else None
    if not message_id:
        logger.warning("Stream client sent a frame without headers.messageId")
        return
    pushed = st.pushed.get(message_id, {})
    st.acks.append(
        {
            "messageId": message_id,
            "code": frame.get("code"),
            "message": frame.get("message"),
            "data": frame.get("data"),
            "type": pushed.get("type"),
            "topic": pushed.get("headers", {}).get("topic"),
            "known": bool(pushed),
            "time_ms": _now_ms(),
        }
    )


async def _close_quietly(ws: Any) -> None:
    try:
        await ws.close()
    except Exception:
        pass


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="DingTalk simulator (HTTP + Stream mode)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7080)
    parser.add_argument("--app-key", default="demo-app-key")
    parser.add_argument("--app-secret", default="demo-app-secret")
    parser.add_argument("--robot-code", default=None, help="defaults to the app key")
    parser.add_argument("--bot-url", default="http://127.0.0.1:5005/webhooks/dingtalk/webhook")
    parser.add_argument("--session-ttl-seconds", type=float, default=5400.0)
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=20,
        help="messages per 60 s per robot; 0 disables the limit",
    )
    parser.add_argument(
        "--public-url",
        default="",
        help="base URL the bot should use to reach this simulator "
        "(default: the Host of each control request)",
    )
    args = parser.parse_args(argv)
    # Sanic logs through its own handlers; only this module's lines are added here.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    app = create_app(
        args.app_key,
        args.app_secret,
        args.bot_url,
        robot_code=args.robot_code,
        session_ttl_seconds=args.session_ttl_seconds,
        rate_limit=args.rate_limit,
        public_url=args.public_url,
    )
    app.run(host=args.host, port=args.port, access_log=False, motd=False, workers=1)


if __name__ == "__main__":
    main()
