"""Requests waiting for a second person: production deploys (and rollbacks, retries) to approve.

A request is made by the action server when the requester confirms the plan, and decided by
someone else's message — possibly handled by another replica — so it lives here, not in one
person's Rasa tracker. Every change is a compare-and-set on ``version`` (and ``state``): two
approvers answering at once, or an approval racing the expiry sweep, cannot both win.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from chatops.state.db import Database, row_dict
from chatops.state.schema import approvals

PENDING, APPROVED, REJECTED, EXPIRED = "pending", "approved", "rejected", "expired"
TRIGGERED, FAILED = "triggered", "failed"
DECIDED = (APPROVED, REJECTED, EXPIRED, TRIGGERED, FAILED)
Then = Callable[[Connection, "ApprovalRequest"], None]


@dataclass(frozen=True)
class Vote:
    staff_id: str
    nick: str
    at: float


@dataclass(frozen=True)
class ApprovalRequest:
    id: int
    kind: str
    environment: str
    plan: Dict[str, Any]
    summary: str
    requester: str
    requester_nick: str
    requester_sender: str
    conversation_id: str
    target: Optional[Dict[str, Any]]
    state: str
    created_at: float
    expires_at: float
    required: int
    votes: Tuple[Vote, ...] = ()
    decided_by: Optional[str] = None
    decided_nick: Optional[str] = None
    decided_at: Optional[float] = None
    reason: Optional[str] = None
    workflow_key: Optional[str] = None
    task_id: Optional[int] = None
    version: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def approver_nicks(self) -> List[str]:
        return [v.nick for v in self.votes]

    @classmethod
    def from_row(cls, row: Dict[str, Any]) -> "ApprovalRequest":
        return cls(
            id=row["id"],
            kind=row["kind"],
            environment=row["environment"],
            plan=json.loads(row["plan"]),
            summary=row["summary"],
            requester=row["requester"],
            requester_nick=row["requester_nick"],
            requester_sender=row["requester_sender"],
            conversation_id=row["conversation_id"],
            target=json.loads(row["target"]) if row["target"] else None,
            state=row["state"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            required=row["required"],
            votes=tuple(Vote(**v) for v in json.loads(row["votes"] or "[]")),
            decided_by=row["decided_by"],
            decided_nick=row["decided_nick"],
            decided_at=row["decided_at"],
            reason=row["reason"],
            workflow_key=row["workflow_key"],
            task_id=row["task_id"],
            version=row["version"],
        )


class ApprovalStore:
    def __init__(self, db: Database, *, clock: Any = time.time) -> None:
        self.db = db
        self.clock = clock

    def create(
        self,
        *,
        kind: str,
        environment: str,
        plan: Dict[str, Any],
        summary: str,
        requester: str,
        requester_nick: str,
        requester_sender: str,
        conversation_id: str,
        target: Optional[Dict[str, Any]],
        ttl: float,
        required: int = 1,
        now: Optional[float] = None,
    ) -> ApprovalRequest:
        now = self.clock() if now is None else now
        with self.db.begin() as conn:
            new_id = conn.execute(
                approvals.insert().values(
                    kind=kind,
                    environment=environment,
                    plan=json.dumps(plan, ensure_ascii=True),
                    summary=summary,
                    requester=requester,
                    requester_nick=requester_nick,
                    requester_sender=requester_sender,
                    conversation_id=conversation_id,
                    target=json.dumps(target, ensure_ascii=True) if target else None,
                    created_at=now,
                    expires_at=now + ttl,
                    required=required,
                    votes="[]",
                )
            ).inserted_primary_key[0]
        found = self.get(int(new_id))
        assert found is not None
        return found

    def get(self, request_id: int) -> Optional[ApprovalRequest]:
        with self.db.begin() as conn:
            row = conn.execute(select(approvals).where(approvals.c.id == request_id)).first()
        return ApprovalRequest.from_row(row_dict(row)) if row is not None else None

    def pending(self, conversation_id: Optional[str] = None) -> List[ApprovalRequest]:
        query = select(approvals).where(approvals.c.state == PENDING).order_by(approvals.c.id)
        if conversation_id is not None:
            query = query.where(approvals.c.conversation_id == conversation_id)
        with self.db.begin() as conn:
            return [ApprovalRequest.from_row(row_dict(r)) for r in conn.execute(query)]

    def approve(
        self, request: ApprovalRequest, staff_id: str, nick: str, now: Optional[float] = None
    ) -> Optional[ApprovalRequest]:
        """Add one approval. The request as it is now when this vote counted (its state is
        ``approved`` when this vote made it enough), else None (decided or expired meanwhile,
        or a changed version: read it again)."""
        now = self.clock() if now is None else now
        if any(v.staff_id == staff_id for v in request.votes) or now >= request.expires_at:
            return None
        votes = [*request.votes, Vote(staff_id, nick, now)]
        enough = len(votes) >= request.required
        values: Dict[str, Any] = {
            "votes": json.dumps([v.__dict__ for v in votes], ensure_ascii=True),
            "version": request.version + 1,
        }
        if enough:
            values.update(state=APPROVED, decided_by=staff_id, decided_nick=nick, decided_at=now)
        return self._swap(request, values)

    def reject(
        self,
        request: ApprovalRequest,
        staff_id: str,
        nick: str,
        reason: str = "",
        now: Optional[float] = None,
    ) -> Optional[ApprovalRequest]:
        now = self.clock() if now is None else now
        if now >= request.expires_at:
            return None
        return self._swap(
            request,
            dict(
                state=REJECTED,
                decided_by=staff_id,
                decided_nick=nick,
                decided_at=now,
                reason=reason[:500] or None,
                version=request.version + 1,
            ),
        )

    def expire_due(
        self, now: Optional[float] = None, then: Optional[Then] = None
    ) -> List[ApprovalRequest]:
        """Pending requests past their time, each claimed (and returned) exactly once;
        ``then(conn, request)`` runs in the same transaction as each expiry (to queue the
        notice and the audit row with it)."""
        now = self.clock() if now is None else now
        expired = []
        with self.db.begin() as conn:
            rows = [
                ApprovalRequest.from_row(row_dict(r))
                for r in conn.execute(
                    select(approvals).where(
                        approvals.c.state == PENDING, approvals.c.expires_at <= now
                    )
                )
            ]
        for request in rows:
            done = self._swap(
                request, dict(state=EXPIRED, decided_at=now, version=request.version + 1), then
            )
            if done is not None:
                expired.append(done)
        return expired

    def expire(
        self, request: ApprovalRequest, now: Optional[float] = None
    ) -> Optional[ApprovalRequest]:
        """Expire one pending request past its time (None: someone else changed it first)."""
        now = self.clock() if now is None else now
        if now < request.expires_at:
            return None
        return self._swap(request, dict(state=EXPIRED, decided_at=now, version=request.version + 1))

    def triggered(self, request: ApprovalRequest, workflow_key: str, task_id: int) -> None:
        self._force(request.id, state=TRIGGERED, workflow_key=workflow_key, task_id=task_id)

    def failed(self, request: ApprovalRequest, error: str) -> None:
        self._force(request.id, state=FAILED, reason=error[:500])

    # -- helpers ----------------------------------------------------------------------------

    def _swap(
        self, request: ApprovalRequest, values: Dict[str, Any], then: Optional[Then] = None
    ) -> Optional[ApprovalRequest]:
        with self.db.begin() as conn:
            changed = conn.execute(
                update(approvals)
                .where(
                    approvals.c.id == request.id,
                    approvals.c.version == request.version,
                    approvals.c.state == PENDING,
                )
                .values(**values)
            ).rowcount
            if not changed:
                return None
            row = conn.execute(select(approvals).where(approvals.c.id == request.id)).one()
            updated = ApprovalRequest.from_row(row_dict(row))
            if then is not None:
                then(conn, updated)
        return updated

    def _force(self, request_id: int, **values: Any) -> None:
        with self.db.begin() as conn:
            conn.execute(
                update(approvals)
                .where(approvals.c.id == request_id)
                .values(version=approvals.c.version + 1, **values)
            )
