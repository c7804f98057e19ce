"""The clock and the outbound side: move tasks on as time passes, announce what is due once.

A background task refreshes the world every `TICK_SECONDS` and POSTs the workflow ``webhook``
notifications (docs/zadig-openapi.md §6.2) the world has due (`World.take_webhooks`: a finished
task, an approval that started waiting, ...), each once, without retries.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Dict

import httpx
from sanic import Sanic

from simulators.zadig.httputil import dumps
from simulators.zadig.world import Webhook, World

logger = logging.getLogger("simulators.zadig")

TICK_SECONDS = 0.05
WEBHOOK_TIMEOUT = 5.0


async def start_ticker(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
    app.ctx.http = httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT)
    app.ctx.ticker = loop.create_task(_tick(app, app.ctx.world))


async def stop_ticker(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
    app.ctx.ticker.cancel()
    await app.ctx.http.aclose()


async def _tick(app: Sanic, world: World) -> None:
    while True:
        try:
            world.refresh()
            for hook in world.take_webhooks():
                app.add_task(_deliver(app.ctx.http, world, hook, world.generation))
        except Exception:  # the ticker must survive one bad task
            logger.exception("simulator tick failed")
        await asyncio.sleep(TICK_SECONDS)


async def _deliver(http: httpx.AsyncClient, world: World, hook: Webhook, generation: int) -> None:
    cfg = world.config
    task, payload = hook.task, hook.payload
    if not cfg.webhook_url or generation != world.generation:
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
        "notify_type": hook.notify_type,
        "event_uuid": event_id,
        "time": world.clock(),
    }
    try:
        resp = await http.post(cfg.webhook_url, content=dumps(payload).encode(), headers=headers)
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
    if generation == world.generation:
        world.deliveries.append(record)
