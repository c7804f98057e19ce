"""The bot's durable state, shared by every process and replica (see ARCHITECTURE.md).

One database (`chatops.state.db.Database`, SQLite by default, PostgreSQL for replicas) holds:

- `FollowupStore` — tasks the bot started and owes a result for;
- `InboundLog` — DingTalk messages accepted (de-duplication, crash detection);
- `Outbox` — every message to send, with each conversation's lane and pacing.
"""

from chatops.state.db import Database, sqlite_url
from chatops.state.followups import DELIVERED, FAILED, PENDING, Followup, FollowupStore
from chatops.state.inbound import InboundLog
from chatops.state.outbox import Outbox, OutboxMessage

__all__ = [
    "DELIVERED",
    "FAILED",
    "PENDING",
    "Database",
    "Followup",
    "FollowupStore",
    "InboundLog",
    "Outbox",
    "OutboxMessage",
    "sqlite_url",
]
