"""The one fake DingTalk of the unit tests: the receiving side of the bot's replies.

An `httpx.MockTransport` handler for the session webhook, the access-token call and the robot
OpenAPI sends (docs/dingtalk.md §2.2, §2.3). By default everything succeeds; a test can script
the next answers of one path (``script(path, *answers)``, each a function returning a response
or raising), or change the standing answer of the webhook or the OpenAPI sends.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import httpx

WEBHOOK_PATH = "/robot/sendBySession"
TOKEN_PATH = "/v1.0/oauth2/accessToken"
GROUP_SEND_PATH = "/v1.0/robot/groupMessages/send"
SINGLE_SEND_PATH = "/v1.0/robot/oToMessages/batchSend"


async def eventually(
    condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Wait until ``condition()`` holds (background work: dialogue task, outbox sender)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def ok_json(body: dict, status: int = 200) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(status, json=body)


def raise_connect() -> httpx.Response:
    raise httpx.ConnectError("connection refused")


TOO_FAST = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}


class FakeDingTalk:
    def __init__(self) -> None:
        self.requests: List[httpx.Request] = []
        self.scripts: Dict[str, List[Callable[[], httpx.Response]]] = {}
        self.webhook_answer: Dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        # (status, body) for the OpenAPI send calls instead of success, e.g. a refusal.
        self.send_answer: Optional[Tuple[int, Dict[str, Any]]] = None
        self.tokens_issued = 0

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def script(self, path: str, *answers: Callable[[], httpx.Response]) -> None:
        self.scripts.setdefault(path, []).extend(answers)

    def calls(self, path: str) -> List[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]

    async def wait_for(self, path: str, count: int = 1) -> List[httpx.Request]:
        await eventually(
            lambda: len(self.calls(path)) >= count, what=f"{count} request(s) to {path}"
        )
        return self.calls(path)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if self.scripts.get(path):
            return self.scripts[path].pop(0)()
        if path == WEBHOOK_PATH:
            return httpx.Response(200, json=self.webhook_answer)
        if path == TOKEN_PATH:
            self.tokens_issued += 1
            return httpx.Response(
                200, json={"accessToken": f"token-{self.tokens_issued}", "expireIn": 7200}
            )
        if path in (GROUP_SEND_PATH, SINGLE_SEND_PATH):
            if request.headers.get("x-acs-dingtalk-access-token") != f"token-{self.tokens_issued}":
                return httpx.Response(401, json={"code": "InvalidAuthentication"})
            if self.send_answer is not None:
                return httpx.Response(self.send_answer[0], json=self.send_answer[1])
            return httpx.Response(200, json={"processQueryKey": "pqk-1"})
        return httpx.Response(404, json={"code": "notFound", "message": path})
