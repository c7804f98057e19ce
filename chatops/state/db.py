"""The bot's database: one SQLAlchemy code path for SQLite (the default) and PostgreSQL.

`CHATOPS_DB_URL` selects it (``sqlite:///var/chatops.db`` when unset; e.g.
``postgresql://chatops:...@db:5432/chatops`` for replicas). Every process opens it with
`Database.open(url)`, which brings the schema up to date: schema changes are numbered
migrations (`chatops.state.schema.MIGRATIONS`), recorded in ``schema_migrations``, applied
once, in order, under a lock, so an upgrade keeps the existing data and two processes starting
together do not both migrate.

Rows that several processes compete for are changed with conditional UPDATEs (``... WHERE
state = 'pending'``) whose row count says who won, and inserted with "insert or ignore": both
are atomic on SQLite and on PostgreSQL, so they stay correct with several replicas.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional

from sqlalchemy import Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

logger = logging.getLogger(__name__)

# Any constant: the PostgreSQL advisory lock that serialises migrations across processes.
_MIGRATION_LOCK = 7_460_337_121


def sqlite_url(path: Path | str) -> str:
    return f"sqlite:///{Path(path).resolve()}"


class Database:
    """An engine plus the helpers the stores share."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> "Database":
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Pooled connections (opening one and setting its pragmas costs ~10 ms, paid on
            # every transaction without a pool: measured in bench/results/profile.md); SQLite's
            # own locking (WAL + busy timeout) arbitrates between the Rasa server and the action
            # server, which share the file.
            engine = create_engine(
                url,
                future=True,
                poolclass=QueuePool,
                pool_size=5,
                max_overflow=10,
                connect_args={"timeout": 10, "check_same_thread": False},
            )
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, future=True, pool_pre_ping=True, pool_size=5)
        db = cls(engine)
        if migrate:
            from chatops.state.schema import migrate as run_migrations

            run_migrations(db)
        return db

    @property
    def is_sqlite(self) -> bool:
        return bool(self.engine.dialect.name == "sqlite")

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def exclusive(self) -> Iterator[Connection]:
        """A transaction no other process can run at the same time (migrations)."""
        if self.is_sqlite:
            with self.engine.connect() as conn:
                raw = conn.connection.driver_connection
                level = raw.isolation_level
                raw.isolation_level = None
                raw.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    raw.execute("COMMIT")
                except BaseException:
                    raw.execute("ROLLBACK")
                    raise
                finally:
                    raw.isolation_level = level  # the connection goes back to the pool
        else:
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
                yield conn

    def insert_ignore(self, conn: Connection, table: Table, values: Mapping[str, Any]) -> bool:
        """Insert a row unless its key exists; True when this call inserted it."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
        return bool(conn.execute(statement).rowcount == 1)

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # In WAL mode NORMAL loses nothing when a process dies (kill -9), only on a power loss or
    # an OS crash; FULL fsyncs every commit. Production runs on PostgreSQL.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def now() -> float:
    return time.time()


def row_dict(row: Any) -> Dict[str, Any]:
    return dict(row._mapping)


def one_or_none(conn: Connection, statement: Any) -> Optional[Dict[str, Any]]:
    row = conn.execute(statement).first()
    return row_dict(row) if row is not None else None
