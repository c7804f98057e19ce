"""Send one robot's messages in order, paced, without losing one (in-process queue).

`SendQueue` wraps a `DingTalkSender`: one message at a time, at most ``per_minute`` a minute,
failures reported instead of dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Tuple

from chatops.dingtalk.inbound import ReplyTarget
from chatops.dingtalk.sender import Delivery, DeliveryFailed, DingTalkSender, Sleep

logger = logging.getLogger(__name__)

FailureHandler = Callable[[ReplyTarget, Dict[str, Any], DeliveryFailed], Awaitable[None]]


@dataclass
class _Item:
    target: ReplyTarget
    message: Dict[str, Any]
    future: "asyncio.Future[Delivery]"


class SendQueue:
    """Send one robot's messages one at a time, in order, at most ``per_minute`` a minute.

    ``put`` returns a future for the `Delivery`. A message that still fails after the sender's
    retries is handed to ``on_failure`` (e.g. to persist it) and kept in ``failed``; its future
    carries the `DeliveryFailed`. `stop` interrupts the message in flight, which stays at the
    head of `pending` and is sent again (at-least-once) if the queue is started again.
    """

    def __init__(
        self,
        sender: DingTalkSender,
        *,
        per_minute: int = 20,
        on_failure: Optional[FailureHandler] = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sender = sender
        self.per_minute = per_minute
        self.on_failure = on_failure
        self.failed: List[Tuple[ReplyTarget, Dict[str, Any], DeliveryFailed]] = []
        self._sleep = sleep
        self._clock = clock
        self._sent_at: Deque[float] = deque()
        self._items: Deque[_Item] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: Optional["asyncio.Task[None]"] = None

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    def start(self) -> None:
        if not self.running:
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        worker.cancel()
        try:
            await worker
        except asyncio.CancelledError:
            pass

    async def put(self, target: ReplyTarget, message: Dict[str, Any]) -> "asyncio.Future[Delivery]":
        future: "asyncio.Future[Delivery]" = asyncio.get_running_loop().create_future()
        # Failures are reported through on_failure/failed; do not warn about unread futures.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._items.append(_Item(target, message, future))
        self._idle.clear()
        self._wakeup.set()
        return future

    async def join(self) -> None:
        """Wait until every queued message was delivered or given up on (needs `start`)."""
        await self._idle.wait()

    def pending(self) -> List[Tuple[ReplyTarget, Dict[str, Any]]]:
        """Messages not yet delivered or given up on, oldest first."""
        return [(item.target, item.message) for item in self._items]

    async def _run(self) -> None:
        while True:
            if not self._items:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            item = self._items[0]  # stays queued until settled, so stop() cannot lose it
            await self._pace()
            try:
                delivery = await self.sender.send(item.target, item.message)
            except DeliveryFailed as exc:
                await self._give_up(item, exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not kill the worker or lose the message
                logger.exception("unexpected error delivering to %s", item.target.conversation_id)
                await self._give_up(item, DeliveryFailed(f"unexpected error: {type(exc).__name__}"))
            else:
                if not item.future.done():
                    item.future.set_result(delivery)
            self._items.popleft()

    async def _give_up(self, item: _Item, exc: DeliveryFailed) -> None:
        logger.error("could not deliver a message to %s: %s", item.target.conversation_id, exc)
        self.failed.append((item.target, item.message, exc))
        if self.on_failure is not None:
            try:
                await self.on_failure(item.target, item.message, exc)
            except Exception:  # the worker must outlive a broken handler
                logger.exception("send-failure handler raised")
        if not item.future.done():
            item.future.set_exception(exc)

    async def _pace(self) -> None:
        if self.per_minute <= 0:
            return
        now = self._clock()
        while self._sent_at and now - self._sent_at[0] >= 60.0:
            self._sent_at.popleft()
        if len(self._sent_at) >= self.per_minute:
            await self._sleep(60.0 - (now - self._sent_at[0]))
            self._sent_at.popleft()
        self._sent_at.append(self._clock())
