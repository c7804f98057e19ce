"""The OpenAPI over HTTP: the gateway's token check, then aslan's routes mapped to `World` calls.

docs/zadig-openapi.md §1.1-§1.3 (prefixes, authentication, envelopes), §3 and §4 (routes);
docs/zadig-task-operations.md §1.4 (approve), §2.1 (job logs), §3 (retry), §4 (image update),
§6 (restart), §7 (remark). Handlers only read the request and call one rule; the rules raise
`ZadigError` for Zadig's error answers, and `BindError` stands for gin refusing a query or body.
A route that the configured server version does not have yet is answered as absent (404, or 405
when another method has the path).
"""

from __future__ import annotations

import asyncio
import re
from functools import partial
from typing import Any, Callable, List, NamedTuple, Pattern, Tuple

from sanic.request import Request
from sanic.response import HTTPResponse

from simulators.zadig.args import loose_json
from simulators.zadig.errors import ZadigError, bad_request, internal_error
from simulators.zadig.httputil import (
    BindError,
    Query,
    empty_response,
    error_response,
    int_query,
    json_response,
    query_args,
    text_response,
)
from simulators.zadig.versions import (
    CANCEL_QUERY,
    IMAGE_JOB_ROUTE,
    JOB_LOGS,
    REMARK,
    Version,
)
from simulators.zadig.world import World


def _project(query: Query, missing: str = "projectKey is required") -> str:
    project = query.get("projectKey", "")
    if not project:
        raise bad_request(missing)
    return project


# -- handlers: (world, request, query, **path parameters) -> JSON body -------------------------


def list_workflows(world: World, request: Request, query: Query) -> Any:
    return world.list_workflows(_project(query))


def trigger(world: World, request: Request, query: Query) -> Any:
    return world.trigger(request.body or b"")


def get_task(world: World, request: Request, query: Query) -> Any:
    task_id = int_query(query, "taskId", 0)
    return world.get_task(query.get("workflowKey", ""), task_id)


def _cancel_body(request: Request, task_id: int, workflow_key: str) -> Tuple[int, str]:
    body = loose_json(request.body) if request.body else None
    if not isinstance(body, dict):
        return task_id, workflow_key
    if isinstance(body.get("task_id"), int) and not isinstance(body["task_id"], bool):
        task_id = body["task_id"]
    if isinstance(body.get("workflow_key"), str):
        workflow_key = body["workflow_key"]
    return task_id, workflow_key


def cancel_task(world: World, request: Request, query: Query) -> Any:
    if world.version < CANCEL_QUERY:
        # v1.18-v3.3 bind a JSON body and ignore the query; no body is gin's bare 400.
        if not isinstance(loose_json(request.body or b""), dict):
            raise BindError("body")
        task_id, workflow_key = _cancel_body(request, 0, "")
    else:
        # v3.4.0+ reads the query; a body alone is still accepted (as older servers need it).
        task_id = int_query(query, "taskId", 0)
        workflow_key = query.get("workflowKey", "")
        if "taskId" not in query and "workflowKey" not in query:
            task_id, workflow_key = _cancel_body(request, task_id, workflow_key)
    world.cancel(workflow_key, task_id)
    return {"message": "success"}


def approve(world: World, request: Request, query: Query) -> Any:
    return world.approve(request.body or b"")


def retry(world: World, request: Request, query: Query, key: str, task: str) -> Any:
    return world.retry(key, task)


def remark(world: World, request: Request, query: Query, key: str, task: str) -> Any:
    return world.set_remark(key, task, request.body or b"")


def job_log(world: World, request: Request, query: Query, key: str, task: str, job: str) -> Any:
    return text_response(world.job_log(key, task, job), 200)


def workflow_detail(world: World, request: Request, query: Query, key: str) -> Any:
    return world.workflow_detail(key, _project(query))


def task_history(world: World, request: Request, query: Query, key: str) -> Any:
    page = int_query(query, "pageNum", 1)
    size = int_query(query, "pageSize", 10)
    return world.list_tasks(key, query.get("projectKey", ""), page, size)


def list_projects(world: World, request: Request, query: Query) -> Any:
    page = int_query(query, "pageNum", 1)
    size = int_query(query, "pageSize", 20)
    return world.list_projects(page, size)


def project_detail(world: World, request: Request, query: Query) -> Any:
    return world.project_detail(_project(query))


def list_envs(world: World, request: Request, query: Query, *, production: bool) -> Any:
    return world.list_envs(_project(query, "projectKey is empty"), production)


def env_detail(world: World, request: Request, query: Query, env: str, *, production: bool) -> Any:
    return world.env_detail(_project(query), env, production)


