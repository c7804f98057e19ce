"""The tables, as they are after the newest migration, and the migrations that build them.

A migration is applied once, in order, and recorded in ``schema_migrations``. Version 1 is the
schema the bot used before migrations were numbered (SQLite only): a database that has its
tables but no ``schema_migrations`` is taken to be at version 1, so upgrading keeps its rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, List, Set

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from chatops.state.db import Database

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", Float, nullable=False),
)

# Tasks the bot started and owes a result message for.
followups = Table(
    "followups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_key", Text, nullable=False),
    Column("workflow_key", Text, nullable=False),
    Column("task_id", Integer, nullable=False),
    Column("service", Text),
    Column("environment", Text),
    Column("sender_id", Text),
    Column("conversation_id", Text),
    Column("target", Text),
    Column("created_at", Float, nullable=False),
    Column("next_poll_at", Float, nullable=False),
    Column("polls", Integer, nullable=False, server_default="0"),
    Column("state", Text, nullable=False, server_default="pending"),
    Column("result_status", Text),
    Column("delivered_at", Float),
    # v2
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("lease_until", Float, nullable=False, server_default="0"),
    # v4
    Column("requester", Text),
    Column("requester_nick", Text),
    # v5: the Zadig approval job already announced in the chat (announced once per round)
    Column("announced_approval", Text),
    UniqueConstraint("workflow_key", "task_id"),
)

# Every DingTalk message accepted, until it was answered (or found lost after a crash).
inbound = Table(
    "inbound",
    metadata,
    Column("msg_id", String(255), primary_key=True),
    Column("conversation_id", Text, nullable=False),
    Column("sender_key", Text, nullable=False),
    Column("text", Text, nullable=False, server_default=""),
    Column("target", Text),
    Column("received_at", Float, nullable=False),
    Column("state", String(16), nullable=False, server_default="received"),
    Column("finished_at", Float),
)

# Replies and notices to send, durable: what is written here is sent after a crash too.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("kind", String(16), nullable=False, server_default="reply"),
    Column("created_at", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("state", String(16), nullable=False, server_default="queued"),
    Column("last_error", Text),
    Column("sent_at", Float),
    Column("route", String(32)),
)

# One row per conversation: its send lane's lease (one replica sends for it at a time, in
# order) and its pacing (a token bucket; a throttled conversation waits alone).
lanes = Table(
    "lanes",
    metadata,
    Column("conversation_id", String(255), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("refilled_at", Float, nullable=False),
    Column("blocked_until", Float, nullable=False, server_default="0"),
    Column("leased_by", Text),
    Column("lease_until", Float, nullable=False, server_default="0"),
)

# Requests for a second person's approval (production deploys, rollbacks, retries).
approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("environment", Text, nullable=False),
    Column("plan", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("requester", Text, nullable=False),
    Column("requester_nick", Text, nullable=False),
    Column("requester_sender", Text, nullable=False),
    Column("conversation_id", Text, nullable=False),
    Column("target", Text),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("required", Integer, nullable=False, server_default="1"),
    Column("votes", Text, nullable=False, server_default="[]"),
    Column("decided_by", Text),
    Column("decided_nick", Text),
    Column("decided_at", Float),
    Column("reason", Text),
    Column("workflow_key", Text),
    Column("task_id", Integer),
    Column("version", Integer, nullable=False, server_default="0"),
)

# The audit trail: rows are only ever inserted.
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    Column("action", String(32), nullable=False),
    Column("decision", String(32), nullable=False),
    Column("actor_id", Text, nullable=False, server_default=""),
    Column("actor_nick", Text, nullable=False, server_default=""),
    Column("conversation_id", Text, nullable=False, server_default=""),
    Column("message", Text, nullable=False, server_default=""),
    Column("environment", Text),
    Column("services", Text, nullable=False, server_default="[]"),
    Column("plan", Text),
    Column("workflow_key", Text),
    Column("task_id", Integer),
    Column("approval_id", Integer),
    Column("detail", Text, nullable=False, server_default=""),
)

# Environment locks ("锁定生产环境，今晚大促"): at most one per environment.
locks = Table(
    "locks",
    metadata,
    Column("environment", String(64), primary_key=True),
    Column("locked_by", Text, nullable=False),
    Column("locked_nick", Text, nullable=False, server_default=""),
    Column("reason", Text, nullable=False, server_default=""),
    Column("locked_at", Float, nullable=False),
    Column("until", Float),  # None: until someone unlocks it
    Column("conversation_id", Text, nullable=False, server_default=""),
)

Index("followups_due", followups.c.state, followups.c.next_poll_at)
Index("followups_conversation", followups.c.conversation_id, followups.c.created_at)
Index("inbound_state", inbound.c.state, inbound.c.received_at)
Index("outbox_due", outbox.c.state, outbox.c.conversation_id, outbox.c.id)
Index("approvals_state", approvals.c.state, approvals.c.expires_at)
Index("audit_when", audit.c.decision, audit.c.at)


# -- migrations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


_V1_SQLITE = """
CREATE TABLE IF NOT EXISTS followups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_key TEXT NOT NULL,
    workflow_key TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    service TEXT,
    environment TEXT,
    sender_id TEXT,
    conversation_id TEXT,
    target TEXT,
    created_at REAL NOT NULL,
    next_poll_at REAL NOT NULL,
    polls INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',
    result_status TEXT,
    delivered_at REAL,
    UNIQUE (workflow_key, task_id)
);
CREATE INDEX IF NOT EXISTS followups_due ON followups (state, next_poll_at);
CREATE INDEX IF NOT EXISTS followups_conversation ON followups (conversation_id, created_at);
CREATE TABLE IF NOT EXISTS seen_messages (
    msg_id TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
"""

_V1_POSTGRES = """
CREATE TABLE IF NOT EXISTS followups (
    id SERIAL PRIMARY KEY,
    project_key TEXT NOT NULL,
    workflow_key TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    service TEXT,
    environment TEXT,
    sender_id TEXT,
    conversation_id TEXT,
    target TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    next_poll_at DOUBLE PRECISION NOT NULL,
    polls INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',
    result_status TEXT,
    delivered_at DOUBLE PRECISION,
    UNIQUE (workflow_key, task_id)
);
CREATE INDEX IF NOT EXISTS followups_due ON followups (state, next_poll_at);
CREATE INDEX IF NOT EXISTS followups_conversation ON followups (conversation_id, created_at);
CREATE TABLE IF NOT EXISTS seen_messages (
    msg_id TEXT PRIMARY KEY,
    seen_at DOUBLE PRECISION NOT NULL
);
"""


def _v1(conn: Connection) -> None:
    script = _V1_SQLITE if conn.dialect.name == "sqlite" else _V1_POSTGRES
    for statement in filter(None, (s.strip() for s in script.split(";"))):
        conn.execute(text(statement))


def _v2(conn: Connection) -> None:
    """Replicas and crash safety: follow-up attempts and leases, the inbound log (seen msgIds
    move into it), the durable outbox and the per-conversation lanes."""
    for column in (
        "attempts INTEGER NOT NULL DEFAULT 0",
        "last_error TEXT",
        "lease_until FLOAT NOT NULL DEFAULT 0",
    ):
        conn.execute(text(f"ALTER TABLE followups ADD COLUMN {column}"))
    for table in (inbound, outbox, lanes):
        table.create(conn)  # with its indexes
    conn.execute(
        text(
            "INSERT INTO inbound (msg_id, conversation_id, sender_key, text, received_at, "
            "state, finished_at) SELECT msg_id, '', '', '', seen_at, 'answered', seen_at "
            "FROM seen_messages"
        )
    )
    conn.execute(text("DROP TABLE seen_messages"))
    # The "delivering" claim is gone: a result is queued in the outbox when its row ends.
    conn.execute(text("UPDATE followups SET state = 'pending' WHERE state = 'delivering'"))


def _v3(conn: Connection) -> None:
    """Access and approvals: requests waiting for a second person, the audit trail."""
    for table in (approvals, audit):
        table.create(conn)


def _v4(conn: Connection) -> None:
    """Who asked for each followed task (the access policy's ``requester``)."""
    for column in ("requester TEXT", "requester_nick TEXT"):
        conn.execute(text(f"ALTER TABLE followups ADD COLUMN {column}"))


def _v5(conn: Connection) -> None:
    """Environment locks; follow-ups remember which Zadig approval they announced."""
    conn.execute(text("ALTER TABLE followups ADD COLUMN announced_approval TEXT"))
    locks.create(conn)


MIGRATIONS: List[Migration] = [
    Migration(1, "follow-ups and seen DingTalk messages", _v1),
    Migration(2, "replicas and crash safety: leases, inbound log, outbox, lanes", _v2),
    Migration(3, "two-person approvals and the audit trail", _v3),
    Migration(4, "the requester of each followed task", _v4),
    Migration(5, "environment locks; announced Zadig approvals", _v5),
]


def migrate(db: "Database") -> List[int]:
    """Bring the schema up to date; returns the versions applied now."""
    applied_now: List[int] = []
    with db.exclusive() as conn:
        inspector = inspect(conn)
        tables = set(inspector.get_table_names())
        if "schema_migrations" not in tables:
            schema_migrations.create(conn)
            if "followups" in tables:  # a database from before migrations were numbered
                _record(conn, MIGRATIONS[0])
        done: Set[int] = set(conn.execute(select(schema_migrations.c.version)).scalars())
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            migration.apply(conn)
            _record(conn, migration)
            applied_now.append(migration.version)
    return applied_now


def _record(conn: Connection, migration: Migration) -> None:
    conn.execute(
        schema_migrations.insert().values(
            version=migration.version,
            description=migration.description,
            applied_at=time.time(),
        )
    )


def current_version(db: "Database") -> int:
    with db.begin() as conn:
        versions = conn.execute(select(schema_migrations.c.version)).scalars().all()
    return max(versions, default=0)
