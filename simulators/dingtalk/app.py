"""The DingTalk simulator as a Sanic app: state on ``app.ctx``, each concern's routes added."""

from __future__ import annotations

import itertools
from typing import Any, Optional

import httpx
from sanic import Sanic

from simulators.dingtalk import control, receiving, stream, web
from simulators.dingtalk.state import SimConfig, SimState

_app_numbers = itertools.count(1)


async def _open_client(app: Sanic, _loop: Any) -> None:
    app.ctx.http = httpx.AsyncClient(timeout=app.ctx.bot_timeout)


async def _close_client(app: Sanic, _loop: Any) -> None:
    await app.ctx.http.aclose()


def create_app(
    app_key: str = "demo-app-key",
    app_secret: str = "demo-app-secret",
    bot_url: str = "http://127.0.0.1:5005/webhooks/dingtalk/webhook",
    *,
    robot_code: Optional[str] = None,
    session_ttl_seconds: float = 5400.0,
    rate_limit: int = 20,
    public_url: str = "",
    bot_timeout: float = 60.0,
    zadig_url: str = "",
) -> Sanic:
    """A Sanic app simulating DingTalk for one enterprise-internal robot."""
    initial = SimConfig(
        app_key=app_key,
        app_secret=app_secret,
        robot_code=robot_code or app_key,
        bot_url=bot_url,
        session_ttl_seconds=session_ttl_seconds,
        rate_limit=rate_limit,
        public_url=public_url.rstrip("/"),
        zadig_url=zadig_url.rstrip("/"),
    )
    app = Sanic(f"dingtalk_sim_{next(_app_numbers)}")
    # The gateway does not ping at WebSocket level (Sanic's Config types the interval as int).
    app.config.update({"KEEP_ALIVE_TIMEOUT": 30, "WEBSOCKET_PING_INTERVAL": None})
    app.ctx.initial = initial
    app.ctx.state = SimState.start(initial)
    app.ctx.bot_timeout = bot_timeout
    app.before_server_start(_open_client)
    app.after_server_stop(_close_client)
    control.register(app)
    receiving.register(app)
    stream.register(app)
    web.register(app)
    return app
