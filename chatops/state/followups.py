"""Tasks the bot started and still owes a result message for.

The action server adds a row when it triggers a task; the follow-up worker of every Rasa
replica polls due rows (each poll under a short lease, so two replicas do not ask Zadig about
the same task at once) and Zadig's webhook may end one early. Ending a row is one transaction:
the row goes from ``pending`` to ``delivered`` *and* the result message is written to the
outbox, or neither happens — so the result is queued exactly once whichever path saw the end
first, and sending it (with retries) is the outbox's job.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from sqlalchemy import and_, delete, or_, select, update

from chatops.state.audit import RESULT, AuditLog
from chatops.state.db import Database, row_dict
from chatops.state.outbox import Outbox
from chatops.state.schema import followups

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True)
class Followup:
    id: int
    project_key: str
    workflow_key: str
    task_id: int
    service: Optional[str]
    environment: Optional[str]
    sender_id: Optional[str]
    conversation_id: Optional[str]
    target: Optional[Dict[str, Any]]
    created_at: float
    next_poll_at: float
    polls: int
    state: str
    result_status: Optional[str]
    attempts: int = 0
    last_error: Optional[str] = None
    requester: Optional[str] = None
    requester_nick: Optional[str] = None
    announced_approval: Optional[str] = None

    @classmethod
    def from_row(cls, row: Dict[str, Any]) -> "Followup":
        data = dict(row)
        data["target"] = json.loads(data["target"]) if data["target"] else None
        for extra in ("delivered_at", "lease_until"):
            data.pop(extra, None)
        return cls(**data)


class FollowupStore:
    def __init__(self, db: Database, *, clock: Any = time.time) -> None:
        self.db = db
        self.clock = clock

    def add(
        self,
        *,
        project_key: str,
        workflow_key: str,
        task_id: int,
        service: Optional[str] = None,
        environment: Optional[str] = None,
        sender_id: Optional[str] = None,
        conversation_id: Optional[str] = None,
        target: Optional[Dict[str, Any]] = None,
        requester: Optional[str] = None,
        requester_nick: Optional[str] = None,
        now: Optional[float] = None,
        first_poll_in: float = 2.0,
    ) -> Followup:
        """Record a task we owe a result for (idempotent per workflow + task id)."""
        now = self.clock() if now is None else now
        with self.db.begin() as conn:
            self.db.insert_ignore(
                conn,
                followups,
                dict(
                    project_key=project_key,
                    workflow_key=workflow_key,
                    task_id=int(task_id),
                    service=service,
                    environment=environment,
                    sender_id=sender_id,
                    conversation_id=conversation_id,
                    target=json.dumps(target, ensure_ascii=True) if target else None,
                    requester=requester,
                    requester_nick=requester_nick,
                    created_at=now,
                    next_poll_at=now + first_poll_in,
                ),
            )
        found = self.get(workflow_key, task_id)
        assert found is not None
        return found

    def get(self, workflow_key: str, task_id: int) -> Optional[Followup]:
        return self._one(
            select(followups).where(
                followups.c.workflow_key == workflow_key, followups.c.task_id == int(task_id)
            )
        )

    def due(self, now: Optional[float] = None, limit: int = 50) -> List[Followup]:
        """Pending rows whose next poll is due and that no replica is polling right now."""
        now = self.clock() if now is None else now
        with self.db.begin() as conn:
            rows = conn.execute(
                select(followups)
                .where(
                    followups.c.state == PENDING,
                    followups.c.next_poll_at <= now,
                    followups.c.lease_until <= now,
                )
                .order_by(followups.c.next_poll_at)
                .limit(limit)
            )
            return [Followup.from_row(row_dict(r)) for r in rows]

    def lease(self, followup_id: int, seconds: float, now: Optional[float] = None) -> bool:
        """Take the row for one poll; False when another replica has it."""
        now = self.clock() if now is None else now
        return self._update(
            and_(
                followups.c.id == followup_id,
                followups.c.state == PENDING,
                followups.c.lease_until <= now,
            ),
            lease_until=now + seconds,
        )

    def pending(self) -> List[Followup]:
        with self.db.begin() as conn:
            rows = conn.execute(
                select(followups).where(followups.c.state == PENDING).order_by(followups.c.id)
            )
            return [Followup.from_row(row_dict(r)) for r in rows]

    def reschedule(
        self,
        followup_id: int,
        next_poll_at: float,
        *,
        error: Optional[str] = None,
    ) -> None:
        """Poll again later; an ``error`` (this row failed, not Zadig) counts as an attempt."""
        values: Dict[str, Any] = {
            "next_poll_at": next_poll_at,
            "polls": followups.c.polls + 1,
            "lease_until": 0,
        }
        if error is not None:
            values.update(attempts=followups.c.attempts + 1, last_error=error[:500])
        self._update(and_(followups.c.id == followup_id, followups.c.state == PENDING), **values)

    def complete(
        self,
        followup: Followup,
        status: str,
        outbox: Optional[Outbox] = None,
        message: Optional[Dict[str, Any]] = None,
        now: Optional[float] = None,
        audit: Optional[AuditLog] = None,
    ) -> bool:
        """End the row, queue its message and record the result in the audit trail, atomically;
        False when it had already ended."""
        now = self.clock() if now is None else now
        with self.db.begin() as conn:
            ended = conn.execute(
                update(followups)
                .where(followups.c.id == followup.id, followups.c.state == PENDING)
                .values(state=DELIVERED, result_status=status, delivered_at=now, lease_until=0)
            ).rowcount
            if ended != 1:
                return False
            if outbox is not None and message is not None and followup.target:
                outbox.enqueue(
                    conn,
                    followup.conversation_id or followup.target["conversation_id"],
                    followup.target,
                    message,
                    kind="result",
                    now=now,
                )
            if audit is not None:
                audit.insert(
                    conn,
                    "deploy",
                    RESULT,
                    actor_id=followup.requester or "",
                    actor_nick=followup.requester_nick or "",
                    conversation_id=followup.conversation_id or "",
                    environment=followup.environment,
                    services=[s for s in (followup.service or "").split("、") if s],
                    workflow_key=followup.workflow_key,
                    task_id=followup.task_id,
                    detail=status,
                    now=now,
                )
        return True

    def announce_approval(
        self,
        followup: Followup,
        job: str,
        outbox: Outbox,
        message: Dict[str, Any],
        now: Optional[float] = None,
    ) -> bool:
        """Queue the notice that the task waits for a Zadig approval ``job``, once per job (and
        once among replicas): False when it was announced already."""
        now = self.clock() if now is None else now
        with self.db.begin() as conn:
            changed = conn.execute(
                update(followups)
                .where(
                    followups.c.id == followup.id,
                    followups.c.state == PENDING,
                    or_(
                        followups.c.announced_approval.is_(None),
                        followups.c.announced_approval != job,
                    ),
                )
                .values(announced_approval=job)
            ).rowcount
            if changed != 1 or not followup.target:
                return False
            outbox.enqueue(
                conn,
                followup.conversation_id or followup.target["conversation_id"],
                followup.target,
                message,
                kind="notice",
                now=now,
            )
        return True

    def reopen(self, workflow_key: str, task_id: int, now: Optional[float] = None) -> bool:
        """Follow a retried task (same id) again: pending, polled soon, nothing announced."""
        now = self.clock() if now is None else now
        return self._update(
            and_(followups.c.workflow_key == workflow_key, followups.c.task_id == task_id),
            state=PENDING,
            result_status=None,
            delivered_at=None,
            next_poll_at=now + 2.0,
            polls=0,
            attempts=0,
            last_error=None,
            lease_until=0,
            announced_approval=None,
        )

    def give_up(self, followup_id: int, error: str) -> bool:
        """A row that keeps failing on its own (not a Zadig outage): stop, visibly."""
        return self._update(
            and_(followups.c.id == followup_id, followups.c.state == PENDING),
            state=FAILED,
            last_error=error[:500],
            lease_until=0,
        )

    def latest_for_conversation(self, conversation_id: str) -> Optional[Followup]:
        return self._one(
            select(followups)
            .where(followups.c.conversation_id == conversation_id)
            .order_by(followups.c.created_at.desc(), followups.c.id.desc())
            .limit(1)
        )

    def latest_for_sender(self, sender_id: str) -> Optional[Followup]:
        return self._one(
            select(followups)
            .where(followups.c.sender_id == sender_id)
            .order_by(followups.c.created_at.desc(), followups.c.id.desc())
            .limit(1)
        )

    def counts(self) -> Dict[str, int]:
        from sqlalchemy import func

        with self.db.begin() as conn:
            rows = conn.execute(select(followups.c.state, func.count()).group_by(followups.c.state))
            return {state: int(n) for state, n in rows}

    def prune(self, older_than: float) -> int:
        """Forget ended rows created before ``older_than`` (pending rows are kept)."""
        with self.db.begin() as conn:
            return int(
                conn.execute(
                    delete(followups).where(
                        followups.c.state != PENDING, followups.c.created_at < older_than
                    )
                ).rowcount
            )

    # -- helpers ----------------------------------------------------------------------------

    def _one(self, statement: Any) -> Optional[Followup]:
        with self.db.begin() as conn:
            row = conn.execute(statement).first()
        return Followup.from_row(row_dict(row)) if row is not None else None

    def _update(self, where: Any, **values: Any) -> bool:
        with self.db.begin() as conn:
            return bool(conn.execute(update(followups).where(where).values(**values)).rowcount)
