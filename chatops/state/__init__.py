"""The bot's durable state, shared by every process and replica (see ARCHITECTURE.md).

One database (`chatops.state.db.Database`, SQLite by default, PostgreSQL for replicas) holds:

- `FollowupStore` — tasks the bot started and owes a result for;
- `InboundLog` — DingTalk messages accepted (de-duplication, crash detection);
- `Outbox` — every message to send, with each conversation's lane and pacing;
- `ApprovalStore` — requests waiting for a second person's approval;
- `AuditLog` — the append-only record of every state-changing request and decision.
"""

from chatops.state.approvals import ApprovalRequest, ApprovalStore
from chatops.state.audit import AuditEvent, AuditLog
from chatops.state.db import Database, sqlite_url
from chatops.state.followups import DELIVERED, FAILED, PENDING, Followup, FollowupStore
from chatops.state.inbound import InboundLog
from chatops.state.locks import Lock, LockStore
from chatops.state.outbox import Outbox, OutboxMessage

__all__ = [
    "ApprovalRequest",
    "ApprovalStore",
    "AuditEvent",
    "AuditLog",
    "DELIVERED",
    "FAILED",
    "PENDING",
    "Database",
    "Followup",
    "FollowupStore",
    "InboundLog",
    "Lock",
    "LockStore",
    "Outbox",
    "OutboxMessage",
    "sqlite_url",
]
