"""The durable outbox: every message the bot will send, and each conversation's send lane.

Writing a reply here is what "the bot said it" means: a Rasa replica killed right after still
has it sent, by itself after the restart or by another replica. Messages of one conversation
go out in order, by one replica at a time: a replica takes the conversation's lane (a lease in
``lanes``) before sending, and the lane also holds the conversation's token bucket (pacing)
and how long DingTalk throttles it, so one throttled group never holds up the others.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from chatops.state.db import Database, row_dict
from chatops.state.schema import lanes, outbox

QUEUED, SENT, UNDELIVERABLE = "queued", "sent", "undeliverable"
GLOBAL_LANE = "*"


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    conversation_id: str
    target: Dict[str, Any]
    message: Dict[str, Any]
    kind: str
    created_at: float
    attempts: int
    state: str
    last_error: Optional[str] = None

    @classmethod
    def from_row(cls, row: Dict[str, Any]) -> "OutboxMessage":
        return cls(
            id=row["id"],
            conversation_id=row["conversation_id"],
            target=json.loads(row["target"]),
            message=json.loads(row["message"]),
            kind=row["kind"],
            created_at=row["created_at"],
            attempts=row["attempts"],
            state=row["state"],
            last_error=row["last_error"],
        )


class Outbox:
    def __init__(self, db: Database, *, clock: Any = time.time) -> None:
        self.db = db
        self.clock = clock

    # -- writing ----------------------------------------------------------------------------

    def enqueue(
        self,
        conn: Optional[Connection],
        conversation_id: str,
        target: Dict[str, Any],
        message: Dict[str, Any],
        *,
        kind: str = "reply",
        now: Optional[float] = None,
    ) -> int:
        """Queue one message (inside the caller's transaction when ``conn`` is given)."""
        now = self.clock() if now is None else now
        values = dict(
            conversation_id=conversation_id,
            target=json.dumps(target, ensure_ascii=True),
            message=json.dumps(message, ensure_ascii=True),
            kind=kind,
            created_at=now,
            next_attempt_at=now,
        )
        if conn is not None:
            return int(conn.execute(outbox.insert().values(**values)).inserted_primary_key[0])
        with self.db.begin() as own:
            return int(own.execute(outbox.insert().values(**values)).inserted_primary_key[0])

    # -- lanes ------------------------------------------------------------------------------

    def due_conversations(self, limit: int = 50, now: Optional[float] = None) -> List[str]:
        """Conversations with a message due, not throttled and not being sent by a replica."""
        now = self.clock() if now is None else now
        busy = select(lanes.c.conversation_id).where(
            or_(lanes.c.lease_until > now, lanes.c.blocked_until > now)
        )
        # Only the oldest queued message of a conversation may go next (order is kept).
        first = (
            select(outbox.c.conversation_id, func.min(outbox.c.id).label("first_id"))
            .where(outbox.c.state == QUEUED)
            .group_by(outbox.c.conversation_id)
            .subquery()
        )
        with self.db.begin() as conn:
            rows = conn.execute(
                select(first.c.conversation_id)
                .join(outbox, outbox.c.id == first.c.first_id)
                .where(
                    outbox.c.next_attempt_at <= now,
                    first.c.conversation_id.not_in(busy),
                )
                .order_by(first.c.first_id)
                .limit(limit)
            )
            return [r.conversation_id for r in rows]

    def lease(
        self,
        conversation_id: str,
        owner: str,
        seconds: float,
        burst: float,
        now: Optional[float] = None,
    ) -> bool:
        """Take the conversation's lane; True when this owner may send its messages now."""
        now = self.clock() if now is None else now
        with self.db.begin() as conn:
            self.db.insert_ignore(
                conn,
                lanes,
                dict(conversation_id=conversation_id, tokens=burst, refilled_at=now),
            )
            taken = conn.execute(
                update(lanes)
                .where(
                    lanes.c.conversation_id == conversation_id,
                    or_(lanes.c.lease_until <= now, lanes.c.leased_by == owner),
                    lanes.c.blocked_until <= now,
                )
                .values(leased_by=owner, lease_until=now + seconds)
            ).rowcount
        return bool(taken)

    def release(self, conversation_id: str, owner: str) -> None:
        with self.db.begin() as conn:
            conn.execute(
                update(lanes)
                .where(lanes.c.conversation_id == conversation_id, lanes.c.leased_by == owner)
                .values(leased_by=None, lease_until=0)
            )

    def take_token(
        self,
        conversation_id: str,
        per_minute: float,
        burst: float,
        now: Optional[float] = None,
    ) -> float:
        """Spend one send from the lane's bucket: 0 when it had one, else seconds to wait."""
        now = self.clock() if now is None else now
        if per_minute <= 0:
            return 0.0
        rate = per_minute / 60.0
        with self.db.begin() as conn:
            self.db.insert_ignore(
                conn,
                lanes,
                dict(conversation_id=conversation_id, tokens=burst, refilled_at=now),
            )
            query = select(lanes.c.tokens, lanes.c.refilled_at).where(
                lanes.c.conversation_id == conversation_id
            )
            if not self.db.is_sqlite:
                query = query.with_for_update()
            row = conn.execute(query).one()
            tokens = min(burst, row.tokens + max(0.0, now - row.refilled_at) * rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate
            if wait == 0.0:
                tokens -= 1.0
            conn.execute(
                update(lanes)
                .where(lanes.c.conversation_id == conversation_id)
                .values(tokens=tokens, refilled_at=now)
            )
        return wait

    def give_back(self, conversation_id: str, burst: float) -> None:
        """Return a token spent for a send that did not happen (another bucket refused it)."""
        with self.db.begin() as conn:
            conn.execute(
                update(lanes)
                .where(lanes.c.conversation_id == conversation_id)
                .values(
                    tokens=case((lanes.c.tokens + 1.0 > burst, burst), else_=lanes.c.tokens + 1.0)
                )
            )

    def block(self, conversation_id: str, until: float) -> None:
        """DingTalk throttled this conversation: nothing is sent to it before ``until``."""
        with self.db.begin() as conn:
            conn.execute(
                update(lanes)
                .where(lanes.c.conversation_id == conversation_id)
                .values(blocked_until=until, leased_by=None, lease_until=0)
            )

    # -- messages ---------------------------------------------------------------------------

    def next_message(
        self, conversation_id: str, now: Optional[float] = None
    ) -> Optional[OutboxMessage]:
        """The conversation's oldest queued message, if it is due (order is kept)."""
        now = self.clock() if now is None else now
        with self.db.begin() as conn:
            row = conn.execute(
                select(outbox)
                .where(outbox.c.conversation_id == conversation_id, outbox.c.state == QUEUED)
                .order_by(outbox.c.id)
                .limit(1)
            ).first()
        if row is None:
            return None
        message = OutboxMessage.from_row(row_dict(row))
        return message if row.next_attempt_at <= now else None

    def mark_sent(self, message_id: int, route: str, now: Optional[float] = None) -> None:
        now = self.clock() if now is None else now
        self._set(message_id, state=SENT, sent_at=now, route=route, attempts=outbox.c.attempts + 1)

    def retry_later(self, message_id: int, error: str, at: float, *, count: bool = True) -> None:
        """Try again at ``at``; ``count=False`` when the failure was not the message's own
        (DingTalk throttling the conversation)."""
        values: Dict[str, Any] = {"next_attempt_at": at, "last_error": error[:500]}
        if count:
            values["attempts"] = outbox.c.attempts + 1
        self._set(message_id, **values)

    def undeliverable(self, message_id: int, error: str) -> None:
        self._set(
            message_id,
            state=UNDELIVERABLE,
            last_error=error[:500],
            attempts=outbox.c.attempts + 1,
        )

    def get(self, message_id: int) -> Optional[OutboxMessage]:
        with self.db.begin() as conn:
            row = conn.execute(select(outbox).where(outbox.c.id == message_id)).first()
        return OutboxMessage.from_row(row_dict(row)) if row is not None else None

    def messages(self, state: Optional[str] = None) -> List[OutboxMessage]:
        query = select(outbox).order_by(outbox.c.id)
        if state is not None:
            query = query.where(outbox.c.state == state)
        with self.db.begin() as conn:
            return [OutboxMessage.from_row(row_dict(r)) for r in conn.execute(query)]

    def counts(self) -> Dict[str, int]:
        with self.db.begin() as conn:
            rows = conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state))
            return {state: int(n) for state, n in rows}

    def prune(self, older_than: float) -> int:
        """Forget sent and undeliverable messages older than ``older_than``."""
        with self.db.begin() as conn:
            removed = conn.execute(
                delete(outbox).where(
                    and_(outbox.c.state != QUEUED, outbox.c.created_at < older_than)
                )
            ).rowcount
            conn.execute(
                delete(lanes).where(
                    lanes.c.lease_until <= older_than,
                    lanes.c.blocked_until <= older_than,
                    lanes.c.refilled_at < older_than,
                )
            )
        return int(removed)

    def _set(self, message_id: int, **values: Any) -> None:
        with self.db.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == message_id).values(**values))
