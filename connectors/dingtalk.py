"""DingTalk input channel for Rasa.

Routes: ``POST /webhooks/dingtalk/webhook`` and ``GET /webhooks/dingtalk/``.

HTTP mode: DingTalk posts each message here, signed (headers ``timestamp``/``sign``).
Stream mode: ``stream_sidecar`` receives over DingTalk's WebSocket and posts the same JSON here,
signed the same way, so both modes share this one code path.

Every request is size-checked and verified before anything else; a new msgId is recorded
(`InboundLog`, shared by all replicas) and answered ``200`` at once; the dialogue runs in the
background and its replies are collected for the turn, then written to the durable outbox
together with marking the message answered (`ServerRuntime.finish_turn`). A turn that fails or
produces no reply still gets an honest answer.

Conversation key: Rasa's ``sender_id`` is ``<conversationId>:<userId>``. In a group every
member gets their own tracker, so two people answering the bot at the same time never fill
each other's deploy forms; "刚才的发布" still finds a task started by someone else in the same
group through the follow-up table, which is keyed by the group's conversationId.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from chatops.dingtalk.inbound import InboundMessage, MalformedMessage, ReplyTarget, parse_message
from chatops.dingtalk.messages import choices_markdown, text_message
from chatops.dingtalk.signing import SignatureError, verify_request
from chatops.replies import EMPTY_TEXT, ONLY_TEXT, PROCESSING_FAILED
from chatops.runtime import server_runtime
from connectors.runtime import RuntimeFactory, read_limited, register_runtime_listeners

logger = logging.getLogger(__name__)

# DingTalk takes the HTTP body as a synchronous reply; "empty" means "nothing to say here".
ACK = {"msgtype": "empty"}
# A robot message is a few kilobytes; anything far larger is not DingTalk.
MAX_BODY_BYTES = 64 * 1024


def sender_key(message: InboundMessage) -> str:
    return f"{message.conversation_id}:{message.user_id}"


class DingTalkOutput(OutputChannel):
    """Collects Rasa's replies to one message, as DingTalk messages, for `finish_turn`."""

    @classmethod
    def name(cls) -> Text:
        return "dingtalk"

    def __init__(self, target: ReplyTarget) -> None:
        self.target = target
        self.messages: List[Dict[str, Any]] = []

    @property
    def mentions(self) -> List[str]:
        return self.target.mention_ids()

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        self.messages.append(text_message(text, self.mentions))

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        """Choices as markdown with dtmd:// links: one tap sends the answer."""
        options = [
            (str(b.get("title", "")), str(b.get("payload", b.get("title", "")))) for b in buttons
        ]
        title = text.splitlines()[0][:30] if text else "请选择"
        self.messages.append(choices_markdown(title, text, options, self.mentions))

    async def send_quick_replies(
        self, recipient_id: Text, text: Text, quick_replies: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)

    async def send_custom_json(
        self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any
    ) -> None:
        """A ready DingTalk message (has ``msgtype``) is sent as is."""
        if isinstance(json_message, dict) and json_message.get("msgtype"):
            self.messages.append(json_message)
        else:
            await self.send_text_message(recipient_id, str(json_message))

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, image)

    async def send_attachment(self, recipient_id: Text, attachment: Text, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, attachment)


class DingTalkInput(InputChannel):
    """Signed DingTalk robot callbacks -> Rasa."""

    @classmethod
    def name(cls) -> Text:
        return "dingtalk"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "DingTalkInput":
        # Configuration comes from the environment (chatops.settings), not from this file.
        return cls()

    def __init__(self, runtime: RuntimeFactory = server_runtime.get) -> None:
        self.runtime = runtime
        self._background: Set["asyncio.Task[None]"] = set()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("dingtalk_webhook", __name__)
        register_runtime_listeners(bp, self.runtime)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "channel": "dingtalk", **self.runtime().health()})

        @bp.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            return await self.handle(request, on_new_message)

        return bp

    async def handle(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> HTTPResponse:
        runtime = self.runtime()
        try:
            verify_request(
                request.headers.get("timestamp"),
                request.headers.get("sign"),
                runtime.settings.dingtalk_app_secret,
                max_skew_ms=int(runtime.settings.dingtalk_signature_window * 1000),
            )
        except SignatureError as exc:
            logger.warning("rejected a DingTalk callback: %s signature", exc.reason)
            runtime.metrics.messages_in.labels("unsigned").inc()
            return response.json({"error": "invalid signature", "reason": exc.reason}, status=401)
        body = await read_limited(request, MAX_BODY_BYTES)
        if body is None:
            runtime.metrics.messages_in.labels("too_large").inc()
            return response.json({"error": "body too large"}, status=413)
        try:
            message = parse_message(body)
        except MalformedMessage as exc:
            runtime.metrics.messages_in.labels("malformed").inc()
            return response.json({"error": "malformed message", "detail": str(exc)}, status=400)

        target = message.reply_target()
        if not runtime.inbound.accept(
            message.msg_id,
            conversation_id=message.conversation_id,
            sender_key=sender_key(message),
            text=message.text,
            target=target.to_dict(),
        ):
            logger.info("ignored re-delivered DingTalk message %s", message.msg_id)
            runtime.metrics.messages_in.labels("duplicate").inc()
            return response.json({**ACK, "duplicate": True})

        mentions = target.mention_ids()
        runtime.metrics.messages_in.labels("accepted" if message.supported else "unsupported").inc()
        if not message.supported:
            runtime.finish_turn(message.msg_id, target, [text_message(ONLY_TEXT, mentions)])
            return response.json(ACK)
        if not message.text:
            runtime.finish_turn(message.msg_id, target, [text_message(EMPTY_TEXT, mentions)])
            return response.json(ACK)

        output = DingTalkOutput(target)
        user_message = UserMessage(
            message.text,
            output,
            sender_key(message),
            input_channel=self.name(),
            message_id=message.msg_id,
            metadata=message.context().to_metadata(),
        )
        # Acknowledge at once; DingTalk does not wait for the dialogue.
        task = asyncio.get_running_loop().create_task(
            self._process(on_new_message, user_message, output)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return response.json(ACK)

    async def _process(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        message: UserMessage,
        output: DingTalkOutput,
    ) -> None:
        runtime = self.runtime()
        started = time.monotonic()
        try:
            await on_new_message(message)
        except Exception:
            logger.exception("processing DingTalk message %s failed", message.message_id)
            runtime.metrics.errors.labels("turn_failed").inc()
            output.messages.append(text_message(PROCESSING_FAILED, output.mentions))
        else:
            if not output.messages:
                # Rasa logs a failed custom action (action server down, an action raising)
                # and carries on without a word: say so rather than leave silence.
                logger.error("message %s produced no reply", message.message_id)
                runtime.metrics.errors.labels("no_reply").inc()
                output.messages.append(text_message(PROCESSING_FAILED, output.mentions))
        runtime.finish_turn(str(message.message_id), output.target, output.messages)
        runtime.metrics.turn_seconds.observe(time.monotonic() - started)
