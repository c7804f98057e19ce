"""A faithful Zadig simulator: the custom-workflow OpenAPI on a loopback port.

Used by the tests, the end-to-end suite and the demo in place of a real Zadig. It behaves like
Zadig's gateway (token check, 401 with an empty body) and aslan (routes, error envelopes,
quirks) as written down in ``/work/shared/reference/zadig-openapi.md``; the rules live in
``simulators.zadig_world``. A background ticker finishes tasks by the clock and sends the
workflow ``webhook`` notification once per finished task.

Run::

    python -m simulators.zadig --port 7070 --token demo-zadig-token --catalog catalog.yml \
        --waiting-seconds 1 --running-seconds 6 [--webhook-url URL --webhook-token T] \
        [--web-url http://zadig.example.com]

Every flag also reads ``ZADIG_SIM_<FLAG>`` (e.g. ``ZADIG_SIM_RUNNING_SECONDS``). Tests and the
demo steer it through the unauthenticated control API under ``/_sim`` (see `_control`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import time
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Pattern, Sequence, Tuple

import httpx
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from chatops.catalog import DEFAULT_PATH, CatalogError, load_catalog
from simulators.zadig_world import Task, World, WorldConfig, ZadigError, bad_request, internal_error

logger = logging.getLogger("simulators.zadig")

DEMO_TOKEN = "demo-zadig-token"
TICK_SECONDS = 0.05
WEBHOOK_TIMEOUT = 5.0
_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
_INT = re.compile(r"^[+-]?[0-9]+$")
_JSON = "application/json; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"


def _dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _json(body: Any, status: int = 200) -> HTTPResponse:
    return HTTPResponse(_dumps(body), status=status, content_type=_JSON)


class _BareResponse(HTTPResponse):
    """A response with no body and no Content-Type (Sanic 21.12 would send "None")."""

    @property
    def processed_headers(self):  # type: ignore[override]
        return (
            (name.encode("ascii"), f"{value}".encode(errors="surrogateescape"))
            for name, value in self.headers.items()
        )


def _empty(status: int) -> HTTPResponse:
    return _BareResponse(None, status=status)


def _text(text: str, status: int) -> HTTPResponse:
    return HTTPResponse(text, status=status, content_type=_TEXT)


class _BindError(Exception):
    """gin's BindQuery/BindJSON failure: HTTP 400 with an empty body."""


def _query(request: Request) -> Dict[str, str]:
    """First value of every query parameter, blanks kept (what gin's ``c.Query`` sees)."""
    return {k: v[0] for k, v in request.get_args(keep_blank_values=True).items()}


