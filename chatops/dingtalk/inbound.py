"""Parse the JSON DingTalk delivers for one robot message (docs/dingtalk.md §1.4-§1.6).

The same body arrives as the HTTP-mode POST body and as the decoded ``data`` string of a
Stream-mode CALLBACK frame, so both channels share `parse_message`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

CONVERSATION_SINGLE = "1"
CONVERSATION_GROUP = "2"


class MalformedMessage(ValueError):
    """A body that is not a DingTalk robot message (not JSON, not an object, no ids)."""


@dataclass(frozen=True)
class ReplyTarget:
    """Where and how to answer one conversation; JSON-safe so it can be stored and passed on."""

    conversation_id: str
    is_group: bool
    user_id: str
    session_webhook: str = ""
    session_webhook_expires_ms: int = 0
    robot_code: str = ""

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def mention_ids(self) -> List[str]:
        """Who to @ in a reply: the sender in groups, if they have an org userId.

        External users only have an encrypted senderId (``$:LWCP_v1:$...``), which
        ``at.atUserIds`` does not take (docs/dingtalk.md §2.4).
        """
        if self.is_group and self.user_id and not self.user_id.startswith("$:"):
            return [self.user_id]
        return []

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ReplyTarget":
        try:
            return cls(
                conversation_id=str(data["conversation_id"]),
                is_group=bool(data["is_group"]),
                user_id=str(data.get("user_id") or ""),
                session_webhook=str(data.get("session_webhook") or ""),
                session_webhook_expires_ms=_int(data.get("session_webhook_expires_ms")),
                robot_code=str(data.get("robot_code") or ""),
            )
        except KeyError as exc:
            raise ValueError(f"reply target is missing {exc.args[0]!r}") from None


@dataclass(frozen=True)
class InboundMessage:
    msg_id: str
    msgtype: str
    text: str
    supported: bool
    conversation_id: str
    conversation_type: str
    conversation_title: str = ""
    sender_staff_id: str = ""
    sender_id: str = ""
    sender_nick: str = ""
    session_webhook: str = ""
    session_webhook_expires_ms: int = 0
    robot_code: str = ""
    create_at_ms: int = 0
    is_admin: bool = False
    sender_corp_id: str = ""
    chatbot_corp_id: str = ""

    @property
    def is_group(self) -> bool:
        return self.conversation_type == CONVERSATION_GROUP

    @property
    def user_id(self) -> str:
        """The org userId (what ``at.atUserIds`` takes); external users only have senderId."""
        return self.sender_staff_id or self.sender_id

    def reply_target(self) -> ReplyTarget:
        return ReplyTarget(
            conversation_id=self.conversation_id,
            is_group=self.is_group,
            user_id=self.user_id,
            session_webhook=self.session_webhook,
            session_webhook_expires_ms=self.session_webhook_expires_ms,
            robot_code=self.robot_code,
        )

    def context(self) -> "DingTalkContext":
        """What the channel hands to the actions with this message."""
        return DingTalkContext(
            msg_id=self.msg_id,
            conversation_id=self.conversation_id,
            conversation_title=self.conversation_title,
            is_group=self.is_group,
            user_id=self.user_id,
            nick=self.sender_nick,
            staff_id=self.sender_staff_id,
            sender_corp_id=self.sender_corp_id,
            chatbot_corp_id=self.chatbot_corp_id,
            target=self.reply_target(),
        )


METADATA_KEY = "dingtalk"


@dataclass(frozen=True)
class DingTalkContext:
    """Who said a message and where: attached by the DingTalk channel to every message it passes
    to Rasa (``UserMessage.metadata``) and read back by the actions from
    ``tracker.latest_message["metadata"]``. Defined once here for both sides."""

    msg_id: str
    conversation_id: str
    conversation_title: str
    is_group: bool
    # The org userId (senderStaffId), or the encrypted senderId of someone outside the org.
    user_id: str
    nick: str
    target: ReplyTarget
    staff_id: str = ""
    sender_corp_id: str = ""
    chatbot_corp_id: str = ""

    def to_metadata(self) -> Dict[str, Any]:
        data = asdict(self)
        data["target"] = self.target.to_dict()
        return {METADATA_KEY: data}

    @classmethod
    def from_metadata(cls, metadata: Optional[Mapping[str, Any]]) -> Optional["DingTalkContext"]:
        """The context in a message's metadata, or None when there is none (or it is unusable)."""
        data = (metadata or {}).get(METADATA_KEY)
        if not isinstance(data, Mapping):
            return None
        try:
            target = ReplyTarget.from_dict(data["target"])
            return cls(
                msg_id=str(data.get("msg_id") or ""),
                conversation_id=str(data["conversation_id"]),
                conversation_title=str(data.get("conversation_title") or ""),
                is_group=bool(data["is_group"]),
                user_id=str(data["user_id"]),
                nick=str(data.get("nick") or ""),
                target=target,
                staff_id=str(data.get("staff_id") or ""),
                sender_corp_id=str(data.get("sender_corp_id") or ""),
                chatbot_corp_id=str(data.get("chatbot_corp_id") or ""),
            )
        except (KeyError, TypeError, ValueError):
            return None


def parse_message(body: Union[bytes, str, Mapping[str, Any]]) -> InboundMessage:
    """Turn a callback body into an `InboundMessage`; unknown keys are ignored."""
    data = _load(body)
    msg_id = _str(data.get("msgId"))
    conversation_id = _str(data.get("conversationId"))
    if not msg_id:
        raise MalformedMessage("message has no msgId")
    if not conversation_id:
        raise MalformedMessage("message has no conversationId")

    msgtype = _str(data.get("msgtype")) or "unknownMsgType"
    text, supported = _content(msgtype, data)
    return InboundMessage(
        msg_id=msg_id,
        msgtype=msgtype,
        text=text,
        supported=supported,
        conversation_id=conversation_id,
        conversation_type=_str(data.get("conversationType")),
        conversation_title=_str(data.get("conversationTitle")),
        sender_staff_id=_str(data.get("senderStaffId")),
        sender_id=_str(data.get("senderId")),
        sender_nick=_str(data.get("senderNick")),
        session_webhook=_str(data.get("sessionWebhook")),
        session_webhook_expires_ms=_int(data.get("sessionWebhookExpiredTime")),
        robot_code=_str(data.get("robotCode")),
        create_at_ms=_int(data.get("createAt")),
        is_admin=data.get("isAdmin") is True or str(data.get("isAdmin")).lower() == "true",
        sender_corp_id=_str(data.get("senderCorpId")),
        chatbot_corp_id=_str(data.get("chatbotCorpId")),
    )


def _load(body: Union[bytes, str, Mapping[str, Any]]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedMessage("body is not UTF-8") from None
    try:
        data = json.loads(body)
    except (TypeError, ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise MalformedMessage("body is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedMessage("body is not a JSON object")
    return data


def _content(msgtype: str, data: Mapping[str, Any]) -> Tuple[str, bool]:
    if msgtype == "text":
        text = data.get("text")
        content = text.get("content") if isinstance(text, Mapping) else None
        # In groups DingTalk strips the @bot mention and leaves the space that followed it.
        return _str(content).strip(), True
    if msgtype == "audio":
        content = data.get("content")
        recognition = content.get("recognition") if isinstance(content, Mapping) else None
        recognition = _str(recognition).strip()
        return recognition, bool(recognition)
    return "", False


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        # A JSON "\ud800" escape decodes to a lone surrogate, which no database can store.
        # PostgreSQL refuses NUL in text.
        return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if float(value).is_integer() else str(value)
    return ""


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, (int, float)):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return 0
    return 0
