"""Every DingTalk message accepted, from arrival until it was answered.

- De-duplication: `accept` inserts the msgId or finds it there, atomically, on every replica,
  so a re-delivered message never runs (never deploys) twice. Ids are kept for
  ``keep_seconds`` (7 days) — far longer than DingTalk re-delivers.
- Crash safety: a message is ``received`` until its turn's replies are in the outbox
  (`finish`, in the same transaction). One still ``received`` long after it arrived was being
  processed by a replica that died: `claim_lost` hands it out once, so the sender can be told
  it was not processed instead of hearing nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from sqlalchemy import and_, delete, select, update
from sqlalchemy.engine import Connection

from chatops.state.db import Database, row_dict
from chatops.state.schema import inbound

RECEIVED, ANSWERED, LOST = "received", "answered", "lost"
KEEP_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class InboundMessage:
    msg_id: str
    conversation_id: str
    sender_key: str
    text: str
    target: Optional[Dict[str, Any]]
    received_at: float
    state: str


class InboundLog:
    def __init__(
        self, db: Database, *, keep_seconds: float = KEEP_SECONDS, clock: Any = time.time
    ) -> None:
        self.db = db
        self.keep = keep_seconds
        self.clock = clock
        self._next_prune = 0.0

    def accept(
        self,
        msg_id: str,
        *,
        conversation_id: str = "",
        sender_key: str = "",
        text: str = "",
        target: Optional[Dict[str, Any]] = None,
        now: Optional[float] = None,
    ) -> bool:
        """True exactly once per msgId, across replicas and restarts."""
        now = self.clock() if now is None else now
        with self.db.begin() as conn:
            fresh = self.db.insert_ignore(
                conn,
                inbound,
                dict(
                    msg_id=msg_id,
                    conversation_id=conversation_id,
                    sender_key=sender_key,
                    text=text[:200],
                    target=json.dumps(target, ensure_ascii=True) if target else None,
                    received_at=now,
                ),
            )
            if fresh and now >= self._next_prune:  # a few times per keep period
                conn.execute(delete(inbound).where(inbound.c.received_at < now - self.keep))
                self._next_prune = now + self.keep / 10
        return fresh

    def finish(
        self,
        conn: Optional[Connection],
        msg_id: str,
        *,
        now: Optional[float] = None,
    ) -> None:
        """The message was answered (its replies are queued in the same transaction)."""
        now = self.clock() if now is None else now
        statement = (
            update(inbound)
            .where(inbound.c.msg_id == msg_id, inbound.c.state == RECEIVED)
            .values(state=ANSWERED, finished_at=now)
        )
        if conn is not None:
            conn.execute(statement)
            return
        with self.db.begin() as own:
            own.execute(statement)

    def claim_lost(self, older_than: float, limit: int = 20) -> List[InboundMessage]:
        """Messages still unanswered since before ``older_than``, each handed out once."""
        with self.db.begin() as conn:
            rows = [
                row_dict(r)
                for r in conn.execute(
                    select(inbound)
                    .where(inbound.c.state == RECEIVED, inbound.c.received_at < older_than)
                    .order_by(inbound.c.received_at)
                    .limit(limit)
                )
            ]
        claimed: List[InboundMessage] = []
        for row in rows:
            with self.db.begin() as conn:
                won = conn.execute(
                    update(inbound)
                    .where(and_(inbound.c.msg_id == row["msg_id"], inbound.c.state == RECEIVED))
                    .values(state=LOST, finished_at=self.clock())
                ).rowcount
            if won:
                claimed.append(_message(row))
        return claimed

    def get(self, msg_id: str) -> Optional[InboundMessage]:
        with self.db.begin() as conn:
            row = conn.execute(select(inbound).where(inbound.c.msg_id == msg_id)).first()
        return _message(row_dict(row)) if row is not None else None

    def unanswered(self) -> int:
        with self.db.begin() as conn:
            return len(
                conn.execute(select(inbound.c.msg_id).where(inbound.c.state == RECEIVED)).all()
            )


def _message(row: Dict[str, Any]) -> InboundMessage:
    return InboundMessage(
        msg_id=row["msg_id"],
        conversation_id=row["conversation_id"],
        sender_key=row["sender_key"],
        text=row["text"],
        target=json.loads(row["target"]) if row["target"] else None,
        received_at=row["received_at"],
        state=row["state"],
    )