def list_services(world: World, request: Request, query: Query) -> Any:
    return world.list_services(_project(query))


def list_registries(world: World, request: Request, query: Query) -> Any:
    return world.list_registries()


def update_image(world: World, request: Request, query: Query, kind: str) -> Any:
    return world.update_image(kind, request.body or b"")


def restart(
    world: World, request: Request, query: Query, env: str, svc: str, *, production: bool
) -> Any:
    return world.restart_service(query.get("projectKey", ""), env, svc, production)


class Route(NamedTuple):
    method: str
    pattern: Pattern[str]
    handler: Callable[..., Any]
    since: Version = (0, 0, 0)  # the first server version that has the route


def _routes(*table: Tuple[Any, ...]) -> List[Route]:
    return [Route(row[0], re.compile(f"^{row[1]}$"), *row[2:]) for row in table]


_KEY = r"(?P<key>[^/]+)"
_ENV = r"(?P<env>[^/]+)"
_TASK = r"(?P<task>[^/]+)"
_SVC = r"(?P<svc>[^/]+)"
_IMAGE = r"/openapi/environments/image/(?P<kind>deployment|statefulset|cronjob)/[^/]+"

# First match wins: the production environment list comes before the env detail route.
ROUTES = _routes(
    ("GET", r"/openapi/workflows", list_workflows),
    ("POST", r"/openapi/workflows/custom/task", trigger),
    ("GET", r"/openapi/workflows/custom/task", get_task),
    ("DELETE", r"/openapi/workflows/custom/task", cancel_task),
    ("POST", r"/openapi/workflows/custom/task/approve", approve),
    ("GET", rf"/openapi/workflows/custom/{_KEY}/detail", workflow_detail),
    ("GET", rf"/openapi/workflows/custom/{_KEY}/tasks", task_history),
    ("POST", rf"/openapi/workflows/custom/{_KEY}/task/{_TASK}", retry),
    ("PUT", rf"/openapi/workflows/custom/{_KEY}/task/{_TASK}", remark, REMARK),
    ("GET", rf"/openapi/logs/log/v4/workflow/{_KEY}/{_TASK}/(?P<job>[^/]+)", job_log, JOB_LOGS),
    ("GET", r"/openapi/projects/project", list_projects),
    ("GET", r"/openapi/projects/project/detail", project_detail),
    ("GET", r"/openapi/environments", partial(list_envs, production=False)),
    ("GET", r"/openapi/environments/production", partial(list_envs, production=True)),
    ("GET", rf"/openapi/environments/production/{_ENV}", partial(env_detail, production=True)),
    ("GET", rf"/openapi/environments/{_ENV}", partial(env_detail, production=False)),
    ("POST", _IMAGE, update_image),
    ("POST", r"/openapi/environments/image/(?P<kind>job)/[^/]+", update_image, IMAGE_JOB_ROUTE),
    (
        "POST",
        rf"/openapi/environments/production/{_ENV}/service/{_SVC}/restart",
        partial(restart, production=True),
    ),
    (
        "POST",
        rf"/openapi/environments/{_ENV}/service/{_SVC}/restart",
        partial(restart, production=False),
    ),
    ("GET", r"/openapi/service/yaml/services", list_services),
    ("GET", r"/openapi/system/registry", list_registries),
)


# -- the gateway -------------------------------------------------------------------------------


def authorized(world: World, request: Request) -> bool:
    # Gateway (ext_authz) rules: ?token= wins over the header; the header must split into
    # exactly two segments on a single space.
    token = query_args(request).get("token")
    if token is None:
        header = request.headers.get("authorization")
        if header is None:
            return False
        parts = header.split(" ")
        if len(parts) != 2:
            return False
        token = parts[1]
    return bool(token) and token == world.config.token


async def openapi(world: World, request: Request, path: str) -> HTTPResponse:
    if world.fault["mode"] == "slow":
        await asyncio.sleep(world.fault["seconds"])
    if not authorized(world, request):
        return empty_response(401)
    query = query_args(request)
    world.record(request.method, path, query, request.body or b"")
    if world.fault["mode"] == "error500":
        return error_response(internal_error("simulated outage"))
    allowed = False
    version = world.version
    for route in ROUTES:
        match = route.pattern.match(path)
        if match is None or version < route.since:
            continue
        if route.method != request.method:
            allowed = True
            continue
        try:
            answer = route.handler(world, request, query, **match.groupdict())
        except ZadigError as exc:
            return error_response(exc)
        except BindError:
            return empty_response(400)
        return answer if isinstance(answer, HTTPResponse) else json_response(answer)
    if allowed:
        return text_response(f"Method not allowed: {request.method} {path}", 405)
    return text_response(f"Invalid path: {path}", 404)
