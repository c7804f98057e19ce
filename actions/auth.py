"""The action server answers only the Rasa server: every call must carry ACTION_SERVER_TOKEN.

Rasa sends it as the ``token`` query parameter (``action_endpoint.token`` in endpoints.yml).
Without it, the action server would be an unauthenticated deploy API: one POST naming an
action and a few slots could trigger a production deploy. ``/health`` stays open for probes.

rasa_sdk has no such option, so the check is attached to its app when it imports this
package: however the server is started (``rasa run actions``, our container), the check is on.
"""

from __future__ import annotations

import hmac
import logging
from typing import Optional

from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from chatops.settings import get_settings

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health"})


def authorized(token_given: str, token_expected: str) -> bool:
    """An empty expected token authorises nothing (fail closed)."""
    return bool(token_expected) and hmac.compare_digest(
        token_given.encode("utf-8"), token_expected.encode("utf-8")
    )


def protect(app: Sanic) -> None:
    """Refuse (401) every request without the shared token, except the health check."""
    if getattr(app.ctx, "chatops_protected", False):
        return

    async def require_token(request: Request) -> Optional[HTTPResponse]:
        if request.path in OPEN_PATHS:
            return None
        expected = get_settings().action_server_token
        if not expected:
            logger.error("ACTION_SERVER_TOKEN is not set: refusing every action call")
        if not authorized(request.args.get("token", ""), expected):
            return response.json({"error": "unauthorized"}, status=401)
        return None

    app.register_middleware(require_token, "request")
    app.ctx.chatops_protected = True


def protect_the_action_server() -> None:
    """Protect rasa_sdk's app if this process is the action server (it exists by now), and
    measure it (`actions.metrics`)."""
    try:
        app = Sanic.get_app("rasa_sdk")
    except SanicException:
        return  # imported elsewhere (tests, rasa train): nothing to protect
    protect(app)
    from actions.metrics import instrument, serve_metrics

    instrument(app)
    serve_metrics()
