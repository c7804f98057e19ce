"""The Zadig simulator as a Sanic app: one catch-all route split between OpenAPI and control."""

from __future__ import annotations

import time
import uuid
from typing import Callable

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from simulators.zadig.control import control
from simulators.zadig.httputil import METHODS, text_response
from simulators.zadig.routes import openapi
from simulators.zadig.ticker import start_ticker, stop_ticker
from simulators.zadig.world import World, WorldConfig


async def dispatch(request: Request, path: str = "") -> HTTPResponse:
    # Routing is done here rather than by Sanic, to answer unknown paths and methods as Zadig.
    world: World = request.app.ctx.world
    path = request.path
    if path == "/_sim" or path.startswith("/_sim/"):
        return control(world, request, path)
    if path.startswith(("/openapi/", "/api/")) or path in ("/openapi", "/api"):
        return await openapi(world, request, path)
    return text_response(f"Invalid path: {path}", 404)


def create_app(world_config: WorldConfig, *, clock: Callable[[], float] = time.time) -> Sanic:
    """The simulator as a Sanic app (one worker; state lives in the process)."""
    app = Sanic(f"zadig_simulator_{uuid.uuid4().hex[:12]}")
    app.config.ACCESS_LOG = False
    app.ctx.world = World(world_config, clock)
    app.route("/", methods=METHODS, name="root", ignore_body=False)(dispatch)
    app.route("/<path:path>", methods=METHODS, name="any", ignore_body=False)(dispatch)
    app.after_server_start(start_ticker)
    app.before_server_stop(stop_ticker)
    return app