def _int_query(query: Dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not _INT.match(raw):
        raise _BindError(name)
    return int(raw)


Handler = Callable[..., Awaitable[HTTPResponse]]


def create_app(world_config: WorldConfig, *, clock: Callable[[], float] = time.time) -> Sanic:
    """The simulator as a Sanic app (one worker; state lives in the process)."""
    world = World(world_config, clock)
    app = Sanic(f"zadig_simulator_{uuid.uuid4().hex[:12]}")
    app.config.ACCESS_LOG = False
    app.ctx.world = world
    app.ctx.generation = 0

    # -- OpenAPI handlers --------------------------------------------------------------------

    async def list_workflows(request: Request, query: Dict[str, str]) -> HTTPResponse:
        project = query.get("projectKey", "")
        if not project:
            raise bad_request("projectKey is required")
        return _json(world.list_workflows(project))

    async def trigger(request: Request, query: Dict[str, str]) -> HTTPResponse:
        return _json(world.trigger(request.body or b""))

    async def get_task(request: Request, query: Dict[str, str]) -> HTTPResponse:
        task_id = _int_query(query, "taskId", 0)
        return _json(world.get_task(query.get("workflowKey", ""), task_id))

    async def cancel_task(request: Request, query: Dict[str, str]) -> HTTPResponse:
        # v3.4.0+ reads the query; older servers read a JSON body. Accept both, query first.
        task_id = _int_query(query, "taskId", 0)
        workflow_key = query.get("workflowKey", "")
        if "taskId" not in query and "workflowKey" not in query and request.body:
            try:
                body = json.loads(request.body)
            except (ValueError, UnicodeDecodeError):
                body = None
            if isinstance(body, dict):
                if isinstance(body.get("task_id"), int) and not isinstance(body["task_id"], bool):
                    task_id = body["task_id"]
                if isinstance(body.get("workflow_key"), str):
                    workflow_key = body["workflow_key"]
        world.cancel(workflow_key, task_id)
        return _json({"message": "success"})

    async def workflow_detail(request: Request, query: Dict[str, str], key: str) -> HTTPResponse:
        project = query.get("projectKey", "")
        if not project:
            raise bad_request("projectKey is required")
        return _json(world.workflow_detail(key, project))

    async def task_history(request: Request, query: Dict[str, str], key: str) -> HTTPResponse:
        page = _int_query(query, "pageNum", 1)
        size = _int_query(query, "pageSize", 10)
        return _json(world.list_tasks(key, query.get("projectKey", ""), page, size))

    async def list_projects(request: Request, query: Dict[str, str]) -> HTTPResponse:
        page = _int_query(query, "pageNum", 1)
        size = _int_query(query, "pageSize", 20)
        return _json(world.list_projects(page, size))

    async def project_detail(request: Request, query: Dict[str, str]) -> HTTPResponse:
        project = query.get("projectKey", "")
        if not project:
            raise bad_request("projectKey is required")
        return _json(world.project_detail(project))

    def env_list(production: bool) -> Handler:
        async def handler(request: Request, query: Dict[str, str]) -> HTTPResponse:
            project = query.get("projectKey", "")
            if not project:
                raise bad_request("projectKey is empty")
            return _json(world.list_envs(project, production))

        return handler

    def env_detail(production: bool) -> Handler:
        async def handler(request: Request, query: Dict[str, str], env: str) -> HTTPResponse:
            project = query.get("projectKey", "")
            if not project:
                raise bad_request("projectKey is required")
            return _json(world.env_detail(project, env, production))

        return handler

    async def list_services(request: Request, query: Dict[str, str]) -> HTTPResponse:
        project = query.get("projectKey", "")
        if not project:
            raise bad_request("projectKey is required")
        return _json(world.list_services(project))

    async def list_registries(request: Request, query: Dict[str, str]) -> HTTPResponse:
        return _json(world.list_registries())

    routes: List[Tuple[str, Pattern[str], Handler]] = [
        (method, re.compile(f"^{pattern}$"), handler)
        for method, pattern, handler in (
            ("GET", r"/openapi/workflows", list_workflows),
            ("POST", r"/openapi/workflows/custom/task", trigger),
            ("GET", r"/openapi/workflows/custom/task", get_task),
            ("DELETE", r"/openapi/workflows/custom/task", cancel_task),
            ("GET", r"/openapi/workflows/custom/(?P<key>[^/]+)/detail", workflow_detail),
            ("GET", r"/openapi/workflows/custom/(?P<key>[^/]+)/tasks", task_history),
            ("GET", r"/openapi/projects/project", list_projects),
            ("GET", r"/openapi/projects/project/detail", project_detail),
            ("GET", r"/openapi/environments", env_list(False)),
            ("GET", r"/openapi/environments/production", env_list(True)),
            ("GET", r"/openapi/environments/production/(?P<env>[^/]+)", env_detail(True)),
            ("GET", r"/openapi/environments/(?P<env>[^/]+)", env_detail(False)),
            ("GET", r"/openapi/service/yaml/services", list_services),
            ("GET", r"/openapi/system/registry", list_registries),
        )
    ]

    def authorized(request: Request) -> bool:
        # Gateway (ext_authz) rules: ?token= wins over the header; the header must split into
        # exactly two segments on a single space.
        token = _query(request).get("token")
        if token is None:
            header = request.headers.get("authorization")
            if header is None:
                return False
            parts = header.split(" ")
            if len(parts) != 2:
                return False
            token = parts[1]
        return bool(token) and token == world.config.token

    async def openapi(request: Request, path: str) -> HTTPResponse:
        fault = world.fault
        if fault["mode"] == "slow":
            await asyncio.sleep(fault["seconds"])
        if not authorized(request):
            return _empty(401)
        query = _query(request)
        world.record(request.method, path, query, request.body or b"")
        if world.fault["mode"] == "error500":
            return _json(internal_error("simulated outage").body, 500)
        allowed = False
        for method, pattern, handler in routes:
            match = pattern.match(path)
            if match is None:
                continue
            if method != request.method:
                allowed = True
                continue
            try:
                return await handler(request, query, **match.groupdict())
            except ZadigError as exc:
                return _json(exc.body, exc.status) if exc.body is not None else _empty(exc.status)
            except _BindError:
                return _empty(400)
        if allowed:
            return _text(f"Method not allowed: {request.method} {path}", 405)
        return _text(f"Invalid path: {path}", 404)

    # -- control API (no auth) -----------------------------------------------------------------

    def body_of(request: Request) -> Dict[str, Any]:
        if not request.body:
            return {}
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise ValueError("body must be a JSON object") from None
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body

    def config_view() -> Dict[str, Any]:
        cfg = world.config
        return {
            "waiting_seconds": cfg.waiting_seconds,
            "running_seconds": cfg.running_seconds,
            "webhook_url": cfg.webhook_url,
            "webhook_token": cfg.webhook_token,
            "web_url": cfg.web_url,
            "project_key": world.catalog.project_key,
            "workflows": sorted(world.workflows),
        }

    async def control(request: Request, path: str) -> HTTPResponse:
        parts = [p for p in path.split("/") if p][1:]
        method = request.method
        try:
            body = body_of(request) if method in ("POST", "PUT", "DELETE") else {}
            if parts == ["health"] and method == "GET":
                return _json(
                    {"status": "ok", "service": "zadig-simulator", "tasks": len(world.tasks)}
                )
            if parts == ["reset"] and method == "POST":
                world.reset()
                app.ctx.generation += 1
                return _json({"message": "reset"})
            if parts == ["config"] and method in ("GET", "POST"):
                if method == "POST":
                    world.configure(body)
                return _json(config_view())
            if parts == ["outcome"] and method in ("GET", "POST", "DELETE"):
                if method == "POST":
                    world.add_outcome(body)
                elif method == "DELETE":
                    world.outcomes.clear()
                return _json({"outcomes": [o.as_dict() for o in world.outcomes]})
            if parts == ["requests"] and method in ("GET", "DELETE"):
                if method == "DELETE":
                    world.requests.clear()
                return _json(world.requests)
            if parts == ["webhooks"] and method == "GET":
                return _json(world.deliveries)
            if parts == ["fault"] and method == "POST":
                mode = body.get("mode", "ok")
                if mode not in ("ok", "error500", "slow"):
                    raise ValueError("mode must be ok, error500 or slow")
                world.fault = {"mode": mode, "seconds": float(body.get("seconds", 0) or 0)}
                return _json(world.fault)
            if parts == ["tasks"] and method == "GET":
                world.refresh()
                return _json([world.sim_task(t) for t in world.tasks.values()])
            if len(parts) in (3, 4) and parts[0] == "tasks":
                key, raw_id = parts[1], parts[2]
                if not _INT.match(raw_id):
                    raise ValueError("task id must be an integer")
                if len(parts) == 4 and parts[3] == "finish" and method == "POST":
                    task = world.finish(
                        key, int(raw_id), body.get("status", "passed"), str(body.get("error") or "")
                    )
                    return _json(world.sim_task(task))
                if len(parts) == 3 and method == "GET":
                    world.refresh()
                    task = world.tasks.get((key, int(raw_id)))
                    if task is None:
                        raise KeyError(f"{key}:{raw_id}")
                    return _json(world.sim_task(task))
            if (
                len(parts) == 3
                and parts[0] == "workflows"
                and method == "POST"
                and parts[2] in ("disable", "enable")
            ):
                if parts[1] not in world.workflows:
                    raise KeyError(parts[1])
                world.set_disabled(parts[1], parts[2] == "disable")
                return _json({"workflow_key": parts[1], "disabled": parts[2] == "disable"})
        except KeyError as exc:
            return _json({"error": f"not found: {exc.args[0]}"}, 404)
        except (ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"error": f"no control route {method} {path}"}, 404)

    async def dispatch(request: Request, path: str = "") -> HTTPResponse:
        path = request.path
        if path == "/_sim" or path.startswith("/_sim/"):
            return await control(request, path)
        if path.startswith(("/openapi/", "/api/")) or path in ("/openapi", "/api"):
            return await openapi(request, path)
        return _text(f"Invalid path: {path}", 404)

    app.route("/", methods=_METHODS, name="root", ignore_body=False)(dispatch)
    app.route("/<path:path>", methods=_METHODS, name="any", ignore_body=False)(dispatch)

    # -- clock and outbound webhooks ------------------------------------------------------------

    async def deliver(task: Task, payload: Dict[str, Any], generation: int) -> None:
        cfg = world.config
        if not cfg.webhook_url or generation != app.ctx.generation:
            return
        event_id = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "X-Zadig-Token": cfg.webhook_token,
            "X-Zadig-Instance": cfg.web_url,
            "X-Zadig-Event": "workflow",
            "X-Zadig-Event-UUID": event_id,
            "X-Zadig-Webhook-UUID": str(uuid.uuid4()),
        }
        record: Dict[str, Any] = {
            "url": cfg.webhook_url,
            "workflow_key": task.workflow_key,
            "task_id": task.task_id,
            "status": payload["workflow"]["status"],
            "event_uuid": event_id,
            "time": world.clock(),
        }
        try:
            resp = await app.ctx.http.post(
                cfg.webhook_url, content=_dumps(payload).encode(), headers=headers
            )
            record["status_code"] = resp.status_code
            if resp.status_code // 100 != 2:
                logger.warning(
                    "webhook for %s:%s answered HTTP %s (not retried)",
                    task.workflow_key,
                    task.task_id,
                    resp.status_code,
                )
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "webhook for %s:%s failed (not retried): %s",
                task.workflow_key,
                task.task_id,
                record["error"],
            )
        if generation == app.ctx.generation:
            world.deliveries.append(record)

    async def tick() -> None:
        while True:
            try:
                world.refresh()
                for task in world.take_completed():
                    payload = world.webhook_payload(task)
                    app.add_task(deliver(task, payload, app.ctx.generation))
            except Exception:  # the ticker must survive one bad task
                logger.exception("simulator tick failed")
            await asyncio.sleep(TICK_SECONDS)

    @app.listener("after_server_start")
    async def start_ticker(app_: Sanic, loop: asyncio.AbstractEventLoop) -> None:
        app_.ctx.http = httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT)
        app_.ctx.ticker = loop.create_task(tick())

    @app.listener("before_server_stop")
    async def stop_ticker(app_: Sanic, loop: asyncio.AbstractEventLoop) -> None:
        app_.ctx.ticker.cancel()
        await app_.ctx.http.aclose()

    return app


