"""The web chat's Zadig panel: the Zadig simulator's tasks and controls, same origin.

``GET /_sim/web/zadig/panel`` gathers the Zadig simulator's ``/_sim`` config, tasks, pending
outcomes and workflow definitions into one small answer; ``/_sim/web/zadig/sim/<path>`` (GET,
POST, DELETE) forwards to its ``/_sim/<path>`` control API as it is (e.g. ``outcome``,
``workflows/<key>/approval``, ``tasks/<key>/<id>/approve``), so the page needs no CORS. Only
the unauthenticated control API is reachable this way; no token is sent. 503 when no Zadig
simulator is configured (``--zadig-url``), 502 when it does not answer.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

import httpx
from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw

from simulators.dingtalk.httputil import json_response
from simulators.dingtalk.state import state_of

TIMEOUT_S = 5.0
MAX_TASKS = 12
NO_ZADIG = "没有配置 Zadig 模拟器（--zadig-url）"
WAITING_APPROVAL = "wait_for_approval"


class Unreachable(Exception):
    """The Zadig simulator did not answer, or not with JSON."""


def _base(request: Request) -> str:
    return state_of(request).config.zadig_url


async def _get(http: httpx.AsyncClient, base: str, path: str) -> Any:
    try:
        response = await http.get(f"{base}/_sim/{path}", timeout=TIMEOUT_S)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise Unreachable(f"{path}: {type(exc).__name__}: {exc}") from exc


def _unreachable(base: str, exc: Exception) -> HTTPResponse:
    return json_response({"error": f"Zadig 模拟器不可达（{base}）：{exc}"}, 502)


async def web_zadig_panel(request: Request) -> HTTPResponse:
    base = _base(request)
    if not base:
        return json_response({"error": NO_ZADIG}, 503)
    http: httpx.AsyncClient = request.app.ctx.http
    try:
        config, tasks, outcomes = await asyncio.gather(
            _get(http, base, "config"), _get(http, base, "tasks"), _get(http, base, "outcome")
        )
        keys = [str(k) for k in config.get("workflows") or []]
        views = await asyncio.gather(*(_get(http, base, f"workflows/{k}") for k in keys))
    except Unreachable as exc:
        return _unreachable(base, exc)
    ordered = sorted(tasks, key=lambda t: (_created(t), t.get("task_id") or 0), reverse=True)
    return json_response(
        {
            "url": base,
            "user": config.get("user") or {},
            "tasks": [task_summary(t) for t in ordered[:MAX_TASKS]],
            "outcomes": outcomes.get("outcomes") or [],
            "workflows": [workflow_summary(view) for view in views],
        }
    )


async def web_zadig_proxy(request: Request, path: str) -> HTTPResponse:
    base = _base(request)
    if not base:
        return json_response({"error": NO_ZADIG}, 503)
    url = f"{base}/_sim/{path}"
    if request.query_string:
        url += "?" + request.query_string
    http: httpx.AsyncClient = request.app.ctx.http
    try:
        response = await http.request(
            request.method,
            url,
            content=request.body or None,
            headers={"Content-Type": "application/json"},
            timeout=TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        return _unreachable(base, exc)
    content_type = response.headers.get("content-type", "application/json")
    return raw(response.content, status=response.status_code, content_type=content_type)


def _created(task: Dict[str, Any]) -> int:
    preview = task.get("preview") or {}
    return int(preview.get("create_time") or 0)


def task_summary(task: Dict[str, Any]) -> Dict[str, Any]:
    """What the panel shows of one ``/_sim/tasks`` entry."""
    preview: Dict[str, Any] = task.get("preview") or {}
    services: List[str] = []
    env: Optional[str] = None
    stages = []
    for stage in preview.get("stages") or []:
        jobs = []
        for job in stage.get("jobs") or []:
            info = job.get("job_info") or {}
            service = str(info.get("service_name") or "")
            if service and service not in services:
                services.append(service)
            spec = job.get("spec") or {}
            if env is None and isinstance(spec, dict) and spec.get("env"):
                env = str(spec["env"])
            jobs.append(
                {
                    "name": str(job.get("display_name") or job.get("name") or ""),
                    "type": str(job.get("type") or ""),
                    "status": str(job.get("status") or ""),
                    "service": service,
                }
            )
        name, status = str(stage.get("name") or ""), str(stage.get("status") or "")
        # Zadig keeps the task and stage "running" while an approval job waits.
        waiting = any(job["status"] == WAITING_APPROVAL for job in jobs)
        stages.append({"name": name, "status": status, "waiting_approval": waiting, "jobs": jobs})
    return {
        "workflow_key": task.get("workflow_key"),
        "workflow_name": preview.get("workflow_name") or task.get("workflow_key"),
        "task_id": task.get("task_id"),
        "status": task.get("status") or "",
        "creator": preview.get("task_creator") or "",
        "create_time": _created(task),
        "services": services,
        "env": env or "",
        "error": preview.get("error") or "",
        "waiting_approval": any(stage["waiting_approval"] for stage in stages),
        "stages": stages,
        "outcome": task.get("outcome"),
    }


def workflow_summary(view: Dict[str, Any]) -> Dict[str, Any]:
    """A workflow key, whether it is disabled and whether it holds an approval job."""
    jobs = [job for stage in view.get("stages") or [] for job in stage.get("jobs") or []]
    return {
        "key": view.get("workflow_key"),
        "disabled": bool(view.get("disabled")),
        "approval": any(job.get("type") == "approval" for job in jobs),
    }


def register(app: Sanic) -> None:
    app.get("/_sim/web/zadig/panel")(web_zadig_panel)
    app.route("/_sim/web/zadig/sim/<path:path>", methods=["GET", "POST", "DELETE"])(web_zadig_proxy)
