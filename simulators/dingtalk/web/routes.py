"""The web chat's routes: the page and its files, who can speak, sending, the feed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw, redirect

from simulators.dingtalk.control import deliver
from simulators.dingtalk.httputil import json_response, read_object
from simulators.dingtalk.state import state_of
from simulators.dingtalk.stream import push_callback
from simulators.dingtalk.web import feed as chat
from simulators.dingtalk.web import zadig

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything the page loads comes from this simulator: no CDN, no inline script.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
CHATS = ("group", "single")


def _file(name: str) -> HTTPResponse:
    path = STATIC / name
    content_type = CONTENT_TYPES.get(path.suffix)
    # Only plain names of files in static/ (no "..", no sub-folders).
    if content_type is None or "/" in name or name.startswith(".") or not path.is_file():
        return json_response({"error": f"no such file: {name}"}, 404)
    return raw(path.read_bytes(), content_type=content_type, headers=PAGE_HEADERS)


async def web_root(request: Request) -> HTTPResponse:
    return redirect("/chat")


async def web_page(request: Request) -> HTTPResponse:
    return _file("index.html")


async def web_static(request: Request, name: str) -> HTTPResponse:
    return _file(name)


async def web_people(request: Request) -> HTTPResponse:
    st = state_of(request)
    return json_response(
        {
            "people": [p.as_dict() for p in chat.PEOPLE],
            "group": {"conversation": chat.GROUP_CONVERSATION, "title": chat.GROUP_TITLE},
            "bot": {"nick": chat.BOT_NICK},
            "zadig": {"enabled": bool(st.config.zadig_url)},
        }
    )


def _conversation(request: Request, args: Dict[str, Any]) -> str:
    """The conversation a request means: ``conversation``, else ``chat`` (group: ``group`` or
    the default group; single: ``person``'s 1:1 chat). "" when it names nobody we know."""
    if args.get("conversation"):
        return str(args["conversation"])
    if (args.get("chat") or "group") == "group":
        return str(args.get("group") or chat.GROUP_CONVERSATION)
    who = chat.person(str(args.get("person") or ""))
    return state_of(request).single_chat(who.id) if who else ""


async def web_say(request: Request) -> HTTPResponse:
    """``{"text", "person", "chat": "group"|"single", "group"}``: that person says `text` in
    the chat, through the path DingTalk uses (signed HTTP callback, or a Stream frame when a
    Stream client is connected)."""
    data, error = read_object(request)
    if error:
        return error
    who = chat.person(str(data.get("person") or ""))
    text = str(data.get("text") or "").strip()
    kind = str(data.get("chat") or "group")
    if who is None:
        return json_response({"error": f"unknown person {data.get('person')!r}"}, 400)
    if not text or kind not in CHATS:
        return json_response({"error": "text must not be empty; chat is group or single"}, 400)
    spec: Dict[str, Any] = {
        "text": text,
        "user": who.id,
        "nick": who.nick,
        "external": who.external,
        "group": kind == "group",
    }
    if kind == "group":
        spec.update({"conversation": _conversation(request, data), "title": chat.GROUP_TITLE})
    st = state_of(request)
    client = st.live_stream_client()
    if client is not None:
        return json_response(await push_callback(request, st, client, spec))
    answer, status = await deliver(request, spec)
    return json_response(answer, status)


async def web_feed(request: Request) -> HTTPResponse:
    """``?chat=group|single&person=<id>&group=<cid>`` (or ``conversation=<cid>``) ``&since=<id>``
    -> ``{"conversation", "messages", "next", "epoch"}``; a new epoch means the simulator was
    reset (start again from 0)."""
    args = {key: request.args.get(key) for key in request.args}
    conversation = _conversation(request, args)
    if not conversation:
        return json_response({"error": "say which conversation (or a known person)"}, 400)
    try:
        since = int(args.get("since") or 0)
    except ValueError:
        return json_response({"error": "since must be an integer id"}, 400)
    st = state_of(request)
    return json_response(
        {
            "conversation": conversation,
            "messages": chat.feed(st, conversation, since),
            "next": len(st.timeline),
            "epoch": st.epoch,
        }
    )


def register(app: Sanic) -> None:
    app.get("/")(web_root)
    app.get("/chat")(web_page)
    app.get("/chat/static/<name>")(web_static)
    app.get("/_sim/web/people")(web_people)
    app.post("/_sim/web/say")(web_say)
    app.get("/_sim/web/feed")(web_feed)
    zadig.register(app)
