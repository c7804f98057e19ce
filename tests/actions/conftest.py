"""Fixtures for the action tests: a fake Zadig behind httpx.MockTransport, an installed runtime,
inline Trackers and a dispatcher.

Everything is function-scoped: each test gets its own SQLite file, its own fake and its own
runtime (so the discovery cache never leaks between tests).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import httpx
import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from chatops.runtime import ActionRuntime, action_runtime
from chatops.settings import from_env

TASK_PATH = "/openapi/workflows/custom/task"
NO_DOCS = "mongo: no documents in result"

# What the DingTalk channel attaches to a message from user u1 in group cid1
# (connectors/dingtalk.py metadata_for; the target is ReplyTarget.to_dict()).
GROUP_TARGET = {
    "conversation_id": "cid1",
    "is_group": True,
    "user_id": "u1",
    "session_webhook": "http://127.0.0.1:7080/robot/sendBySession?session=abc",
    "session_webhook_expires_ms": 4102444800000,
    "robot_code": "demo-app-key",
}
UNSET = object()

Reply = Union[httpx.Response, Exception]


@dataclass(frozen=True)
class Call:
    """One request the fake received, reduced to what the tests compare."""

    method: str
    path: str
    params: Dict[str, str]
    json: Any


class FakeZadig:
    """A small programmable Zadig: tasks per workflow, discovery lists and injected failures.

    Behaves like the real server where the actions depend on it (docs/zadig-openapi.md §3, §4, §10):
    per-workflow task counters, GET of a missing task is HTTP 500 "mongo: no documents",
    DELETE of a passed task is 400/6163, history newest first, bare-array discovery lists.
    """

    def __init__(self) -> None:
        self.calls: List[Call] = []
        self.tasks: Dict[Tuple[str, int], Dict[str, Any]] = {}
        self.next_id: Dict[str, int] = {}
        self.services: List[Dict[str, Any]] = []
        self.environments: List[Dict[str, Any]] = []
        self._failures: List[Tuple[str, str, Reply]] = []

    # -- programming the fake ------------------------------------------------------------

    def add_task(
        self,
        workflow_key: str,
        task_id: int,
        status: str,
        stages: Optional[List[Tuple[str, str]]] = None,
        start_time: int = 1724300001,
        end_time: Optional[int] = None,
        project_key: str = "mall",
    ) -> Dict[str, Any]:
        if stages is None:
            stages = [("build", "passed"), ("deploy", status)]
        task: Dict[str, Any] = {
            "task_id": task_id,
            "workflow_key": workflow_key,
            "workflow_name": workflow_key,
            "project_key": project_key,
            "status": status,
            "task_creator": "chatops-bot",
            "create_time": start_time - 1,
            "start_time": start_time,
            "stages": [
                {"name": name, "status": st, "error": "", "jobs": []} for name, st in stages
            ],
        }
        if end_time is not None:
            task["end_time"] = end_time
        self.tasks[(workflow_key, task_id)] = task
        return task

    def fail(self, method: str, path: str, reply: Reply) -> None:
        """Answer every ``method path`` request ("*" = any) with ``reply`` until ``recover``."""
        self._failures.append((method, path, reply))

    def recover(self) -> None:
        self._failures.clear()

    # -- what the tests inspect ------------------------------------------------------------

    def calls_to(self, method: str, path: str = TASK_PATH) -> List[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    # -- the transport ---------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        call = Call(request.method, request.url.path, dict(request.url.params), body)
        self.calls.append(call)
        if request.headers.get("Authorization") != "Bearer tok":
            return httpx.Response(401)
        for method, path, reply in self._failures:
            if method in (call.method, "*") and path in (call.path, "*"):
                if isinstance(reply, Exception):
                    raise reply
                return reply
        return self._answer(call)

    def _answer(self, call: Call) -> httpx.Response:
        if call.path == TASK_PATH and call.method == "POST":
            workflow = call.json["workflow_key"]
            task_id = self.next_id.get(workflow, 1)
            self.next_id[workflow] = task_id + 1
            self.add_task(
                workflow, task_id, "waiting", stages=[("build", "waiting"), ("deploy", "waiting")]
            )
            return httpx.Response(
                200,
                json={
                    "project_name": call.json["project_key"],
                    "workflow_name": workflow,
                    "task_id": task_id,
                },
            )
        if call.path == TASK_PATH and call.method == "GET":
            task = self.tasks.get((call.params["workflowKey"], int(call.params["taskId"])))
            if task is None:
                return httpx.Response(
                    500, json={"message": "Internal Error: ", "code": 500, "description": NO_DOCS}
                )
            return httpx.Response(200, json=task)
        if call.path == TASK_PATH and call.method == "DELETE":
            key = (call.params["workflowKey"], int(call.params["taskId"]))
            task = self.tasks.get(key)
            if task is None or task["status"] == "passed":
                detail = (
                    f"task: {key[0]}:{key[1]} is passed, cannot cancel"
                    if task is not None
                    else NO_DOCS
                )
                return httpx.Response(
                    400,
                    json={
                        "type": "error",
                        "message": "取消工作流任务失败",
                        "code": 6163,
                        "description": detail,
                        "extra": {},
                    },
                )
            task["status"] = "cancelled"
            return httpx.Response(200, json={"message": "success"})
        prefix, suffix = "/openapi/workflows/custom/", "/tasks"
        if call.method == "GET" and call.path.startswith(prefix) and call.path.endswith(suffix):
            workflow = call.path[len(prefix) : -len(suffix)]
            rows = sorted(
                (
                    t
                    for (w, _), t in self.tasks.items()
                    if w == workflow and t["project_key"] == call.params.get("projectKey")
                ),
                key=lambda t: t["task_id"],
                reverse=True,
            )
            size = int(call.params.get("pageSize", 10))
            start = (int(call.params.get("pageNum", 1)) - 1) * size
            page = [
                {
                    k: t[k]
                    for k in (
                        "workflow_key",
                        "workflow_name",
                        "project_key",
                        "task_id",
                        "create_time",
                        "task_creator",
                        "start_time",
                        "status",
                    )
                }
                for t in rows[start : start + size]
            ]
            return httpx.Response(200, json={"total": len(rows), "workflow_tasks": page})
        if call.method == "GET" and call.path == "/openapi/service/yaml/services":
            return httpx.Response(200, json=self.services)
        if call.method == "GET" and call.path == "/openapi/environments":
            return httpx.Response(200, json=self.environments)
        return httpx.Response(404, text=f"Invalid path: {call.path}")


class FakeClock:
    """A clock the test moves by hand (``clock.value += 61``); starts at the real time."""

    def __init__(self) -> None:
        self.value = time.time()

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def fake() -> FakeZadig:
    return FakeZadig()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def rt(tmp_path: Path, fake: FakeZadig, clock: FakeClock):
    """The runtime the actions see: demo settings, the repo's catalog, the fake, a tmp store.

    Reads are retried without a pause (the tests do not need to wait for the back-off).
    """
    runtime = ActionRuntime.from_settings(
        from_env(
            {
                "CHATOPS_DB": str(tmp_path / "s.db"),
                "ZADIG_BASE_URL": "http://zadig.test",
                "ZADIG_TOKEN": "tok",
                "ZADIG_WEB_URL": "http://127.0.0.1:7070",
            }
        ),
        zadig_transport=httpx.MockTransport(fake.handle),
        zadig_retry_delay=0,
        clock=clock,
        monotonic=clock,
    )
    action_runtime.install(runtime)
    try:
        yield runtime
    finally:
        action_runtime.install(None)
        await runtime.aclose()


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture
def domain() -> Dict[str, Any]:
    """The project's domain as the action server receives it."""
    import yaml

    return yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "domain.yml").read_text(encoding="utf-8")
    )


