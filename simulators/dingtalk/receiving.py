"""Bot -> DingTalk: the session webhook, the OpenAPI access token and robot send endpoints.

With DingTalk's error answers (docs/dingtalk.md §2.2-§2.5): 300001 for a gone session, 130101
over the per-robot rate limit, HTTP 400/401 bodies ``{"code","message"}`` for the OpenAPI.

The OpenAPI throttle answer is not documented publicly; this simulator answers HTTP 400
``{"code":"sendTooFast","message":"send too fast, exceed 20 times per minute","errcode":130101,
"requestid":...}`` so both the code/message and the errcode reading apply.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any, Dict, List, Tuple

import httpx
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from simulators.dingtalk.httputil import (
    NOT_AN_OBJECT,
    json_response,
    openapi_error,
    refuse_credentials,
)
from simulators.dingtalk.state import SimState, state_of

logger = logging.getLogger("simulators.dingtalk")

TOKEN_TTL_S = 7200
MSG_PARAM_MAX_BYTES = 15_000
TOO_FAST_MSG = "send too fast, exceed {n} times per minute"

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


def webhook_message_problem(message: Any) -> str:
    """What is wrong with a webhook message (§2.4), or "" when it is fine."""
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


def _mentions(message: Dict[str, Any]) -> Tuple[List[str], bool]:
    """A webhook message's ``at``: the user ids and whether it is @all."""
    at = message.get("at")
    mentions: Dict[str, Any] = at if isinstance(at, dict) else {}
    return [str(u) for u in mentions.get("atUserIds") or []], bool(mentions.get("isAtAll"))


def record_sync_reply(st: SimState, callback: Dict[str, Any], response: httpx.Response) -> None:
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
        or webhook_message_problem(message)
    ):
        return
    at_user_ids, is_at_all = _mentions(message)
    st.record(
        conversation=callback["conversationId"],
        route="sync_response",
        msgtype=message["msgtype"],
        payload=message,
        at_user_ids=at_user_ids,
        is_at_all=is_at_all,
    )


async def send_by_session(request: Request) -> HTTPResponse:
    st = state_of(request)
    key = request.args.get("session", "")
    session = st.sessions.get(key)
    if session is None or not session.live():
        return json_response({"errcode": 300001, "errmsg": "session 不存在"})
    try:
        message = json.loads(request.body or b"")
    except ValueError:
        return json_response({"errcode": 40035, "errmsg": "缺少参数 json"})
    problem = webhook_message_problem(message)
    if problem:
        return json_response({"errcode": 40035, "errmsg": f"不合法的参数: {problem}"})
    if not st.take_send_slot():
        too_fast = TOO_FAST_MSG.format(n=st.config.rate_limit)
        return json_response({"errcode": 130101, "errmsg": too_fast})
    at_user_ids, is_at_all = _mentions(message)
    logger.info("session webhook message for %s (%s)", session.conversation_id, message["msgtype"])
    st.record(
        conversation=session.conversation_id,
        route="session_webhook",
        msgtype=message["msgtype"],
        payload=message,
        at_user_ids=at_user_ids,
        is_at_all=is_at_all,
        user_ids=[] if session.is_group else [session.user_id],
        session=key,
    )
    return json_response({"errcode": 0, "errmsg": "ok"})


async def access_token(request: Request) -> HTTPResponse:
    st = state_of(request)
    refused = refuse_credentials(request, st.config, "appKey", "appSecret", 400)
    if refused:
        return refused
    token = secrets.token_hex(16)
    st.tokens[token] = time.time() + TOKEN_TTL_S
    return json_response({"accessToken": token, "expireIn": TOKEN_TTL_S})


async def group_send(request: Request) -> HTTPResponse:
    return _openapi_send(state_of(request), request, group=True)


async def single_send(request: Request) -> HTTPResponse:
    return _openapi_send(state_of(request), request, group=False)


def _openapi_send(st: SimState, request: Request, *, group: bool) -> HTTPResponse:
    token = request.headers.get("x-acs-dingtalk-access-token", "")
    expires = st.tokens.get(token)
    if not token or expires is None or expires < time.time():
        return openapi_error(401, "InvalidAuthentication", "不合法的access_token")
    try:
        data = json.loads(request.body or b"")
    except ValueError:
        return openapi_error(400, "MissingParameter", "请求体不是 JSON")
    if not isinstance(data, dict):
        return openapi_error(400, "MissingParameter", NOT_AN_OBJECT)
    if data.get("robotCode") != st.config.robot_code:
        return openapi_error(400, "invalidParameter.robotCode", "robot 不存在")
    msg_key = data.get("msgKey")
    if msg_key not in OPENAPI_MSGKEYS:
        return openapi_error(400, "invalidParameter.msgKey", f"不支持的 msgKey: {msg_key}")
    msg_param = data.get("msgParam")
    if not isinstance(msg_param, str):
        return openapi_error(400, "invalidParameter.msgParam", "msgParam 必须是 JSON 字符串")
    if len(msg_param.encode("utf-8")) > MSG_PARAM_MAX_BYTES:
        return openapi_error(
            400, "invalidParameter.msgParam.length", f"msgParam 超过 {MSG_PARAM_MAX_BYTES} 字节"
        )
    try:
        param = json.loads(msg_param)
    except ValueError:
        return openapi_error(400, "invalidParameter.msgParam", "msgParam 不是合法的 JSON")
    if not isinstance(param, dict):
        return openapi_error(400, "invalidParameter.msgParam", "msgParam 必须是 JSON 对象")
    if group:
        conversation = data.get("openConversationId")
        if not isinstance(conversation, str) or not conversation:
            return openapi_error(400, "MissingParameter", "缺少 openConversationId")
        user_ids: List[str] = []
    else:
        users = data.get("userIds")
        if not isinstance(users, list) or not users or not all(isinstance(u, str) for u in users):
            return openapi_error(400, "MissingParameter", "userIds 必须是非空字符串数组")
        user_ids = list(users)
        conversation = st.single_chat(user_ids[0])
    if not st.take_send_slot():
        too_fast = TOO_FAST_MSG.format(n=st.config.rate_limit)
        return openapi_error(400, "sendTooFast", too_fast, errcode=130101)
    logger.info("OpenAPI %s message for %s", "group" if group else "1:1", conversation)
    st.record(
        conversation=conversation,
        route="openapi_group" if group else "openapi_single",
        msgtype=OPENAPI_MSGKEYS[msg_key],
        payload=param,
        user_ids=user_ids,
    )
    result: Dict[str, Any] = {"processQueryKey": secrets.token_urlsafe(24)}
    if not group:
        result.update({"invalidStaffIdList": [], "flowControlledStaffIdList": []})
    return json_response(result)


def register(app: Sanic) -> None:
    app.post("/robot/sendBySession")(send_by_session)
    app.post("/v1.0/oauth2/accessToken")(access_token)
    app.post("/v1.0/robot/groupMessages/send")(group_send)
    app.post("/v1.0/robot/oToMessages/batchSend")(single_send)
