"""Who can speak on the web chat page, and the conversation feed it shows.

The feed is the simulator's timeline (`SimState.timeline`): every callback sent to the bot
(whoever asked for it: the page, ``/_sim/say``, the demo prompt, a test) and every message the
bot posted, in the order they happened, one id each (the timeline index).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Tuple

from simulators.dingtalk.callbacks import CORP_ID, dingtalk_id
from simulators.dingtalk.state import SimState

BOT_NICK = "部署助手"
# The group the page opens by default: the one `devstack.ChatClient` (and so the demo prompt)
# talks in, so both show the same chat.
GROUP_CONVERSATION = "cid-demo-group"
GROUP_TITLE = "商城发布群"


@dataclass(frozen=True)
class Person:
    """Someone the page can speak as. ``id`` is the simulator's ``user``: the senderStaffId
    inside the robot's organisation; an ``external`` person has none (another senderCorpId)."""

    id: str
    nick: str
    role: str
    external: bool = False

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


# 张三 is the simulator's and ChatClient's default sender (user123); 李四 is a release manager in
# catalog.yml's access policy (release-managers: [lead01, lead02]); 王五 is outside the company.
PEOPLE: Tuple[Person, ...] = (
    Person("user123", "张三", "开发工程师"),
    Person("lead01", "李四", "发布经理"),
    Person("guest01", "王五", "外部合作方", external=True),
)
_BY_SENDER_ID = {dingtalk_id(p.id): p for p in PEOPLE}

# What a chat shows for a message that is not text (docs/dingtalk.md §1.6).
_NON_TEXT = {
    "picture": "[图片]",
    "richText": "[图文]",
    "audio": "[语音]",
    "video": "[视频]",
    "file": "[文件]",
}


def person(person_id: str) -> Optional[Person]:
    return next((p for p in PEOPLE if p.id == person_id), None)


def conversation_of(kind: str, entry: Dict[str, Any]) -> str:
    if kind == "bot":
        return str(entry.get("conversation") or "")
    body = entry.get("body")
    return str(body.get("conversationId") or "") if isinstance(body, dict) else ""


def feed(st: SimState, conversation: str, since: int) -> List[Dict[str, Any]]:
    """The conversation's messages with an id of at least `since`."""
    start = max(since, 0)
    return [
        item(index, kind, entry)
        for index, (kind, entry) in enumerate(st.timeline[start:], start=start)
        if conversation_of(kind, entry) == conversation
    ]


def item(index: int, kind: str, entry: Dict[str, Any]) -> Dict[str, Any]:
    """One message as the page draws it."""
    if kind == "bot":
        return {
            "id": index,
            "kind": "bot",
            "sender": "bot",
            "nick": BOT_NICK,
            "external": False,
            "msgtype": entry["msgtype"],
            "title": entry["title"],
            "text": entry["text"],
            "at_user_ids": entry["at_user_ids"],
            "is_at_all": entry["is_at_all"],
            "route": entry["route"],
            "time_ms": entry["time_ms"],
        }
    body: Dict[str, Any] = entry["body"]
    sender_id = str(body.get("senderId") or "")
    known = _BY_SENDER_ID.get(sender_id)
    status = entry.get("status")
    return {
        "id": index,
        "kind": "user",
        # The staff id; for someone outside the organisation (no staff id) the person we know
        # by their senderId, else that opaque senderId.
        "sender": str(body.get("senderStaffId") or (known.id if known else sender_id)),
        "nick": str(body.get("senderNick") or ""),
        "external": body.get("senderCorpId") != CORP_ID,
        "msgtype": str(body.get("msgtype") or "text"),
        "text": _user_text(body),
        "route": entry.get("route", "http"),
        # Whether the bot took the callback (HTTP 2xx); None while the POST is under way and
        # for Stream frames (their ack comes later).
        "delivered": None if status is None else 200 <= int(status) < 300,
        "time_ms": int(body.get("createAt") or 0),
    }


def _user_text(body: Dict[str, Any]) -> str:
    msgtype = str(body.get("msgtype") or "text")
    if msgtype == "text":
        text = body.get("text")
        return str(text.get("content") or "").strip() if isinstance(text, dict) else ""
    content = body.get("content")
    content = content if isinstance(content, dict) else {}
    label = _NON_TEXT.get(msgtype, "[暂不支持的消息]")
    if msgtype == "audio" and content.get("recognition"):
        return f"{label} {content['recognition']}"
    if msgtype == "file" and content.get("fileName"):
        return f"{label} {content['fileName']}"
    if msgtype == "richText":
        parts = content.get("richText") or []
        words = [str(p["text"]) for p in parts if isinstance(p, dict) and p.get("text")]
        return " ".join(words + [label])
    return label
