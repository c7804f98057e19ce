"""Where the tests find the real PostgreSQL and Redis that `make test` starts
(scripts/services.sh), and what to do when they are not there.

`make test` sets CHATOPS_REQUIRE_SERVICES=1: a missing server is then a failure, not a skip, so
CI cannot pass without running the tests against the real components. A developer running
pytest by hand without them gets skips that say how to start them.
"""

from __future__ import annotations

import os
import uuid
from typing import Iterator, Optional

import pytest

HOW = "start them with `scripts/services.sh start` and export `scripts/services.sh env`"


def _url(name: str) -> Optional[str]:
    return os.environ.get(name) or None


def required() -> bool:
    return os.environ.get("CHATOPS_REQUIRE_SERVICES") == "1"


def postgres_url() -> str:
    url = _url("CHATOPS_TEST_PG_URL")
    if url is None:
        message = f"PostgreSQL is not configured (CHATOPS_TEST_PG_URL); {HOW}"
        pytest.fail(message) if required() else pytest.skip(message)
    return str(url)


def redis_url() -> str:
    url = _url("CHATOPS_TEST_REDIS_URL")
    if url is None:
        message = f"Redis is not configured (CHATOPS_TEST_REDIS_URL); {HOW}"
        pytest.fail(message) if required() else pytest.skip(message)
    return str(url)


def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema, dropped afterwards."""
    from sqlalchemy import create_engine, text

    base = postgres_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, future=True)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
