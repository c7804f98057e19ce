"""The Stream-mode gateway (docs/dingtalk.md §4.2) and its control endpoints.

``POST /v1.0/gateway/connections/open`` hands out a one-use ticket; the WebSocket ``/connect``
refuses a bad ticket with HTTP 403 before the upgrade. Frames pushed to the client are kept
with the acks it sends back. Control: ``POST /_sim/stream/say`` (the fields of ``/_sim/say``
plus ``wait_ack_seconds``; 409 without a client), ``GET /_sim/stream/acks``,
``POST /_sim/stream/ping``, ``POST /_sim/stream/disconnect {"close_after_seconds": 10}``,
``GET /_sim/stream/status``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from functools import wraps
from typing import Any, Callable, Coroutine, Dict, Optional

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from simulators.dingtalk.callbacks import build_callback, callback_text
from simulators.dingtalk.httputil import (
    json_response,
    loose_object,
    read_object,
    refuse_credentials,
)
from simulators.dingtalk.state import (
    SimState,
    StreamClient,
    now_ms,
    public_base,
    state_of,
)

logger = logging.getLogger("simulators.dingtalk")

Handler = Callable[[Request], Coroutine[Any, Any, HTTPResponse]]

STREAM_TOPIC = "/v1.0/im/bot/messages/get"
TICKET_TTL_S = 90.0


def _message_id() -> str:
    # Shaped like DingTalk's, e.g. 212ca9d7_974_1898c159aa6_1783b.
    parts = (
        secrets.token_hex(4),
        str(secrets.randbelow(1000)),
        secrets.token_hex(6),
        secrets.token_hex(3),
    )
    return "_".join(parts)


def _frame(kind: str, topic: str, data: str, app_id: str = "") -> Dict[str, Any]:
    headers = {"appId": app_id} if app_id else {}
    headers.update(
        {
            "contentType": "application/json",
            "messageId": _message_id(),
            "time": str(now_ms()),
            "topic": topic,
        }
    )
    return {"specVersion": "1.0", "type": kind, "headers": headers, "data": data}


def _system_frame(topic: str, data: Dict[str, Any]) -> Dict[str, Any]:
    return _frame("SYSTEM", topic, json.dumps(data))


async def _push(
    st: SimState, client: StreamClient, frame: Dict[str, Any], wait_ack_seconds: float
) -> Optional[Dict[str, Any]]:
    """Send `frame`; its ack if one arrives within `wait_ack_seconds`."""
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
            "time_ms": now_ms(),
        }
    )


async def _close_quietly(ws: Any) -> None:
    try:
        await ws.close()
    except Exception:
        pass


async def close_clients(st: SimState) -> None:
    """Close every open Stream connection (a reset does, as a server restart would)."""
    for client in st.stream_clients:
        if not client.closed:
            client.closed = True
            await _close_quietly(client.ws)


ClientHandler = Callable[
    [Request, SimState, StreamClient, Dict[str, Any]], Coroutine[Any, Any, HTTPResponse]
]


def _to_live_client(*, strict: bool) -> Callable[[ClientHandler], Handler]:
    """A control route that pushes to the connected client, given the body read as a JSON object
    (`strict`: anything else is 400; else it reads as {}); 409 when no client is connected."""

    def decorate(handler: ClientHandler) -> Handler:
        @wraps(handler)
        async def route(request: Request) -> HTTPResponse:
            if strict:
                spec, error = read_object(request)
                if error:
                    return error
            else:
                spec = loose_object(request)
            st = state_of(request)
            client = st.live_stream_client()
            if client is None:
                return json_response({"error": "no Stream client is connected"}, 409)
            return await handler(request, st, client, spec)

        return route

    return decorate


# -- the gateway -------------------------------------------------------------------------------


async def open_connection(request: Request) -> HTTPResponse:
    st = state_of(request)
    refused = refuse_credentials(request, st.config, "clientId", "clientSecret", 401)
    if refused:
        return refused
    ticket = str(uuid.uuid4())
    st.tickets[ticket] = time.monotonic() + TICKET_TTL_S
    base = public_base(st.config, request)
    ws_base = "ws" + base[len("http") :] if base.startswith("http") else base
    return json_response({"endpoint": f"{ws_base}/connect", "ticket": ticket})


async def check_ticket(request: Request) -> Optional[HTTPResponse]:
    # Runs before the WebSocket handshake, so a bad ticket is refused like a real gateway
    # refuses it: with an HTTP error instead of an upgrade.
    if request.path != "/connect":
        return None
    st = state_of(request)
    ticket = request.args.get("ticket", "")
    expires = st.tickets.pop(ticket, None)  # one use only
    if expires is None or expires < time.monotonic():
        return json_response({"code": "invalidTicket", "message": "ticket 无效或已使用"}, 403)
    return None


async def connect(request: Request, ws: Any) -> None:
    st = state_of(request)
    client = StreamClient(ws=ws, connected_at_ms=now_ms())
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


# -- control -----------------------------------------------------------------------------------


async def stream_status(request: Request) -> HTTPResponse:
    st = state_of(request)
    live = [c for c in st.stream_clients if not c.closed]
    return json_response({"connected": bool(live), "connections": len(live), "acks": len(st.acks)})


async def stream_acks(request: Request) -> HTTPResponse:
    return json_response({"acks": state_of(request).acks})


async def push_callback(
    request: Request, st: SimState, client: StreamClient, spec: Dict[str, Any]
) -> Dict[str, Any]:
    """Push the callback for the user message `spec` to `client` as a CALLBACK frame."""
    body, session = build_callback(st, public_base(st.config, request), spec)
    frame = _frame("CALLBACK", STREAM_TOPIC, callback_text(body, spec), st.config.app_key)
    st.note_inbound({"route": "stream", "frame": frame, "body": body})
    ack = await _push(st, client, frame, float(spec.get("wait_ack_seconds") or 0))
    return {
        "messageId": frame["headers"]["messageId"],
        "msg_id": body["msgId"],
        "session": session.key,
        "conversation": body["conversationId"],
        "ack": ack,
        "callback": body,
    }


@_to_live_client(strict=True)
async def stream_say(
    request: Request, st: SimState, client: StreamClient, spec: Dict[str, Any]
) -> HTTPResponse:
    return json_response(await push_callback(request, st, client, spec))


@_to_live_client(strict=False)
async def stream_ping(
    request: Request, st: SimState, client: StreamClient, spec: Dict[str, Any]
) -> HTTPResponse:
    frame = _system_frame("ping", {"opaque": str(uuid.uuid4())})
    ack = await _push(st, client, frame, float(spec.get("wait_ack_seconds") or 0))
    return json_response({"messageId": frame["headers"]["messageId"], "ack": ack, "frame": frame})


@_to_live_client(strict=False)
async def stream_disconnect(
    request: Request, st: SimState, client: StreamClient, spec: Dict[str, Any]
) -> HTTPResponse:
    frame = _system_frame("disconnect", {"reason": "connection is expired"})
    await _push(st, client, frame, 0)
    close_after = float(spec.get("close_after_seconds", 10.0))

    async def close_later() -> None:
        await asyncio.sleep(close_after)
        client.closed = True
        await _close_quietly(client.ws)

    request.app.add_task(close_later())
    return json_response(
        {"messageId": frame["headers"]["messageId"], "close_after_seconds": close_after}
    )


def register(app: Sanic) -> None:
    app.post("/v1.0/gateway/connections/open")(open_connection)
    app.register_middleware(check_ticket, "request")
    app.websocket("/connect")(connect)
    app.get("/_sim/stream/status")(stream_status)
    app.get("/_sim/stream/acks")(stream_acks)
    app.post("/_sim/stream/say")(stream_say)
    app.post("/_sim/stream/ping")(stream_ping)
    app.post("/_sim/stream/disconnect")(stream_disconnect)
