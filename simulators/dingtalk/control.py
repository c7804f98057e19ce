"""The control API under ``/_sim``: make a user speak to the bot, inspect and steer the state.

``POST /_sim/say`` sends the signed callback of docs/dingtalk.md §1 to the bot and records a
message in the bot's synchronous HTTP answer (§2.1); ``GET /_sim/messages``, ``GET
/_sim/inbound``, ``POST /_sim/expire_sessions``, ``POST /_sim/reset``, ``POST /_sim/config``
(also ``zadig_url``: the Zadig simulator of the web chat's panel), ``GET /_sim/health``.
`deliver` is that signed HTTP path, shared with the web chat (`simulators.dingtalk.web`).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Tuple

import httpx
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from simulators.dingtalk.callbacks import build_callback, callback_text, signed_headers
from simulators.dingtalk.httputil import json_response, read_object
from simulators.dingtalk.receiving import record_sync_reply
from simulators.dingtalk.state import SimState, public_base, state_of
from simulators.dingtalk.stream import close_clients

logger = logging.getLogger("simulators.dingtalk")


async def deliver(request: Request, spec: Dict[str, Any]) -> Tuple[Dict[str, Any], int]:
    """Sign the callback for the user message `spec` and POST it to the bot: the answer for
    the control API and its status (502 when the bot is unreachable)."""
    st = state_of(request)
    body, session = build_callback(st, public_base(st.config, request), spec)
    payload = callback_text(body, spec).encode("utf-8")
    headers = signed_headers(st, spec)
    url = str(spec.get("bot_url") or st.config.bot_url)
    entry = st.note_inbound(
        {
            "route": "http",
            "url": url,
            "headers": headers,
            "body": body,
            "raw_body": spec.get("raw_body"),
        }
    )
    http: httpx.AsyncClient = request.app.ctx.http
    try:
        response = await http.post(url, content=payload, headers=headers)
    except httpx.HTTPError as exc:
        entry["status"] = 0
        error = f"bot unreachable at {url}: {type(exc).__name__}: {exc}"
        return {"error": error, "msg_id": body["msgId"], "session": session.key}, 502
    entry["status"] = response.status_code
    logger.info(
        "say %s/%s -> %s: HTTP %s",
        body["conversationId"],
        body["msgId"],
        url,
        response.status_code,
    )
    record_sync_reply(st, body, response)
    answer = {
        "status": response.status_code,
        "body": response.text,
        "msg_id": body["msgId"],
        "session": session.key,
        "conversation": body["conversationId"],
        "callback": body,
    }
    return answer, 200


async def say(request: Request) -> HTTPResponse:
    spec, error = read_object(request)
    if error:
        return error
    answer, status = await deliver(request, spec)
    return json_response(answer, status)


async def list_messages(request: Request) -> HTTPResponse:
    st = state_of(request)
    conversation = request.args.get("conversation")
    try:
        since = int(request.args.get("since", "0"))
    except ValueError:
        return json_response({"error": "since must be an integer index"}, 400)
    found = [
        m
        for m in st.messages[max(since, 0) :]
        if not conversation or m["conversation"] == conversation
    ]
    return json_response({"messages": found, "next": len(st.messages)})


async def list_inbound(request: Request) -> HTTPResponse:
    return json_response({"inbound": state_of(request).inbound})


async def expire_sessions(request: Request) -> HTTPResponse:
    st = state_of(request)
    for session in st.sessions.values():
        session.revoked = True
    return json_response({"expired": len(st.sessions)})


async def reset(request: Request) -> HTTPResponse:
    await close_clients(state_of(request))
    request.app.ctx.state = SimState.start(request.app.ctx.initial)
    return json_response({"reset": True})


async def configure(request: Request) -> HTTPResponse:
    data, error = read_object(request)
    if error:
        return error
    cfg = state_of(request).config
    try:
        if "rate_limit" in data:
            cfg.rate_limit = int(data["rate_limit"])
        if "session_ttl_seconds" in data:
            cfg.session_ttl_seconds = float(data["session_ttl_seconds"])
    except (TypeError, ValueError):
        return json_response({"error": "rate_limit and session_ttl_seconds must be numbers"}, 400)
    if data.get("bot_url"):
        cfg.bot_url = str(data["bot_url"])
    if "zadig_url" in data:
        cfg.zadig_url = str(data["zadig_url"] or "").rstrip("/")
    return json_response(cfg.public())


async def health(request: Request) -> HTTPResponse:
    st = state_of(request)
    return json_response(
        {
            "status": "ok",
            "config": st.config.public(),
            "messages": len(st.messages),
            "sessions": len(st.sessions),
            "stream_connected": st.live_stream_client() is not None,
        }
    )


def register(app: Sanic) -> None:
    app.post("/_sim/say")(say)
    app.get("/_sim/messages")(list_messages)
    app.get("/_sim/inbound")(list_inbound)
    app.post("/_sim/expire_sessions")(expire_sessions)
    app.post("/_sim/reset")(reset)
    app.post("/_sim/config")(configure)
    app.get("/_sim/health")(health)
