"""What both channels share: the runtime's lifecycle with the server, and a bounded body read.

The listeners start and stop the Rasa server's runtime (`chatops.runtime.ServerRuntime`) with
the server; starting and stopping are idempotent, so both channels register them. Sanic's own
errors are answered as plain JSON (`install_plain_errors`).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from sanic import Blueprint, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from chatops.runtime import ServerRuntime

RuntimeFactory = Callable[[], ServerRuntime]


def register_runtime_listeners(bp: Blueprint, runtime: RuntimeFactory) -> None:
    async def start(*_: Any) -> None:
        runtime().start()

    async def stop(*_: Any) -> None:
        await runtime().stop()

    bp.listener("before_server_start")(install_plain_errors)
    bp.listener("after_server_start")(start)
    bp.listener("before_server_stop")(stop)


async def install_plain_errors(app: Any, *_: Any) -> None:
    """Answer Sanic's own errors (404, 405, 400 ...) as JSON without reading the request's
    ``Accept`` header: Sanic 21.12's error page parses it and turns a malformed one into a bare
    500. Rasa's own ``ErrorResponse`` keeps its handler (a subclass is matched first)."""
    if getattr(app.ctx, "chatops_plain_errors", False):
        return
    app.ctx.chatops_plain_errors = True

    def plain(request: Request, exception: SanicException) -> HTTPResponse:
        status = int(getattr(exception, "status_code", 500) or 500)
        return response.json({"error": str(exception) or "error"}, status=status)

    app.error_handler.add(SanicException, plain)


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