# -- command line ------------------------------------------------------------------------------


def _env(name: str, default: Optional[str] = None) -> Optional[str]:
    value = os.environ.get(f"ZADIG_SIM_{name}")
    return value if value not in (None, "") else default


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.zadig",
        description="Zadig OpenAPI simulator (custom workflows) for tests and the demo. "
        "Every option can also be set as ZADIG_SIM_<OPTION>.",
    )
    parser.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(_env("PORT", "7070")))
    parser.add_argument(
        "--token",
        default=_env("TOKEN", DEMO_TOKEN),
        help="the API token clients must send (default: the demo token)",
    )
    parser.add_argument(
        "--catalog",
        default=_env("CATALOG", str(DEFAULT_PATH)),
        help="catalog.yml that seeds the project, workflows, envs, services",
    )
    parser.add_argument(
        "--waiting-seconds", type=float, default=float(_env("WAITING_SECONDS", "1"))
    )
    parser.add_argument(
        "--running-seconds", type=float, default=float(_env("RUNNING_SECONDS", "6"))
    )
    parser.add_argument(
        "--webhook-url",
        default=_env("WEBHOOK_URL", ""),
        help="where finished tasks are announced (workflow webhook notification)",
    )
    parser.add_argument(
        "--webhook-token",
        default=_env("WEBHOOK_TOKEN", ""),
        help="sent as X-Zadig-Token with every webhook",
    )
    parser.add_argument(
        "--web-url",
        default=_env("WEB_URL"),
        help="Zadig's public address for detail_url/X-Zadig-Instance (default: http://HOST:PORT)",
    )
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        catalog = load_catalog(args.catalog)
    except CatalogError as exc:
        raise SystemExit(str(exc)) from None
    if args.waiting_seconds < 0 or args.running_seconds < 0:
        raise SystemExit("--waiting-seconds and --running-seconds must not be negative")
    config = WorldConfig(
        catalog=catalog,
        token=args.token,
        waiting_seconds=args.waiting_seconds,
        running_seconds=args.running_seconds,
        webhook_url=args.webhook_url,
        webhook_token=args.webhook_token,
        web_url=(args.web_url or f"http://{args.host}:{args.port}").rstrip("/"),
    )
    app = create_app(config)
    logger.info(
        "Zadig simulator for project %s on http://%s:%s (workflows: %s)",
        catalog.project_key,
        args.host,
        args.port,
        ", ".join(sorted(app.ctx.world.workflows)),
    )
    app.run(host=args.host, port=args.port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
