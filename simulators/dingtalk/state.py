"""The simulated DingTalk's state: config, sessions, the robot's rate limit, what was sent.

Sessions: one live session per conversation (per user for 1:1 chats), reused until it expires
or is revoked; the next message then opens a new one. The rate limit is one sliding 60 s window
per robot shared by every send route (no 10-minute penalty; docs/dingtalk.md §2.5).
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

from sanic import Request


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Session:
    key: str
    conversation_id: str
    is_group: bool
    user_id: str
    expires_ms: int
    revoked: bool = False

    def live(self) -> bool:
        return not self.revoked and self.expires_ms > now_ms()


@dataclass
class SimConfig:
    app_key: str
    app_secret: str
    robot_code: str
    bot_url: str
    session_ttl_seconds: float = 5400.0
    rate_limit: int = 20
    public_url: str = ""
    # The Zadig simulator the web chat's side panel shows and steers ("" = no panel).
    zadig_url: str = ""

    def public(self) -> Dict[str, Any]:
        """What the control API shows (no secret)."""
        return {
            "app_key": self.app_key,
            "robot_code": self.robot_code,
            "bot_url": self.bot_url,
            "session_ttl_seconds": self.session_ttl_seconds,
            "rate_limit": self.rate_limit,
            "zadig_url": self.zadig_url,
        }


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
    # Users' callbacks ("user", inbound entry) and the bot's messages ("bot", message) in the
    # order they happened: the web chat's feed. A new state (reset) has a new epoch.
    timeline: List[Tuple[str, Dict[str, Any]]] = field(default_factory=list)
    epoch: str = field(default_factory=lambda: secrets.token_hex(4))

    @classmethod
    def start(cls, initial: SimConfig) -> SimState:
        """A fresh state on a copy of the start-up config."""
        return cls(config=replace(initial))

    def take_send_slot(self) -> bool:
        """Rate limit: one sliding 60 s window per robot, across all send routes."""
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
        now = now_ms()
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

    def single_chat(self, user_id: str) -> str:
        """The 1:1 conversation with `user_id` (the last one they wrote from, if any)."""
        return self.single_chats.get(user_id) or f"cid-single-{user_id}"

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
        """Keep a message the bot sent, for ``GET /_sim/messages``."""
        nested = payload.get(msgtype)
        body: Dict[str, Any] = nested if isinstance(nested, dict) else payload
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
            "time_ms": now_ms(),
            "payload": payload,
        }
        self.messages.append(entry)
        self.timeline.append(("bot", entry))
        return entry

    def note_inbound(self, entry: Dict[str, Any]) -> Dict[str, Any]:
        """Keep a callback sent to the bot, for ``GET /_sim/inbound`` and the web chat."""
        self.inbound.append(entry)
        self.timeline.append(("user", entry))
        return entry

    def live_stream_client(self) -> Optional[StreamClient]:
        for client in reversed(self.stream_clients):
            if not client.closed:
                return client
        return None


def state_of(request: Request) -> SimState:
    """The state of the app serving `request` (replaced as a whole by ``/_sim/reset``)."""
    state: SimState = request.app.ctx.state
    return state


def public_base(config: SimConfig, request: Request) -> str:
    """The base URL the bot should use to reach this simulator."""
    return config.public_url or f"{request.scheme}://{request.host}"
