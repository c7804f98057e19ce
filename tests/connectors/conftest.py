"""Fixtures for the input-channel tests: a real Sanic server around the channels' blueprints.

sanic-testing is not installed (Rasa 3.6 pins sanic 21.12, whose test client lives there), so
`serve` runs the app for real on a loopback port inside the test's event loop
(`create_server(return_asyncio_server=True)`) and hands back an `httpx.AsyncClient`. The
blueprints are mounted with Rasa's own `rasa.core.channels.channel.register`, as
`rasa/core/run.py` does, so the routes are the production ones (`/webhooks/<name>/...`).

DingTalk itself is `FakeDingTalk`, an `httpx.MockTransport` handler behind the runtime's sender:
it records every request (sessionWebhook posts, access-token calls, OpenAPI sends) and never
touches the network. The server's after_server_start listener is not fired unless a test asks
(it starts the channel's runtime); each test gets its own `ServerRuntime` on a temporary SQLite
file with only the reply queue started.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, List, Optional

import httpx
import pytest
from rasa.core.channels.channel import InputChannel, UserMessage, register
from sanic import Sanic

from chatops.runtime import ServerRuntime
from chatops.settings import from_env
from tests.fakes.dingtalk import (  # noqa: F401 - the tests import them from here
    GROUP_SEND_PATH,
    SINGLE_SEND_PATH,
    TOKEN_PATH,
    WEBHOOK_PATH,
    FakeDingTalk,
    eventually,
)

SECRET = "s3cret"
API_BASE = "http://dingtalk.test"
BASE_ENV = {
    "DINGTALK_APP_KEY": "app-key-1",
    "DINGTALK_APP_SECRET": SECRET,
    "DINGTALK_ROBOT_CODE": "dingrobot-1",
    "DINGTALK_API_BASE": API_BASE,
    "ZADIG_WEB_URL": "https://zadig.example.com",
}


class FakeAgent:
    """Stands in for ``app.ctx.agent``: records each UserMessage, optionally answers."""

    def __init__(self) -> None:
        self.messages: List[UserMessage] = []
        self.finished = 0
        self.reply: Optional[Callable[[UserMessage], Awaitable[None]]] = None
        self.gate: Optional[asyncio.Event] = None

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.reply is not None:
                await self.reply(message)
        finally:
            self.finished += 1

    async def wait_for(self, count: int = 1) -> List[UserMessage]:
        await eventually(lambda: len(self.messages) >= count, what=f"{count} user message(s)")
        return self.messages


@pytest.fixture
def dingtalk() -> FakeDingTalk:
    return FakeDingTalk()


@pytest.fixture
async def make_runtime(
    tmp_path: Path, dingtalk: FakeDingTalk
) -> AsyncIterator[Callable[..., ServerRuntime]]:
    """``make_runtime(db=None, start=True, **env)``: a real ServerRuntime talking to the fake.

    Runtimes built on the same ``db`` share state, as two processes (or a restart) would.
    Only the outbox sender is started (ticking fast); the follow-up worker and the sweeper run
    only if a test fires the server listeners.
    """
    built: List[ServerRuntime] = []

    def build(db: Optional[Path] = None, start: bool = True, **env: str) -> ServerRuntime:
        settings = from_env({**BASE_ENV, "CHATOPS_DB": str(db or tmp_path / "chatops.db"), **env})
        runtime = ServerRuntime.from_settings(
            settings, dingtalk_transport=dingtalk.transport, delivery_tick=0.02
        )
        if start:
            runtime.delivery.start()
        built.append(runtime)
        return runtime

    yield build
    for runtime in built:
        await runtime.stop()
        await runtime.delivery.stop()
        await runtime.sender.aclose()
        await runtime.zadig.aclose()
        runtime.close()


@pytest.fixture
async def runtime(make_runtime: Callable[..., ServerRuntime]) -> ServerRuntime:
    return make_runtime()


@pytest.fixture
def agent() -> FakeAgent:
    return FakeAgent()


ServeFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def serve(agent: FakeAgent) -> AsyncIterator[ServeFactory]:
    """``await serve(channel, ...)`` -> an httpx client for a running Sanic app with them.

    ``listeners=True`` also fires after_server_start (and before_server_stop at teardown),
    as a real ``rasa run`` does.
    """
    running: List[Any] = []
    stopping: List[Any] = []
    clients: List[httpx.AsyncClient] = []

    async def start(*channels: InputChannel, listeners: bool = False) -> httpx.AsyncClient:
        app = Sanic(f"t-{uuid.uuid4().hex[:12]}", configure_logging=False)
        app.config.ACCESS_LOG = False
        app.ctx.agent = agent
        register(list(channels), app, route="/webhooks/")
        # A socket of our own: Sanic 21.12 treats port=0 as "no port" and binds 8000.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        await server.startup()  # finalises the routes
        if listeners:
            await server.after_start()
            stopping.append(server)
        running.append(server)
        # verify=False: plain HTTP on loopback, and it spares loading the CA bundle per test.
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, verify=False)
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.aclose()
    for server in stopping:
        await server.before_stop()
    for server in running:
        for connection in list(server.connections):
            connection.close_if_idle()
        server.server.close()
        await server.server.wait_closed()
