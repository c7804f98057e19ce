"""Environment locks: "锁定生产环境，今晚有大促" — nobody deploys there until it is unlocked.

At most one lock per environment (the ``locks`` table's key). Locking an environment that is
already locked replaces the lock in one statement (an upsert: ``INSERT ... ON CONFLICT
(environment) DO UPDATE``, the same on SQLite and PostgreSQL), so there is never a moment with
no lock or two. When two people lock the same environment at once, **the one whose statement
commits last wins**: both are told their lock was made, and the table keeps the later one.

A lock with an ``until`` in the past counts as gone everywhere: `get` and `active` delete it
when they come across it, and nothing else needs to sweep.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from chatops.state.db import Database, row_dict
from chatops.state.schema import locks

_TRIES = 5  # compare-and-delete attempts while other people keep re-locking


@dataclass(frozen=True)
class Lock:
    environment: str  # environment key
    locked_by: str  # staff id
    locked_nick: str
    reason: str
    locked_at: float
    until: Optional[float]  # None: until someone unlocks it
    conversation_id: str

    @classmethod
    def from_row(cls, row: Dict[str, Any]) -> "Lock":
        return cls(
            environment=row["environment"],
            locked_by=row["locked_by"],
            locked_nick=row["locked_nick"] or "",
            reason=row["reason"] or "",
            locked_at=float(row["locked_at"]),
            until=float(row["until"]) if row["until"] is not None else None,
            conversation_id=row["conversation_id"] or "",
        )

    def expired(self, now: float) -> bool:
        return self.until is not None and self.until <= now


class LockStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def lock(
        self,
        environment: str,
        staff_id: str,
        nick: str,
        reason: str,
        until: Optional[float],
        conversation_id: str,
        now: Optional[float] = None,
    ) -> Lock:
        """Lock ``environment``, replacing any lock it has (the last writer wins)."""
        now = self.clock() if now is None else now
        made = Lock(
            environment, staff_id, nick or "", reason or "", now, until, conversation_id or ""
        )
        values = asdict(made)
        dialect: Any = postgresql if self.db.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(locks).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[locks.c.environment],
            set_={name: statement.excluded[name] for name in values if name != "environment"},
        )
        with self.db.begin() as conn:
            conn.execute(statement)
        return made

    def unlock(self, environment: str, now: Optional[float] = None) -> Optional[Lock]:
        """Remove the lock; the lock removed, or None when there was none (or it had expired).

        Compare-and-delete: the row is deleted only if it is still the lock just read, so when
        two people unlock at once exactly one of them gets the lock back.
        """
        now = self.clock() if now is None else now
        for _ in range(_TRIES):
            with self.db.begin() as conn:
                found = self._read(conn, environment)
                if found is None:
                    return None
                if self._delete(conn, found):
                    return None if found.expired(now) else found
            # Someone replaced or removed it in between: look again.
        raise RuntimeError(f"the lock of {environment} kept changing while unlocking it")

    def get(self, environment: str, now: Optional[float] = None) -> Optional[Lock]:
        """The environment's lock, or None; an expired lock is deleted and not returned."""
        now = self.clock() if now is None else now
        with self.db.begin() as conn:
            found = self._read(conn, environment)
            if found is not None and found.expired(now):
                self._delete(conn, found)
                return None
            return found

    def active(self, now: Optional[float] = None) -> List[Lock]:
        """Every lock still in force, by environment key (expired ones are deleted)."""
        now = self.clock() if now is None else now
        with self.db.begin() as conn:
            conn.execute(delete(locks).where(and_(locks.c.until.isnot(None), locks.c.until <= now)))
            rows = conn.execute(
                select(locks)
                .where(or_(locks.c.until.is_(None), locks.c.until > now))
                .order_by(locks.c.environment)
            )
            return [Lock.from_row(row_dict(r)) for r in rows]

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _read(conn: Connection, environment: str) -> Optional[Lock]:
        row = conn.execute(select(locks).where(locks.c.environment == environment)).first()
        return Lock.from_row(row_dict(row)) if row is not None else None

    @staticmethod
    def _delete(conn: Connection, lock: Lock) -> bool:
        """Delete exactly this lock (not one that replaced it meanwhile)."""
        deleted = conn.execute(
            delete(locks).where(
                locks.c.environment == lock.environment,
                locks.c.locked_by == lock.locked_by,
                locks.c.locked_at == lock.locked_at,
            )
        ).rowcount
        return bool(deleted == 1)
