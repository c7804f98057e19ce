"""Start and stop the Rasa server's runtime with the server (`chatops.runtime.ServerRuntime`).

Both channels register these listeners for the one process-wide runtime; starting and
stopping are idempotent, so registering twice is harmless.
"""

from __future__ import annotations

from typing import Any, Callable

from sanic import Blueprint

from chatops.runtime import ServerRuntime

RuntimeFactory = Callable[[], ServerRuntime]


def register_runtime_listeners(bp: Blueprint, runtime: RuntimeFactory) -> None:
    async def start(*_: Any) -> None:
        runtime().start()

    async def stop(*_: Any) -> None:
        await runtime().stop()

    bp.listener("after_server_start")(start)
    bp.listener("before_server_stop")(stop)
