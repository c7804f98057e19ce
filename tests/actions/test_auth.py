"""actions/auth.py: the action server refuses every call without the shared token."""

from __future__ import annotations

import socket

import httpx
import pytest
from rasa_sdk.endpoint import create_app
from sanic import Sanic

from actions.auth import authorized, protect, protect_the_action_server
from chatops.settings import get_settings

# What Rasa posts to run an action (rasa/core/actions/action.py RemoteAction._action_call_format).
CALL = {
    "next_action": "action_submit_deploy",
    "sender_id": "attacker",
    "version": "3.6.21",
    "domain": {},
    "tracker": {
        "sender_id": "attacker",
        "slots": {
            "service": "order-service",
            "environment": "prod",
            "confirmed": True,
            "branch": "anything",
        },
        "latest_message": {"intent": {"name": "affirm"}, "entities": [], "text": "确认"},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    },
}


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "the-shared-secret")
    get_settings.cache_clear()
    yield "the-shared-secret"
    get_settings.cache_clear()


@pytest.fixture
async def action_server(sanic_test_mode):
    app = create_app("actions")  # rasa_sdk's own app, as `rasa run actions` builds it
    app.config.ACCESS_LOG = False
    protect(app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    await server.startup()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        yield client
    server.close()


async def test_a_call_without_the_token_is_refused(action_server):
    response = await action_server.post("/webhook", json=CALL)

    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}


async def test_a_call_with_a_wrong_token_is_refused(action_server):
    response = await action_server.post("/webhook?token=guess", json=CALL)
    listing = await action_server.get("/actions?token=guess")

    assert (response.status_code, listing.status_code) == (401, 401)


async def test_the_right_token_reaches_the_actions(action_server):
    response = await action_server.get("/actions", params={"token": "the-shared-secret"})

    assert response.status_code == 200
    assert {"name": "action_submit_deploy"} in response.json()


async def test_health_stays_open_for_probes(action_server):
    assert (await action_server.get("/health")).json() == {"status": "ok"}


def test_an_unset_token_authorises_nothing():
    assert authorized("", "") is False
    assert authorized("anything", "") is False
    assert authorized("s3cret", "s3cret") is True


def test_importing_the_actions_protects_the_running_action_server(sanic_test_mode):
    app = Sanic("rasa_sdk", configure_logging=False)  # what rasa_sdk has made by then
    try:
        protect_the_action_server()
        assert app.ctx.chatops_protected is True
    finally:
        Sanic._app_registry.pop("rasa_sdk", None)


def test_elsewhere_importing_the_actions_changes_nothing():
    Sanic._app_registry.pop("rasa_sdk", None)
    protect_the_action_server()  # no action server in this process: nothing to do, no error


def test_endpoints_yml_sends_the_token_rasa_reads_from_the_environment(monkeypatch):
    """Rasa 3.6 expands ``${VAR}`` only in unquoted values: a quoted one would be sent as the
    literal text and every action call would get 401."""
    from rasa.core.utils import read_endpoints_from_path

    from tests.actions.conftest import ROOT

    monkeypatch.setenv("ACTION_SERVER_TOKEN", "the-shared-secret")
    endpoints = read_endpoints_from_path(ROOT / "endpoints.yml")
    assert endpoints.action.token == "the-shared-secret"


async def test_calls_are_counted_per_action_and_status(sanic_test_mode):
    from actions.metrics import CALLS, instrument

    app = create_app("actions")
    app.config.ACCESS_LOG = False
    protect(app)
    instrument(app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    await server.startup()
    before = CALLS.labels("action_submit_deploy", "401")._value.get()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.post("/webhook", json=CALL)).status_code == 401
    server.close()

    assert CALLS.labels("action_submit_deploy", "401")._value.get() == before + 1


def test_metrics_are_served_on_their_own_port_only_when_asked():
    from actions.metrics import serve_metrics

    assert serve_metrics() is False  # ACTION_METRICS_PORT unset
    assert serve_metrics(0) is False
