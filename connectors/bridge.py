"""What both inbound channels share inside the Rasa server process.

One `Bridge` per process, started with the server: the DingTalk sender and its paced queue,
the msgId de-duplication table, and the follow-up worker that posts task results (it needs
the sender, so it lives here, next to it, rather than in the action server).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Optional

from sanic import Blueprint

from chatops.dingtalk.inbound import ReplyTarget
from chatops.dingtalk.messages import text_message
from chatops.dingtalk.sender import DingTalkSender, SendQueue
from chatops.followups import FollowupWorker
from chatops.settings import Settings, get_settings
from chatops.state import FollowupStore, SeenMessages
from chatops.zadig.client import ZadigClient

logger = logging.getLogger(__name__)


class Bridge:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seen = SeenMessages(settings.state_db)
        self.sender = DingTalkSender(
            settings.dingtalk_api_base,
            settings.dingtalk_app_key,
            settings.dingtalk_app_secret,
            settings.dingtalk_robot_code,
            max_attempts=12,
        )  # ~6 minutes of backoff: DingTalk throttles for up to 10
        self.queue = SendQueue(self.sender, per_minute=settings.dingtalk_send_per_minute)
        self.store = FollowupStore(settings.state_db)
        self.zadig = ZadigClient(
            settings.zadig_base_url, settings.zadig_token, timeout=settings.zadig_timeout
        )
        self.followups = FollowupWorker(
            self.store,
            self.zadig,
            self.notify,
            web_url=settings.zadig_web_url,
            min_interval=settings.followup_min_interval,
            max_age=settings.followup_max_seconds,
        )
        self.started = False

    def start(self) -> None:
        if not self.started:
            self.queue.start()
            self.followups.start()
            self.started = True
            logger.info(
                "DingTalk bridge started (%d follow-ups pending)", len(self.store.pending())
            )

    async def stop(self) -> None:
        if self.started:
            await self.followups.stop()
            await self.queue.stop()
            await self.sender.aclose()
            await self.zadig.aclose()
            self.started = False

    async def send(self, target: ReplyTarget, message: Dict[str, Any]) -> Any:
        """Queue a message and wait until DingTalk accepted it (raises DeliveryFailed)."""
        future = await self.queue.put(target, message)
        return await future

    async def notify(self, target: Dict[str, Any], text: str) -> None:
        """Post a follow-up to a stored reply target, @-mentioning the requester in groups."""
        reply = ReplyTarget.from_dict(target)
        await self.send(reply, text_message(text, reply.mention_ids()))


_bridge: Optional[Bridge] = None


def get_bridge() -> Bridge:
    global _bridge
    if _bridge is None:
        _bridge = Bridge(get_settings())
    return _bridge


def register_bridge_listeners(bp: Blueprint, bridge_factory: Callable[[], Bridge]) -> None:
    """Start the channel's bridge with the server and stop it with the server (idempotent, so
    both channels may register it for the one process-wide bridge)."""

    async def start(*_: Any) -> None:
        bridge_factory().start()

    async def stop(*_: Any) -> None:
        await bridge_factory().stop()

    bp.listener("after_server_start")(start)
    bp.listener("before_server_stop")(stop)
