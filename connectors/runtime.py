"""What both channels share: the runtime's lifecycle with the server, and a bounded body read.

The listeners start and stop the Rasa server's runtime (`chatops.runtime.ServerRuntime`) with
the server; starting and stopping are idempotent, so both channels register them.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from sanic import Blueprint
from sanic.request import Request

from chatops.runtime import ServerRuntime

RuntimeFactory = Callable[[], ServerRuntime]


def register_runtime_listeners(bp: Blueprint, runtime: RuntimeFactory) -> None:
    async def start(*_: Any) -> None:
        runtime().start()

    async def stop(*_: Any) -> None:
        await runtime().stop()

    bp.listener("after_server_start")(start)
    bp.listener("before_server_stop")(stop)


async def read_limited(request: Request, limit: int) -> Optional[bytes]:
    """The body of a ``stream=True`` route, or None as soon as it is longer than ``limit``.

    A declared Content-Length over the limit is refused before reading anything.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    if request.stream is None:  # not a streamed route (e.g. a test app): already read
        body = request.body or b""
        return body if len(body) <= limit else None
    chunks = []
    size = 0
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            break
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
