"""Tests of chatops/ that touch the database run twice: on SQLite (the default) and on a real
PostgreSQL (started by `make test`, see tests/services.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from chatops.state import Database, sqlite_url
from tests.services import postgres_schema_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "var" / "state.db")  # the folder does not exist yet
    else:
        yield from postgres_schema_url()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database.open(db_url)
    yield database
    database.dispose()


@pytest.fixture
def other(db_url: str, db: Database) -> Iterator[Database]:
    """A second engine on the same database: what a second process (or replica) sees."""
    database = Database.open(db_url)
    yield database
    database.dispose()
