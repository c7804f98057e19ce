"""Operations endpoints of the Rasa server, as a Rasa input channel (no messages come in here):

- ``GET /webhooks/ops/ready`` — 200 only once the model is loaded (the readiness probe; Rasa's
  own ``GET /`` answers as soon as the process listens, model or not: the liveness probe);
- ``GET /webhooks/ops/metrics`` — Prometheus metrics (`chatops.metrics`).

Neither reveals a conversation or a credential; the production Ingress does not expose them
(deploy/k8s), Prometheus scrapes the pods directly.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from chatops.metrics import CONTENT_TYPE
from chatops.runtime import server_runtime
from connectors.runtime import RuntimeFactory, register_runtime_listeners


def model_loaded(request: Request) -> bool:
    agent = getattr(request.app.ctx, "agent", None)
    return bool(agent is not None and agent.is_ready())


class OpsInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "ops"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "OpsInput":
        return cls()

    def __init__(self, runtime: Optional[RuntimeFactory] = None) -> None:
        self.runtime: RuntimeFactory = runtime or server_runtime.get

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("ops_webhook", __name__)
        register_runtime_listeners(bp, self.runtime)

        @bp.route("/ready", methods=["GET"])
        async def ready(request: Request) -> HTTPResponse:
            if not model_loaded(request):
                return response.json({"ready": False, "reason": "model not loaded"}, status=503)
            return response.json({"ready": True})

        @bp.route("/metrics", methods=["GET"])
        async def metrics(request: Request) -> HTTPResponse:
            body = self.runtime().metrics.exposition()
            return response.raw(body, content_type=CONTENT_TYPE)

        return bp
