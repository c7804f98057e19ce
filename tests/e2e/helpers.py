"""What the end-to-end tests use to read the chat and the simulated Zadig."""

from __future__ import annotations

import time
from typing import Callable, Dict, List

import httpx

from devstack.stack import ChatClient


def collect(
    chat: ChatClient, until: Callable[[List[Dict]], bool], timeout: float = 20.0
) -> List[Dict]:
    """The bot's messages in this conversation until ``until(messages)`` holds (or timeout)."""
    got: List[Dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got.extend(chat.messages())
        if until(got):
            return got
        time.sleep(0.2)
    return got


def texts(messages: List[Dict]) -> str:
    return "\n---\n".join(str(m.get("text")) for m in messages)


def has(fragment: str) -> Callable[[List[Dict]], bool]:
    return lambda messages: any(fragment in str(m.get("text")) for m in messages)


def triggers(zadig: httpx.Client, workflow: str) -> List[Dict]:
    requests = zadig.get("/_sim/requests").json()
    requests = requests.get("requests", requests) if isinstance(requests, dict) else requests
    return [
        r
        for r in requests
        if r["method"] == "POST"
        and r["path"] == "/openapi/workflows/custom/task"
        and (r.get("json") or {}).get("workflow_key") == workflow
    ]
