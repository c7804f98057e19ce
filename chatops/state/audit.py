"""The audit trail: an append-only record of every state-changing request and decision.

Who (staff id and nick), where (conversation), what they said, the plan, what was decided
(refused, confirmed, approval requested, approved, rejected, expired, triggered, cancelled ...),
the Zadig workflow and task, and the final result. Rows are only ever inserted. Export with
``make audit-export`` (JSON lines); "发布记录" in the chat reads it (`deploys`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

from sqlalchemy import select
from sqlalchemy.engine import Connection

from chatops.state.db import Database, row_dict
from chatops.state.schema import audit

# What can happen, in the order a request lives through it.
REFUSED = "refused"
CONFIRMED = "confirmed"
APPROVAL_REQUESTED = "approval_requested"
APPROVED = "approved"
REJECTED = "rejected"
EXPIRED = "expired"
TRIGGERED = "triggered"
TRIGGER_FAILED = "trigger_failed"
CANCELLED = "cancelled"
RESULT = "result"


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: float
    action: str
    decision: str
    actor_id: str
    actor_nick: str
    conversation_id: str
    message: str
    environment: Optional[str]
    services: List[str]
    plan: Optional[Dict[str, Any]]
    workflow_key: Optional[str]
    task_id: Optional[int]
    approval_id: Optional[int]
    detail: str

    @classmethod
    def from_row(cls, row: Dict[str, Any]) -> "AuditEvent":
        return cls(
            id=row["id"],
            at=row["at"],
            action=row["action"],
            decision=row["decision"],
            actor_id=row["actor_id"],
            actor_nick=row["actor_nick"],
            conversation_id=row["conversation_id"],
            message=row["message"],
            environment=row["environment"],
            services=json.loads(row["services"] or "[]"),
            plan=json.loads(row["plan"]) if row["plan"] else None,
            workflow_key=row["workflow_key"],
            task_id=row["task_id"],
            approval_id=row["approval_id"],
            detail=row["detail"],
        )

    def to_json(self) -> Dict[str, Any]:
        return dict(self.__dict__)


class AuditLog:
    def __init__(self, db: Database, *, clock: Any = time.time) -> None:
        self.db = db
        self.clock = clock

    def record(self, action: str, decision: str, **fields: Any) -> int:
        """Append one event (fields as `insert`) in its own transaction."""
        with self.db.begin() as conn:
            return self.insert(conn, action, decision, **fields)

    def insert(
        self,
        conn: Connection,
        action: str,
        decision: str,
        *,
        actor_id: str = "",
        actor_nick: str = "",
        conversation_id: str = "",
        message: str = "",
        environment: Optional[str] = None,
        services: Optional[List[str]] = None,
        plan: Optional[Dict[str, Any]] = None,
        workflow_key: Optional[str] = None,
        task_id: Optional[int] = None,
        approval_id: Optional[int] = None,
        detail: str = "",
        now: Optional[float] = None,
    ) -> int:
        """Append one event inside the caller's transaction (so it lands with what it records)."""
        return int(
            conn.execute(
                audit.insert().values(
                    at=self.clock() if now is None else now,
                    action=action,
                    decision=decision,
                    actor_id=actor_id,
                    actor_nick=actor_nick,
                    conversation_id=conversation_id,
                    message=message[:500],
                    environment=environment,
                    services=json.dumps(services or [], ensure_ascii=True),
                    plan=json.dumps(plan, ensure_ascii=True) if plan else None,
                    workflow_key=workflow_key,
                    task_id=task_id,
                    approval_id=approval_id,
                    detail=detail[:1000],
                )
            ).inserted_primary_key[0]
        )

    def events(
        self,
        *,
        since: Optional[float] = None,
        decisions: Optional[List[str]] = None,
        environment: Optional[str] = None,
        limit: Optional[int] = None,
        newest_first: bool = False,
    ) -> List[AuditEvent]:
        query = select(audit)
        if since is not None:
            query = query.where(audit.c.at >= since)
        if decisions:
            query = query.where(audit.c.decision.in_(decisions))
        if environment:
            query = query.where(audit.c.environment == environment)
        query = query.order_by(audit.c.id.desc() if newest_first else audit.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.db.begin() as conn:
            return [AuditEvent.from_row(row_dict(r)) for r in conn.execute(query)]

    def export(self) -> Iterator[str]:
        """Every event, oldest first, one JSON object per line."""
        for event in self.events():
            yield json.dumps(event.to_json(), ensure_ascii=True, sort_keys=True)

    def result_of(self, workflow_key: str, task_id: int) -> Optional[AuditEvent]:
        with self.db.begin() as conn:
            row = conn.execute(
                select(audit)
                .where(
                    audit.c.decision == RESULT,
                    audit.c.workflow_key == workflow_key,
                    audit.c.task_id == task_id,
                )
                .order_by(audit.c.id.desc())
                .limit(1)
            ).first()
        return AuditEvent.from_row(row_dict(row)) if row is not None else None
