"""The one fake Zadig of the unit tests: an `httpx.MockTransport` handler.

It behaves like the real server where the bot depends on it (docs/zadig-openapi.md §1-§4, §10):
the gateway's token check (401, empty body), per-workflow task counters, tasks whose build and
deploy jobs name their services (so "the task that deployed order-service" is a real match),
GET of a missing task as HTTP 500 "mongo: no documents", DELETE of a passed task as 400/6163,
history newest first, bare-array discovery lists and the error envelopes.

Tests program it three ways:
- the world: ``add_task(...)``, ``services``, ``environments``, ``workflows``, ``registries``;
- failures: ``fail(method, path, reply)`` answers matching requests with a response or raises an
  exception (a transport error) until ``recover()``;
- a script: ``reply(*answers)`` answers the next requests in order, whatever they ask (the last
  answer repeats), for client tests that check one exchange on the wire.
Every request is recorded (``requests``, ``calls``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple, Union

import httpx

TASK_PATH = "/openapi/workflows/custom/task"
NO_DOCS = "mongo: no documents in result"
TERMINAL = ("passed", "failed", "timeout", "cancelled", "reject")

Answer = Union[
    httpx.Response,
    Dict[str, Any],
    List[Any],
    Exception,
    Callable[[httpx.Request], Union[httpx.Response, Awaitable[httpx.Response]]],
]


@dataclass(frozen=True)
class Call:
    """One request the fake received, reduced to what the tests compare."""

    method: str
    path: str
    params: Dict[str, str]
    json: Any


def error_envelope(code: int, message: str, description: str) -> Dict[str, Any]:
    return {
        "type": "error",
        "message": message,
        "code": code,
        "description": description,
        "extra": {},
    }


def no_documents() -> httpx.Response:
    """What Zadig answers for a task or environment that does not exist (plain Go error)."""
    return httpx.Response(
        500, json={"message": "Internal Error: ", "code": 500, "description": NO_DOCS}
    )


def build_job(stage: int, service: str, status: str, *, module: str = "", branch: str = "test"):
    module = module or service
    return {
        "name": f"job-{stage}-0-0-build",
        "key": f"build.{service}.{module}",
        "display_name": f"build-{service}-{module}",
        "origin_name": "build",
        "type": "zadig-build",
        "status": status,
        "error": "",
        "job_info": {"service_name": service, "service_module": module, "job_name": "build"},
        "spec": {
            "repos": [{"repo_name": service, "branch": branch}],
            "image": "",
            "service_name": service,
            "service_module": module,
        },
    }


def deploy_job(stage: int, service: str, status: str, env: str, *, module: str = ""):
    module = module or service
    return {
        "name": f"job-{stage}-0-0-deploy",
        "key": f"deploy.{service}",
        "display_name": f"deploy-{service}",
        "origin_name": "deploy",
        "type": "zadig-deploy",
        "status": status,
        "error": "",
        "job_info": {"service_name": service, "job_name": "deploy"},
        "spec": {
            "env": env,
            "production": env == "prod",
            "service_and_images": [
                {"service_name": service, "service_module": module, "image": ""}
            ],
        },
    }


class FakeZadig:
    def __init__(self, token: str = "tok") -> None:
        self.token = token
        self.requests: List[httpx.Request] = []
        self.calls: List[Call] = []
        self.tasks: Dict[Tuple[str, int], Dict[str, Any]] = {}
        self.next_id: Dict[str, int] = {}
        self.services: List[Dict[str, Any]] = []
        self.environments: List[Dict[str, Any]] = []
        self.workflows: List[Dict[str, Any]] = []  # workflow detail bodies
        self.registries: List[Dict[str, Any]] = []
        self.projects: List[str] = ["mall"]
        self.logs: Dict[Tuple[str, int, str], str] = {}  # (workflow, task id, job name) -> log
        self.votes: List[Dict[str, Any]] = []  # bodies of approve calls
        self.approve_error: Optional[str] = None  # the 6169 description to refuse votes with
        self._failures: List[Tuple[str, str, Answer]] = []
        self._script: List[Answer] = []

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # -- programming the fake ------------------------------------------------------------

    def add_task(
        self,
        workflow_key: str,
        task_id: int,
        status: str,
        stages: Optional[List[Tuple[str, str]]] = None,
        *,
        services: Sequence[str] = (),
        env: Optional[str] = None,
        start_time: int = 1724300001,
        end_time: Optional[int] = None,
        project_key: str = "mall",
        creator: str = "chatops-bot",
    ) -> Dict[str, Any]:
        """A task of ``workflow_key`` whose build/deploy stages name ``services``."""
        if stages is None:
            stages = [("build", "passed"), ("deploy", status)]
        env = env or workflow_key.rsplit("-", 1)[-1]
        built = []
        for index, (name, stage_status) in enumerate(stages):
            if name == "build":
                jobs = [build_job(index, s, stage_status) for s in services]
            elif name == "deploy":
                jobs = [deploy_job(index, s, stage_status, env) for s in services]
            else:
                jobs = []
            built.append({"name": name, "status": stage_status, "error": "", "jobs": jobs})
        task: Dict[str, Any] = {
            "task_id": task_id,
            "workflow_key": workflow_key,
            "workflow_name": workflow_key,
            "project_key": project_key,
            "status": status,
            "task_creator": creator,
            "create_time": start_time - 1,
            "start_time": start_time,
            "stages": built,
        }
        if end_time is not None:
            task["end_time"] = end_time
        self.tasks[(workflow_key, task_id)] = task
        self.next_id[workflow_key] = max(self.next_id.get(workflow_key, 1), task_id + 1)
        return task

    def define_workflow(
        self,
        workflow_key: str,
        jobs: Sequence[Tuple[str, str]] = (("build", "zadig-build"), ("deploy", "zadig-deploy")),
        *,
        project_key: str = "mall",
    ) -> Dict[str, Any]:
        """A custom workflow's definition (`GET .../detail`): one stage per (job name, type)."""
        detail = {
            "workflow_key": workflow_key,
            "workflow_name": workflow_key,
            "project_key": project_key,
            "stages": [
                {"name": name, "jobs": [{"name": name, "type": job_type, "spec": {}}]}
                for name, job_type in jobs
            ],
        }
        self.workflows = [w for w in self.workflows if w["workflow_key"] != workflow_key]
        self.workflows.append(detail)
        return detail

    def fail(self, method: str, path: str, reply: Answer) -> None:
        """Answer every ``method path`` request ("*" = any) with ``reply`` until ``recover``."""
        self._failures.append((method, path, reply))

    def recover(self) -> None:
        self._failures.clear()

    def reply(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order; the last one repeats."""
        self._script.extend(answers)

    # -- what the tests inspect ------------------------------------------------------------

    @property
    def writes(self) -> List[Call]:
        """Every request but a read: what would change something in Zadig."""
        return [c for c in self.calls if c.method != "GET"]

    def calls_to(self, method: str, path: str = TASK_PATH) -> List[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def task_lookups(self) -> List[Tuple[str, int]]:
        """(workflow key, task id) of every GET of a task, in order."""
        return [
            (c.params["workflowKey"], int(c.params["taskId"]))
            for c in self.calls_to("GET")
            if "taskId" in c.params
        ]

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    @property
    def paths(self) -> List[str]:
        return [r.url.path for r in self.requests]

    # -- the transport ---------------------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        try:
            body = json.loads(request.content) if request.content else None
        except ValueError:
            body = None
        call = Call(request.method, request.url.path, dict(request.url.params), body)
        self.calls.append(call)
        if self._script:
            answer = self._script.pop(0) if len(self._script) > 1 else self._script[0]
            return await _respond(answer, request)
        for method, path, reply in self._failures:
            if method in (call.method, "*") and path in (call.path, "*"):
                return await _respond(reply, request)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return httpx.Response(401)
        return self._answer(call)

    def _answer(self, call: Call) -> httpx.Response:
        if call.path == TASK_PATH:
            return self._task_call(call)
        if call.path == f"{TASK_PATH}/approve" and call.method == "POST":
            return self._approve(call.json or {})
        logs = "/openapi/logs/log/v4/workflow/"
        if call.method == "GET" and call.path.startswith(logs):
            key, number, job = call.path[len(logs) :].split("/", 2)
            text = self.logs.get((key, int(number), job), "")
            return httpx.Response(200, text=text, headers={"content-type": "text/plain"})
        project = call.params.get("projectKey")
        prefix = "/openapi/workflows/custom/"
        if call.method == "POST" and call.path.startswith(prefix) and "/task/" in call.path:
            key, _, number = call.path[len(prefix) :].partition("/task/")
            return self._retry(key, int(number))
        if call.method == "PUT" and call.path.startswith(prefix):
            key, _, rest = call.path[len(prefix) :].partition("/task/")
            task = self.tasks.get((key, int(rest))) if rest.isdigit() else None
            if task is None:
                return no_documents()
            task["remark"] = (call.json or {}).get("remark", "")
            return httpx.Response(200, json={"message": "success"})
        if call.method == "GET" and call.path.startswith(prefix):
            key, _, what = call.path[len(prefix) :].partition("/")
            if what == "tasks":
                return self._history(key, project, call.params)
            if what == "detail":
                if project not in self.projects:
                    return httpx.Response(
                        400, json=error_envelope(400, "Bad Request", "projectKey is required")
                    )
                for workflow in self.workflows:
                    if workflow["workflow_key"] == key:
                        return httpx.Response(200, json=workflow)
                return no_documents()
        if call.method == "GET":
            if call.path == "/openapi/system/registry":
                return httpx.Response(200, json=self.registries)
            if project not in self.projects:
                return httpx.Response(
                    400, json=error_envelope(400, "Bad Request", "projectKey is required")
                )
            if call.path == "/openapi/service/yaml/services":
                return httpx.Response(200, json=self.services)
            if call.path == "/openapi/environments":
                return httpx.Response(200, json=self.environments)
            if call.path == "/openapi/workflows":
                return httpx.Response(200, json={"workflows": self._workflow_list()})
        return httpx.Response(404, text=f"Invalid path: {call.path}")

    def _task_call(self, call: Call) -> httpx.Response:
        if call.method == "POST":
            return self._trigger(call.json or {})
        key = (call.params.get("workflowKey", ""), int(call.params.get("taskId") or 0))
        task = self.tasks.get(key)
        if call.method == "GET":
            return httpx.Response(200, json=task) if task is not None else no_documents()
        if call.method == "DELETE":
            if task is None or task["status"] == "passed":
                detail = f"task: {key[0]}:{key[1]} is passed, cannot cancel" if task else NO_DOCS
                return httpx.Response(400, json=error_envelope(6163, "取消工作流任务失败", detail))
            task["status"] = "cancelled"
            return httpx.Response(200, json={"message": "success"})
        return httpx.Response(405, text=f"Method not allowed: {call.method} {call.path}")

    def _retry(self, workflow: str, task_id: int) -> httpx.Response:
        """docs/zadig-task-operations.md §3: same task id, only from a failed-like status."""
        task = self.tasks.get((workflow, task_id))
        if task is None:
            return no_documents()
        if task["status"] not in ("failed", "timeout", "cancelled", "reject"):
            body = {
                "message": "Internal Error: ",
                "code": 500,
                "description": "工作流任务状态无法重试",
            }
            return httpx.Response(500, json=body)
        task["status"] = "waiting"
        task.pop("end_time", None)
        for stage in task["stages"]:
            if stage["status"] != "passed":
                stage["status"] = ""
                for job in stage["jobs"]:
                    job["status"] = ""
        return httpx.Response(200, json={"message": "success"})

    def _approve(self, body: Dict[str, Any]) -> httpx.Response:
        """docs/zadig-task-operations.md §1.4: votes as the token's user on a waiting job."""
        self.votes.append(body)
        if self.approve_error:
            return httpx.Response(
                400, json=error_envelope(6169, "批准工作流任务失败", self.approve_error)
            )
        task = self.tasks.get((body.get("workflow_key", ""), int(body.get("task_id") or 0)))
        for stage in (task or {}).get("stages", []):
            for job in stage["jobs"]:
                if job["name"] == body.get("stage_name") and job["status"] == "wait_for_approval":
                    job["status"] = "passed" if body.get("approve") else "reject"
                    return httpx.Response(200, json={"message": "success"})
        return httpx.Response(
            400, json=error_envelope(6169, "批准工作流任务失败", "not found approval")
        )

    def _trigger(self, body: Dict[str, Any]) -> httpx.Response:
        workflow = body["workflow_key"]
        task_id = self.next_id.get(workflow, 1)
        services: List[str] = []
        env = None
        for job in body.get("inputs") or []:
            params = job.get("parameters") or {}
            env = params.get("env_name", env)
            for entry in params.get("service_list") or []:
                if entry.get("service_name") not in services:
                    services.append(entry["service_name"])
        self.add_task(
            workflow,
            task_id,
            "waiting",
            stages=[("build", "waiting"), ("deploy", "waiting")],
            services=services,
            env=env,
            project_key=body["project_key"],
        )
        return httpx.Response(
            200,
            json={
                "project_name": body["project_key"],
                "workflow_name": workflow,
                "task_id": task_id,
            },
        )

    def _history(self, workflow: str, project: Optional[str], params: Dict[str, str]):
        rows = sorted(
            (
                t
                for (w, _), t in self.tasks.items()
                if w == workflow and t["project_key"] == project
            ),
            key=lambda t: t["task_id"],
            reverse=True,
        )
        size = int(params.get("pageSize", 10))
        start = (int(params.get("pageNum", 1)) - 1) * size
        keys = ("workflow_key", "workflow_name", "project_key", "task_id", "create_time")
        page = [
            {
                **{k: t[k] for k in keys},
                "task_creator": t["task_creator"],
                "start_time": t["start_time"],
                "status": t["status"],
            }
            for t in rows[start : start + size]
        ]
        return httpx.Response(200, json={"total": len(rows), "workflow_tasks": page})

    def _workflow_list(self) -> List[Dict[str, Any]]:
        return [
            {
                "workflow_key": w["workflow_key"],
                "workflow_name": w.get("workflow_name", w["workflow_key"]),
                "update_by": "admin",
                "update_time": 1686217885,
                "type": w.get("type", "custom"),
            }
            for w in self.workflows
        ]


async def _respond(answer: Answer, request: httpx.Request) -> httpx.Response:
    if isinstance(answer, Exception):
        raise answer
    if isinstance(answer, httpx.Response):
        return answer
    if isinstance(answer, (dict, list)):
        return httpx.Response(200, json=answer)
    result = answer(request)
    if isinstance(result, httpx.Response):
        return result
    return await result


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


def add_deploy_task(
    zadig: FakeZadig,
    workflow_key: str,
    task_id: int,
    images: Dict[str, str],
    *,
    env: str,
    status: str = "passed",
    deploy_status: Optional[str] = None,
    build: bool = True,
    start_time: int = 1724300001,
    end_time: Optional[int] = None,
    creator: str = "chatops-bot",
) -> Dict[str, Any]:
    """A task whose deploy jobs (one per service, as v3.3+ shows them) put ``images`` (service ->
    image) into ``env``; ``deploy_status`` is the deploy job's own status (a task can end
    ``failed`` after its deploy job passed), ``build=False`` for a deploy-only workflow."""
    stages = [("build", "passed")] if build else []
    stages.append(("deploy", deploy_status or status))
    task = zadig.add_task(
        workflow_key,
        task_id,
        status,
        stages,
        services=list(images),
        env=env,
        start_time=start_time,
        end_time=end_time,
        creator=creator,
    )
    for stage in task["stages"]:
        for job in stage["jobs"]:
            if job["type"] == "zadig-deploy":
                job["spec"]["deploy_contents"] = ["image"]
                for entry in job["spec"]["service_and_images"]:
                    entry["image"] = images[entry["service_name"]]
    return task