@pytest.fixture
def make_tracker() -> Callable[..., Tracker]:
    """Build a Tracker inline: ``make_tracker(intent=..., entities={...}, slots={...})``."""

    def build(
        *,
        intent: str = "query_status",
        text: str = "",
        entities: Any = None,
        slots: Optional[Dict[str, Any]] = None,
        dingtalk: Any = UNSET,
        sender_id: str = "cid1:u1",
        active_loop: Optional[str] = None,
        events: Optional[List[Dict[str, Any]]] = None,
    ) -> Tracker:
        if isinstance(entities, dict):
            entities = [{"entity": k, "value": v} for k, v in entities.items()]
        if dingtalk is UNSET:
            dingtalk = {
                "conversation_id": "cid1",
                "user_id": "u1",
                "is_group": True,
                "target": dict(GROUP_TARGET),
            }
        metadata = {"dingtalk": dingtalk} if dingtalk is not None else {}
        all_slots: Dict[str, Any] = {
            "service": None,
            "environment": None,
            "branch": None,
            "confirmed": None,
            "last_task": None,
            "pending_cancel": None,
            "requested_slot": None,
        }
        all_slots.update(slots or {})
        return Tracker(
            sender_id=sender_id,
            slots=all_slots,
            latest_message={
                "intent": {"name": intent, "confidence": 0.99},
                "entities": entities or [],
                "text": text,
                "metadata": metadata,
            },
            events=events or [],
            paused=False,
            followup_action=None,
            active_loop={"name": active_loop} if active_loop else {},
            latest_action_name="action_listen",
        )

    return build
