"""chatops/state/schema.py: numbered migrations, an upgrade that keeps data, one migrator."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import inspect

from chatops.state import Database, FollowupStore, InboundLog, sqlite_url
from chatops.state.schema import _V1_SQLITE, MIGRATIONS, current_version


def test_a_new_database_gets_every_migration(db: Database):
    assert current_version(db) == MIGRATIONS[-1].version
    tables = set(inspect(db.engine).get_table_names())
    assert {"followups", "inbound", "outbox", "lanes", "schema_migrations"} <= tables
    assert "seen_messages" not in tables


def test_opening_again_applies_nothing(db_url: str, db: Database):
    from chatops.state.schema import migrate

    assert migrate(Database.open(db_url, migrate=False)) == []


def test_a_database_from_before_versioning_is_upgraded_with_its_rows(tmp_path: Path):
    """The SQLite file the bot wrote before migrations were numbered (version 1)."""
    path = tmp_path / "chatops.db"
    old = sqlite3.connect(path)
    old.executescript(_V1_SQLITE)
    old.execute(
        "INSERT INTO followups (project_key, workflow_key, task_id, service, environment, "
        "sender_id, conversation_id, target, created_at, next_poll_at, state) VALUES "
        "('mall', 'mall-dev', 7, 'order-service', 'dev', 'cid:u1', 'cid', NULL, 1.0, 2.0, "
        "'delivering')"
    )
    old.execute("INSERT INTO seen_messages (msg_id, seen_at) VALUES ('msgOld==', 1.0)")
    old.commit()
    old.close()

    db = Database.open(sqlite_url(path))

    assert current_version(db) == MIGRATIONS[-1].version
    kept = FollowupStore(db).get("mall-dev", 7)
    assert (kept.service, kept.conversation_id, kept.attempts) == ("order-service", "cid", 0)
    # A row caught between "claimed" and "posted" by the old code is simply pending again.
    assert kept.state == "pending"
    assert InboundLog(db).accept("msgOld==", now=2.0) is False  # its msgIds are still known


def test_two_processes_opening_a_new_database_at_once_migrate_it_once(db_url: str):
    errors = []

    def open_it() -> None:
        try:
            Database.open(db_url).dispose()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert current_version(Database.open(db_url)) == MIGRATIONS[-1].version
