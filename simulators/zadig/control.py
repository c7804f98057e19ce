"""The simulator's own control API under ``/_sim`` (no auth; JSON in, JSON out).

``GET health``; ``POST reset``; ``GET|POST config`` (see `World.configure`);
``GET|POST|DELETE outcome`` (``{"status", "stage", "service", "error", "log", "workflow_key",
"times"}``); ``GET|DELETE requests``; ``GET webhooks``; ``GET restarts``;
``POST fault {"mode": ok|error500|slow, "seconds"}``;
``GET tasks``, ``GET tasks/<workflow>/<id>``, ``POST tasks/<workflow>/<id>/finish {"status",
"error"}``, ``POST tasks/<workflow>/<id>/approve {"user_id", "user_name", "approve", "comment",
"stage_name"}``; ``GET|DELETE workflows/<workflow>``, ``POST workflows/<workflow>/disable|enable``,
``POST|DELETE workflows/<workflow>/approval``, ``POST workflows/<workflow>/jobs``,
``DELETE workflows/<workflow>/jobs/<job>``. A bad value is 400, an unknown task or workflow 404,
each with ``{"error": ...}``; a vote Zadig would refuse is 400 with its ``code`` too.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from sanic.request import Request
from sanic.response import HTTPResponse

from simulators.zadig.args import loose_json
from simulators.zadig.errors import ZadigError
from simulators.zadig.httputil import INT, json_response
from simulators.zadig.world import World

Body = Dict[str, Any]


def _health(world: World, method: str, body: Body) -> Any:
    return {"status": "ok", "service": "zadig-simulator", "tasks": len(world.tasks)}


def _reset(world: World, method: str, body: Body) -> Any:
    world.reset()
    return {"message": "reset"}


def _config(world: World, method: str, body: Body) -> Any:
    if method == "POST":
        world.configure(body)
    cfg = world.config
    return {
        "waiting_seconds": cfg.waiting_seconds,
        "running_seconds": cfg.running_seconds,
        "webhook_url": cfg.webhook_url,
        "webhook_token": cfg.webhook_token,
        "web_url": cfg.web_url,
        "webhook_notify_types": list(cfg.webhook_notify_types),
        "version": cfg.version,
        "user": {"user_id": cfg.user_id, "user_name": cfg.user, "system_admin": cfg.system_admin},
        "approval_minute_seconds": cfg.approval_minute_seconds,
        "licensed": cfg.licensed,
        "project_key": world.catalog.project_key,
        "workflows": sorted(world.workflows),
    }


def _outcome(world: World, method: str, body: Body) -> Any:
    if method == "POST":
        world.add_outcome(body)
    elif method == "DELETE":
        world.outcomes.clear()
    return {"outcomes": [o.as_dict() for o in world.outcomes]}


def _requests(world: World, method: str, body: Body) -> Any:
    if method == "DELETE":
        world.requests.clear()
    return world.requests


def _webhooks(world: World, method: str, body: Body) -> Any:
    return world.deliveries


def _restarts(world: World, method: str, body: Body) -> Any:
    return world.restarts


def _fault(world: World, method: str, body: Body) -> Any:
    return world.set_fault(body)


def _tasks(world: World, method: str, body: Body) -> Any:
    world.refresh()
    return [world.sim_task(t) for t in world.tasks.values()]


# One-segment resources: name -> (methods, handler).
RESOURCES: Dict[str, Tuple[Tuple[str, ...], Callable[[World, str, Body], Any]]] = {
    "health": (("GET",), _health),
    "reset": (("POST",), _reset),
    "config": (("GET", "POST"), _config),
    "outcome": (("GET", "POST", "DELETE"), _outcome),
    "requests": (("GET", "DELETE"), _requests),
    "webhooks": (("GET",), _webhooks),
    "restarts": (("GET",), _restarts),
    "fault": (("POST",), _fault),
    "tasks": (("GET",), _tasks),
}


def _task(world: World, method: str, rest: List[str], body: Body) -> Optional[Any]:
    """``tasks/<workflow>/<id>[/finish|/approve]``; the id is checked whatever the method."""
    key, raw_id = rest[0], rest[1]
    if not INT.match(raw_id):
        raise ValueError("task id must be an integer")
    if rest[2:] == ["finish"] and method == "POST":
        status, error = body.get("status", "passed"), str(body.get("error") or "")
        return world.sim_task(world.finish(key, int(raw_id), status, error))
    if rest[2:] == ["approve"] and method == "POST":
        return world.sim_task(world.sim_vote(key, int(raw_id), body))
    if len(rest) == 2 and method == "GET":
        task = world.find_task(key, int(raw_id))
        if task is None:
            raise KeyError(f"{key}:{raw_id}")
        return world.sim_task(task)
    return None


def _workflow(world: World, method: str, rest: List[str], body: Body) -> Optional[Any]:
    """``workflows/<workflow>[/disable|enable|approval|jobs[/<job>]]``."""
    key, action, name = rest[0], rest[1:2], rest[2:]
    if not action:
        if method == "DELETE":
            return world.remove_workflow(key)
        return world.workflow_view(key) if method == "GET" else None
    if method == "POST" and action[0] in ("disable", "enable") and not name:
        world.set_disabled(key, action[0] == "disable")
        return {"workflow_key": key, "disabled": action[0] == "disable"}
    if action[0] == "approval" and not name:
        if method == "POST":
            return world.set_approval(key, body)
        return world.remove_approval(key) if method == "DELETE" else None
    if action[0] == "jobs":
        if method == "POST" and not name:
            return world.add_job(key, body)
        return world.remove_job(key, name[0]) if method == "DELETE" and name else None
    return None


def _answer(world: World, method: str, parts: List[str], body: Body) -> Optional[Any]:
    """The JSON answer for a control request, or None when no control route matches."""
    if len(parts) == 1 and parts[0] in RESOURCES:
        methods, handler = RESOURCES[parts[0]]
        if method in methods:
            return handler(world, method, body)
    if len(parts) in (3, 4) and parts[0] == "tasks":
        return _task(world, method, parts[1:], body)
    if 2 <= len(parts) <= 4 and parts[0] == "workflows":
        return _workflow(world, method, parts[1:], body)
    return None


def _body_of(request: Request) -> Body:
    if not request.body:
        return {}
    body = loose_json(request.body)
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def control(world: World, request: Request, path: str) -> HTTPResponse:
    parts = [p for p in path.split("/") if p][1:]
    method = request.method
    try:
        body = _body_of(request) if method in ("POST", "PUT", "DELETE") else {}
        answer = _answer(world, method, parts, body)
    except KeyError as exc:
        return json_response({"error": f"not found: {exc.args[0]}"}, 404)
    except ZadigError as exc:
        body = exc.body or {}
        return json_response({"error": body.get("description"), "code": body.get("code")}, 400)
    except (ValueError, TypeError) as exc:
        return json_response({"error": str(exc)}, 400)
    if answer is None:
        return json_response({"error": f"no control route {method} {path}"}, 404)
    return json_response(answer)
