"""Durable bot state in one SQLite file (``CHATOPS_DB``, default ``var/chatops.db``).

- ``FollowupStore``: tasks the bot started and still owes a result message for. The action
  server writes a row when it triggers a task; the follow-up worker (in the Rasa server process,
  see ``chatops.followups``) polls and completes it. Rows outlive restarts of either process.
  ``claim`` is an atomic state change, so the poller and Zadig's webhook can race and the result
  is still posted once.
- ``SeenMessages``: DingTalk ``msgId`` de-duplication, so a re-delivered message never runs
  (never deploys) twice.

Both are used from several processes at once: WAL mode and short transactions.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

_SCHEMA = """
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

PENDING, DELIVERING, DELIVERED = "pending", "delivering", "delivered"


def connect(path: Path | str) -> sqlite3.Connection:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.executescript(_SCHEMA)
    return conn


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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Followup":
        data = dict(row)
        data["target"] = json.loads(data["target"]) if data["target"] else None
        data.pop("delivered_at", None)
        return cls(**data)


class FollowupStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn = connect(self.path)

    def close(self) -> None:
        self._conn.close()

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
        now: Optional[float] = None,
        first_poll_in: float = 2.0,
    ) -> Followup:
        """Record a task we owe a result for (idempotent per workflow + task id)."""
        now = time.time() if now is None else now
        self._conn.execute(
            "INSERT OR IGNORE INTO followups (project_key, workflow_key, task_id, service, "
            "environment, sender_id, conversation_id, target, created_at, next_poll_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                project_key,
                workflow_key,
                int(task_id),
                service,
                environment,
                sender_id,
                conversation_id,
                json.dumps(target, ensure_ascii=False) if target else None,
                now,
                now + first_poll_in,
            ),
        )
        found = self.get(workflow_key, task_id)
        assert found is not None
        return found

    def get(self, workflow_key: str, task_id: int) -> Optional[Followup]:
        row = self._conn.execute(
            "SELECT * FROM followups WHERE workflow_key=? AND task_id=?",
            (workflow_key, int(task_id)),
        ).fetchone()
        return Followup.from_row(row) if row else None

    def due(self, now: Optional[float] = None, limit: int = 50) -> List[Followup]:
        now = time.time() if now is None else now
        rows = self._conn.execute(
            "SELECT * FROM followups WHERE state=? AND next_poll_at<=? ORDER BY next_poll_at "
            "LIMIT ?",
            (PENDING, now, limit),
        ).fetchall()
        return [Followup.from_row(r) for r in rows]

    def pending(self) -> List[Followup]:
        rows = self._conn.execute(
            "SELECT * FROM followups WHERE state!=? ORDER BY id", (DELIVERED,)
        ).fetchall()
        return [Followup.from_row(r) for r in rows]

    def reschedule(self, followup_id: int, next_poll_at: float) -> None:
        self._conn.execute(
            "UPDATE followups SET next_poll_at=?, polls=polls+1 WHERE id=? AND state=?",
            (next_poll_at, followup_id, PENDING),
        )

    def claim(self, followup_id: int) -> bool:
        """Take the right to post the result; only one caller ever gets True."""
        cur = self._conn.execute(
            "UPDATE followups SET state=? WHERE id=? AND state=?",
            (DELIVERING, followup_id, PENDING),
        )
        return cur.rowcount == 1

    def release(self, followup_id: int, retry_at: float) -> None:
        """Delivery failed after a claim: back to pending so it is tried again."""
        self._conn.execute(
            "UPDATE followups SET state=?, next_poll_at=? WHERE id=? AND state=?",
            (PENDING, retry_at, followup_id, DELIVERING),
        )

    def mark_delivered(self, followup_id: int, status: str) -> None:
        self._conn.execute(
            "UPDATE followups SET state=?, result_status=?, delivered_at=? WHERE id=?",
            (DELIVERED, status, time.time(), followup_id),
        )

    def recover_interrupted(self) -> int:
        """After a crash between claim and delivery: make those rows deliverable again."""
        cur = self._conn.execute(
            "UPDATE followups SET state=?, next_poll_at=? WHERE state=?",
            (PENDING, time.time(), DELIVERING),
        )
        return cur.rowcount

    def latest_for_conversation(self, conversation_id: str) -> Optional[Followup]:
        row = self._conn.execute(
            "SELECT * FROM followups WHERE conversation_id=? ORDER BY "
            "created_at DESC, id DESC LIMIT 1",
            (conversation_id,),
        ).fetchone()
        return Followup.from_row(row) if row else None


class SeenMessages:
    """Persistent set of DingTalk msgIds already accepted."""

    def __init__(self, path: Path | str, keep_seconds: float = 7 * 24 * 3600) -> None:
        self._conn = connect(path)
        self._keep = keep_seconds
        self._next_prune = 0.0

    def close(self) -> None:
        self._conn.close()

    def first_time(self, msg_id: str, now: Optional[float] = None) -> bool:
        """True exactly once per msgId, across processes and restarts."""
        now = time.time() if now is None else now
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO seen_messages (msg_id, seen_at) VALUES (?, ?)", (msg_id, now)
        )
        if cur.rowcount == 1 and now >= self._next_prune:  # a few times per keep period
            self._conn.execute("DELETE FROM seen_messages WHERE seen_at<?", (now - self._keep,))
            self._next_prune = now + self._keep / 10
        return cur.rowcount == 1
