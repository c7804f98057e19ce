"""The action server's Prometheus metrics: calls per action and outcome, and their duration.

Served on their own port (``ACTION_METRICS_PORT``, e.g. 9105 in the containers; off when unset)
so the shared-secret check of the action API (`actions.auth`) never applies to Prometheus, and the
NetworkPolicy can open that port alone to the monitoring namespace (deploy/k8s).
"""

from __future__ import annotations

import logging
import time
from typing import Optional

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from sanic import Sanic
from sanic.request import Request
from sanic.response import BaseHTTPResponse

from chatops.settings import get_settings

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
CALLS = Counter(
    "chatops_action_calls_total",
    "Action server calls, by action and HTTP status",
    ["action", "status"],
    registry=REGISTRY,
)
SECONDS = Histogram(
    "chatops_action_seconds",
    "Time to run one action (Zadig calls included)",
    ["action"],
    buckets=(0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
    registry=REGISTRY,
)


def action_of(request: Request) -> str:
    try:
        body = request.json
    except Exception:  # not JSON: rasa_sdk answers it itself
        return "unknown"
    name = body.get("next_action") if isinstance(body, dict) else None
    return (
        name if isinstance(name, str) and name.startswith(("action_", "validate_")) else "unknown"
    )


def instrument(app: Sanic) -> None:
    if getattr(app.ctx, "chatops_metrics", False):
        return
    app.ctx.chatops_metrics = True

    async def started(request: Request) -> None:
        request.ctx.chatops_started = time.monotonic()

    async def finished(request: Request, response: BaseHTTPResponse) -> None:
        if request.path != "/webhook":
            return
        action = action_of(request)
        CALLS.labels(action, str(response.status)).inc()
        began = getattr(request.ctx, "chatops_started", None)
        if began is not None:
            SECONDS.labels(action).observe(time.monotonic() - began)

    app.register_middleware(started, "request")
    app.register_middleware(finished, "response")


def serve_metrics(port: Optional[int] = None) -> bool:
    """Start the metrics endpoint if ``ACTION_METRICS_PORT`` is set (idempotent per process)."""
    settings = get_settings()
    port = settings.action_metrics_port if port is None else port
    if port <= 0 or getattr(serve_metrics, "started", False):
        return False
    host = settings.action_metrics_host
    start_http_server(port, addr=host, registry=REGISTRY)
    serve_metrics.started = True  # type: ignore[attr-defined]
    logger.info("action server metrics on %s:%s/metrics", host, port)
    return True
