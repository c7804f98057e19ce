"""Zadig's workflow webhook notification, received as a Rasa channel.

Route: ``POST /webhooks/zadig/webhook``.

Configure the workflow's notification (type "webhook") with this URL and the shared token in
``ZADIG_WEBHOOK_TOKEN``. A verified notification completes the matching follow-up at once,
instead of waiting for the next poll; nothing is sent to Rasa's dialogue.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Set, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from chatops.runtime import server_runtime
from connectors.runtime import RuntimeFactory, read_limited, register_runtime_listeners

logger = logging.getLogger(__name__)

# "workflow" for per-workflow notifications (v3.1+), "complete_execute" for the v5 system hook.
ACCEPTED_EVENTS = {"workflow", "complete_execute"}
# A notification lists every stage and job of one task: generous, but bounded.
MAX_BODY_BYTES = 1024 * 1024


class ZadigWebhookInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "zadig"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "ZadigWebhookInput":
        return cls()

    def __init__(self, runtime: RuntimeFactory = server_runtime.get) -> None:
        self.runtime = runtime
        self._background: Set["asyncio.Task[bool]"] = set()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("zadig_webhook", __name__)
        register_runtime_listeners(bp, self.runtime)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            enabled = bool(self.runtime().settings.zadig_webhook_token)
            return response.json({"status": "ok", "channel": "zadig", "enabled": enabled})

        @bp.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            return await self.handle(request)

        return bp

    async def handle(self, request: Request) -> HTTPResponse:
        runtime = self.runtime()
        expected = runtime.settings.zadig_webhook_token
        if not expected:
            return response.json(
                {"error": "webhook notifications are not enabled (set ZADIG_WEBHOOK_TOKEN)"},
                status=403,
            )
        given = request.headers.get("X-Zadig-Token") or ""
        # Header bytes that are not UTF-8 arrive surrogate-escaped: compare them, do not raise.
        given_bytes = given.encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given_bytes, expected.encode()):
            logger.warning("rejected a Zadig notification with a wrong X-Zadig-Token")
            return response.json({"error": "invalid X-Zadig-Token"}, status=401)
        event = request.headers.get("X-Zadig-Event", "")
        body = await read_limited(request, MAX_BODY_BYTES)
        if body is None:
            return response.json({"error": "body too large"}, status=413)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            return response.json({"error": "body is not JSON"}, status=400)
        if not isinstance(payload, dict):
            return response.json({"error": "body is not a JSON object"}, status=400)
        body_event = payload.get("event")
        if event not in ACCEPTED_EVENTS and (
            not isinstance(body_event, str) or body_event not in ACCEPTED_EVENTS
        ):
            return response.json({"message": "ignored", "event": event})
        # Zadig gives up after 10 s and never retries (docs/zadig-openapi.md §6.2): answer now,
        # handle it in the background. Ending the follow-up is one transaction, so being cut
        # off half-way leaves nothing half-done.
        task = asyncio.get_running_loop().create_task(runtime.followups.on_webhook(payload))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return response.json({"message": "success"})
