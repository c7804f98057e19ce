"""DingTalk -> bot: the callback body for a user's message, and its signed headers.

The body is the one of docs/dingtalk.md §1.4-§1.6 (leading space in group text, ``atUsers``,
``sessionWebhook`` pointing back at this simulator, an unknown extra key ...); the headers carry
the §1.3 signature. The same body travels in a Stream-mode CALLBACK frame (§4.2).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any, Dict, Tuple

from chatops.dingtalk.signing import sign as dingtalk_sign
from simulators.dingtalk.state import Session, SimState, now_ms

CORP_ID = "dingsimcorp0000000001"
# The organisation of an ``external`` sender: someone outside the robot's own (§1.4).
EXTERNAL_CORP_ID = "dingexternalcorp0000001"
BOT_DINGTALK_ID = "$:LWCP_v1:$simBotDingtalkId0000"
UNKNOWN_MSG_NOTICE = "用户发送了一条消息，机器人暂不支持接收。"


def dingtalk_id(user: str) -> str:
    """The ``senderId`` DingTalk gives `user` (stable, opaque)."""
    return "$:LWCP_v1:$" + hashlib.sha1(user.encode()).hexdigest()[:22]


def build_callback(
    state: SimState, base_url: str, spec: Dict[str, Any]
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
        conversation = state.single_chat(user)
    if not group:
        state.single_chats[user] = conversation
    session = state.session_for(conversation, group, user)
    msgtype = str(spec.get("msgtype") or "text")
    text = str(spec.get("text") or "")

    body: Dict[str, Any] = {"conversationId": conversation}
    if group:
        at_users = [{"dingtalkId": BOT_DINGTALK_ID}]
        for other in spec.get("at_users") or []:
            at_users.append({"dingtalkId": dingtalk_id(str(other)), "staffId": str(other)})
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
            "createAt": now_ms(),
            "senderCorpId": EXTERNAL_CORP_ID if external else CORP_ID,
            "conversationType": "2" if group else "1",
            "senderId": dingtalk_id(user),
        }
    )
    if group:
        body["conversationTitle"] = str(spec.get("title") or "测试群")
        body["isInAtList"] = True
    body.update(
        {
            "sessionWebhook": f"{base_url}/robot/sendBySession?session={session.key}",
            "robotCode": cfg.robot_code,
            "msgtype": msgtype,
            "senderPlatform": "Mac",  # an extra key real payloads carry; parsers must ignore it
        }
    )
    body.update(_content(msgtype, text, group, spec))
    return body, session


def _content(msgtype: str, text: str, group: bool, spec: Dict[str, Any]) -> Dict[str, Any]:
    """The message itself: ``text``, or the ``content`` of a non-text message (§1.6)."""
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


def callback_text(body: Dict[str, Any], spec: Dict[str, Any]) -> str:
    """What goes on the wire: the body as JSON, unless ``raw_body`` asks for other bytes."""
    if spec.get("raw_body") is not None:
        return str(spec["raw_body"])
    return json.dumps(body, ensure_ascii=False)


def signed_headers(state: SimState, spec: Dict[str, Any]) -> Dict[str, str]:
    """§1.3 headers; ``omit_headers``, ``sign`` and ``timestamp_offset_ms`` spoil them."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if spec.get("omit_headers"):
        return headers
    timestamp = str(now_ms() + int(spec.get("timestamp_offset_ms") or 0))
    headers["timestamp"] = timestamp
    headers["sign"] = (
        str(spec["sign"]) if spec.get("sign") else dingtalk_sign(timestamp, state.config.app_secret)
    )
    return headers
