"""Fixtures every test folder may use."""

from __future__ import annotations

from typing import Iterator

import pytest
from sanic import Sanic


@pytest.fixture(scope="session", autouse=True)
def sanic_test_mode() -> Iterator[None]:
    """Let one process start many Sanic apps (what sanic-testing does).

    Sanic 21.12 rewrites ``Sanic.handle_request`` & co. in place on every app start ("touch
    up"); only in test mode does it keep the originals to rewrite from, otherwise the second
    app in a process fails with ``KeyError: '_run_request_middleware'``.
    """
    previous = Sanic.test_mode
    Sanic.test_mode = True
    yield
    Sanic.test_mode = previous
