"""The services each process builds once: one way to wire them, one way to replace them in tests.

Two processes run the bot (see ARCHITECTURE.md):
- the **action server** (`rasa run actions`): `ActionRuntime` — catalog, Zadig client, the
  follow-up table the actions write;
- the **Rasa server** (`rasa run`): `ServerRuntime` — the DingTalk sender and its paced queue,
  the msgId table, the follow-up worker that posts task results.

Both are built by ``from_settings(settings, ...)``, whose keyword arguments (transports, clock,
sleep, retry delays) are what tests replace, and both live in a `Slot` that builds the
process's instance on first use — never at import, since rasa_sdk imports every action module
at start-up — and that tests fill with ``slot.install(...)``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, Generic, Optional, Tuple, TypeVar

import httpx

from chatops.catalog import Catalog, load_catalog
from chatops.dingtalk.inbound import ReplyTarget
from chatops.dingtalk.messages import text_message
from chatops.dingtalk.queue import SendQueue
from chatops.dingtalk.sender import Delivery, DingTalkSender
from chatops.followups import FollowupWorker
from chatops.replies import task_url
from chatops.settings import Settings, get_settings
from chatops.state import FollowupStore, SeenMessages
from chatops.tasks import TaskFinder
from chatops.zadig.client import ZadigClient

logger = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]

# How long Zadig's service/environment lists are reused (they change rarely; chat is bursty).
DISCOVERY_TTL_SECONDS = 60.0
# A live reply is retried for about 6 minutes of back-off before it is handed to on_failure.
REPLY_ATTEMPTS = 12


class Slot(Generic[T]):
    """The process's one instance of a runtime, built by ``build`` on first use."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: Optional[T] = None

    def get(self) -> T:
        if self._value is None:
            self._value = self._build()
        return self._value

    def install(self, value: Optional[T]) -> None:
        """Use ``value`` from now on (tests); None forgets it, so the next `get` builds anew."""
        self._value = value


# -- the action server -------------------------------------------------------------------------


@dataclass
class ActionRuntime:
    """What the actions use: settings, catalog, Zadig, the follow-up table, a clock."""

    settings: Settings
    catalog: Catalog
    zadig: ZadigClient
    store: FollowupStore
    clock: Clock = time.time
    monotonic: Clock = time.monotonic
    _cache: Dict[str, Tuple[float, Any]] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        zadig_transport: Optional[httpx.AsyncBaseTransport] = None,
        zadig_retry_delay: Optional[float] = None,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
    ) -> "ActionRuntime":
        retry = {} if zadig_retry_delay is None else {"retry_delay": zadig_retry_delay}
        return cls(
            settings=settings,
            catalog=load_catalog(settings.catalog_path),
            zadig=ZadigClient.from_settings(settings, transport=zadig_transport, **retry),
            store=FollowupStore(settings.state_db),
            clock=clock,
            monotonic=monotonic,
        )

    @property
    def tasks(self) -> TaskFinder:
        return TaskFinder(self.catalog, self.zadig, self.store)

    async def cached(
        self, key: str, load: Callable[[], Awaitable[T]], ttl: float = DISCOVERY_TTL_SECONDS
    ) -> T:
        """``load()`` at most once per ``ttl`` seconds; failures are not cached."""
        hit = self._cache.get(key)
        if hit and hit[0] > self.monotonic():
            value: T = hit[1]
            return value
        value = await load()
        self._cache[key] = (self.monotonic() + ttl, value)
        return value

    def task_link(self, workflow_key: str, task_id: int) -> str:
        return task_url(
            self.settings.zadig_web_url, self.catalog.project_key, workflow_key, task_id
        )

    async def aclose(self) -> None:
        await self.zadig.aclose()
        self.store.close()


# -- the Rasa server ---------------------------------------------------------------------------


class ServerRuntime:
    """What the Rasa server's channels share: sender, reply queue, msgId table, follow-ups."""

    def __init__(
        self,
        settings: Settings,
        *,
        seen: SeenMessages,
        sender: DingTalkSender,
        queue: SendQueue,
        store: FollowupStore,
        zadig: ZadigClient,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.seen = seen
        self.sender = sender
        self.queue = queue
        self.store = store
        self.zadig = zadig
        self.followups = FollowupWorker(
            store,
            zadig,
            self.notify,
            web_url=settings.zadig_web_url,
            min_interval=settings.followup_min_interval,
            max_age=settings.followup_max_seconds,
            clock=clock,
            sleep=sleep,
        )
        self.started = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        zadig_transport: Optional[httpx.AsyncBaseTransport] = None,
        dingtalk_transport: Optional[httpx.AsyncBaseTransport] = None,
        reply_attempts: int = REPLY_ATTEMPTS,
        reply_retry_delay: float = 1.0,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> "ServerRuntime":
        sender = DingTalkSender(
            settings.dingtalk_api_base,
            settings.dingtalk_app_key,
            settings.dingtalk_app_secret,
            settings.dingtalk_robot_code,
            transport=dingtalk_transport,
            max_attempts=reply_attempts,
            backoff_base=reply_retry_delay,
            sleep=sleep,
            clock=clock,
        )
        return cls(
            settings,
            seen=SeenMessages(settings.state_db),
            sender=sender,
            queue=SendQueue(
                sender, per_minute=settings.dingtalk_send_per_minute, sleep=sleep, clock=monotonic
            ),
            store=FollowupStore(settings.state_db),
            zadig=ZadigClient.from_settings(settings, transport=zadig_transport, sleep=sleep),
            clock=clock,
            sleep=sleep,
        )

    def start(self) -> None:
        """Start the reply queue and the follow-up worker (idempotent: both channels call it)."""
        if not self.started:
            self.queue.start()
            self.followups.start()
            self.started = True
            logger.info(
                "DingTalk runtime started (%d follow-ups pending)", len(self.store.pending())
            )

    async def stop(self) -> None:
        if self.started:
            await self.followups.stop()
            await self.queue.stop()
            await self.sender.aclose()
            await self.zadig.aclose()
            self.started = False

    async def send(self, target: ReplyTarget, message: Dict[str, Any]) -> Delivery:
        """Queue a message and wait until DingTalk accepted it (raises DeliveryFailed)."""
        future = await self.queue.put(target, message)
        return await future

    async def notify(self, target: Dict[str, Any], text: str) -> None:
        """Post a follow-up to a stored reply target, @-mentioning the requester in groups."""
        reply = ReplyTarget.from_dict(target)
        await self.send(reply, text_message(text, reply.mention_ids()))

    def health(self) -> Dict[str, Any]:
        return {
            "mode": self.settings.dingtalk_mode,
            "pending_followups": len(self.store.pending()),
            "queued_replies": len(self.queue.pending()),
        }

    def close(self) -> None:
        """Release the database handles (after `stop`)."""
        self.seen.close()
        self.store.close()


def _build_actions() -> ActionRuntime:
    return ActionRuntime.from_settings(get_settings())


def _build_server() -> ServerRuntime:
    return ServerRuntime.from_settings(get_settings())


# The two processes' runtimes; each process only ever builds its own.
action_runtime: Slot[ActionRuntime] = Slot(_build_actions)
server_runtime: Slot[ServerRuntime] = Slot(_build_server)
