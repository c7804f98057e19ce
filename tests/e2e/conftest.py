"""One real stack (Zadig + DingTalk simulators, action server, Rasa server, Stream sidecar) for
the whole end-to-end module: loading the model takes about a minute, so it is started once and
every test talks in its own conversation."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import httpx
import pytest

from devstack.stack import STREAM_PYTHON, ChatClient, Ports, Stack, newest_model

_ids = itertools.count(1)
# Long enough for the approval tests to answer in time, short enough to watch one expire.
APPROVAL_TTL = 20.0


def model_under_test() -> Path:
    chosen = os.environ.get("CHATOPS_MODEL")
    model = Path(chosen) if chosen else newest_model()
    if model is None:
        pytest.fail("no trained model in models/: run `make model` (make e2e does) first")
    return model


@pytest.fixture(scope="session")
def stack():
    s = Stack(
        model=model_under_test(),
        ports=Ports.free(),
        waiting_seconds=0.3,
        running_seconds=1.5,
        followup_interval=0.5,
        stream=STREAM_PYTHON.exists(),
        send_per_minute=600,
        throttle_seconds=3,
        approval_ttl=APPROVAL_TTL,
    )
    s.start()
    yield s
    s.stop()


@pytest.fixture
def zadig(stack):
    with httpx.Client(base_url=stack.zadig_url, timeout=10) as client:
        client.post("/_sim/fault", json={"mode": "ok"})
        client.delete("/_sim/outcome")
        client.delete("/_sim/requests")
        client.post("/_sim/config", json={"waiting_seconds": 0.3, "running_seconds": 1.5})
        yield client
        client.post("/_sim/fault", json={"mode": "ok"})


@pytest.fixture
def chat(stack, zadig):
    n = next(_ids)
    client = ChatClient(
        stack, conversation=f"cid-e2e-{n}-{time.time_ns()}", user=f"staff{n}", nick=f"用户{n}"
    )
    yield client
    client.close()


@pytest.fixture
def colleague(stack, chat):
    """``colleague(user, nick, external=False)``: someone else in the same group chat."""
    clients = []

    def join(user: str, nick: str, external: bool = False) -> ChatClient:
        client = ChatClient(stack, conversation=chat.conversation, user=user, nick=nick)
        client.seen = 10**9  # reads go through `chat`; this one only speaks
        if external:
            client.say = _external(client.say)  # type: ignore[method-assign]
        clients.append(client)
        return client

    yield join
    for client in clients:
        client.close()


def _external(say):
    def speak(text, **extra):
        return say(text, external=True, **extra)

    return speak
