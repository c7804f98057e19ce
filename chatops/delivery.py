"""Send what the outbox holds: each conversation in order, paced on its own, nothing dropped.

`OutboxSender` runs in every Rasa replica. A round finds the conversations with a message due,
takes each one's lane (only one replica sends for a conversation at a time), spends a token of
the conversation's bucket (and of the optional global bucket) per message, and posts through
`DingTalkSender` with a single attempt. What happens next depends on DingTalk's answer:

- accepted: the message is marked sent;
- throttled (errcode 130101, HTTP 429): DingTalk refuses the robot in that conversation for
  10 minutes (docs/dingtalk.md §2.5), so the conversation waits that long — the message stays
  queued, its attempts are not counted, other conversations go on;
- a failure worth retrying (5xx, network): retried with exponential back-off; the messages
  after it wait, so the order holds; after ``max_attempts`` it becomes ``undeliverable``;
- refused for good (robot removed from the group, unknown user): ``undeliverable`` at once,
  and the conversation's next message goes out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any, Awaitable, Callable, List, Optional, Set, Tuple

from chatops.dingtalk.inbound import ReplyTarget
from chatops.dingtalk.sender import DeliveryFailed, DingTalkSender
from chatops.state.outbox import GLOBAL_LANE, Outbox, OutboxMessage

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[Any]]
# DingTalk's penalty after "send too fast" (docs/dingtalk.md §2.5).
THROTTLE_SECONDS = 600.0
# A lane's lease outlives a slow send; a replica that died holding it loses it after this.
LANE_LEASE_SECONDS = 30.0
# Waiting this long or less for a pacing token happens in the lane; longer gives the lane up.
MAX_INLINE_WAIT = 5.0


def instance_id() -> str:
    """Who holds a lease: host and process, unique among live replicas."""
    return f"{socket.gethostname()}:{os.getpid()}"


class OutboxSender:
    def __init__(
        self,
        outbox: Outbox,
        sender: DingTalkSender,
        *,
        per_minute: int = 20,
        burst: int = 5,
        global_per_minute: int = 0,
        max_attempts: int = 10,
        retry_base: float = 2.0,
        max_retry: float = 600.0,
        throttle_seconds: float = THROTTLE_SECONDS,
        tick: float = 0.5,
        lanes_at_once: int = 8,
        owner: Optional[str] = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        on_sent: Optional[Callable[[OutboxMessage, float], None]] = None,
        on_undeliverable: Optional[Callable[[OutboxMessage, str], None]] = None,
    ) -> None:
        self.outbox = outbox
        self.sender = sender
        # A bucket of `capacity` refilled at (per_minute - capacity) a minute never lets more
        # than per_minute through in any 60 seconds.
        self.capacity = float(max(1, min(burst, per_minute))) if per_minute else 0.0
        self.refill_per_minute = float(max(per_minute - self.capacity, 1)) if per_minute else 0.0
        self.global_per_minute = global_per_minute
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.max_retry = max_retry
        self.throttle_seconds = throttle_seconds
        self.tick = tick
        self.lanes_at_once = lanes_at_once
        self.owner = owner or instance_id()
        self.clock = clock
        self.sleep = sleep
        self.on_sent = on_sent
        self.on_undeliverable = on_undeliverable
        self._wakeup: Optional[asyncio.Event] = None
        self._task: Optional["asyncio.Task[None]"] = None
        self._lanes: Set["asyncio.Task[int]"] = set()
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        # The flag ends the loop even when Python 3.10's wait_for swallows the cancellation
        # (it does when the wait finishes at the same moment, bpo-42130).
        self._stopping = True
        self.wake()
        for lane in list(self._lanes):
            lane.cancel()
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        for lane in list(self._lanes):
            try:
                await lane
            except (asyncio.CancelledError, Exception):
                pass

    def wake(self) -> None:
        """Something was queued: look now instead of at the next tick."""
        if self._wakeup is not None:
            self._wakeup.set()

    async def _run(self) -> None:
        assert self._wakeup is not None
        while not self._stopping:
            # Cleared before the round: a reply queued while the round runs wakes the next one
            # at once instead of waiting a tick.
            self._wakeup.clear()
            try:
                self.start_lanes()
            except Exception:  # the loop outlives any one round
                logger.exception("outbox round failed")
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.tick)
            except asyncio.TimeoutError:
                pass

    # -- one round ---------------------------------------------------------------------------

    def start_lanes(self) -> List["asyncio.Task[int]"]:
        """Start a lane for each conversation with a message due (up to ``lanes_at_once`` in
        all); lanes run on their own, and one that sent something looks for more when done."""
        free = self.lanes_at_once - len(self._lanes)
        if free <= 0:
            return []
        busy = {getattr(t, "conversation_id", None) for t in self._lanes}
        conversations = [
            c for c in self.outbox.due_conversations(limit=free + len(busy)) if c not in busy
        ][:free]
        tasks = []
        for conversation_id in conversations:
            task = asyncio.get_running_loop().create_task(self.send_lane(conversation_id))
            task.conversation_id = conversation_id  # type: ignore[attr-defined]
            self._lanes.add(task)
            task.add_done_callback(self._lane_done)
            tasks.append(task)
        return tasks

    def _lane_done(self, task: "asyncio.Task[int]") -> None:
        self._lanes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "outbox lane for %s failed",
                getattr(task, "conversation_id", "?"),
                exc_info=task.exception(),
            )
            return
        if self._stopping:
            return
        # Only after progress: a lane that stopped for pacing or a back-off would otherwise be
        # picked again at once, round after round.
        if not task.cancelled() and task.result() > 0:
            self.wake()

    async def run_once(self) -> int:
        """One round, waiting for its lanes; returns messages sent (tests, tools)."""
        results = await asyncio.gather(*self.start_lanes(), return_exceptions=True)
        return sum(r for r in results if isinstance(r, int))

    async def send_lane(self, conversation_id: str) -> int:
        """Send one conversation's due messages in order while holding its lane."""
        if not self.outbox.lease(
            conversation_id, self.owner, LANE_LEASE_SECONDS, self.capacity or 1.0
        ):
            return 0
        sent = 0
        try:
            while True:
                message = self.outbox.next_message(conversation_id)
                if message is None or not await self._paced(conversation_id):
                    return sent
                if not await self._send(message):
                    return sent
                sent += 1
                if not self.outbox.lease(
                    conversation_id, self.owner, LANE_LEASE_SECONDS, self.capacity or 1.0
                ):
                    return sent  # the lease went to another replica: it sends the rest
        finally:
            self.outbox.release(conversation_id, self.owner)

    async def _paced(self, conversation_id: str) -> bool:
        """Take a token of the conversation (and the global) bucket; False = try later, and
        a token already taken from the conversation's bucket is given back."""
        taken: List[Tuple[str, float]] = []
        for lane, per_minute, capacity in (
            (conversation_id, self.refill_per_minute, self.capacity),
            (GLOBAL_LANE, float(self.global_per_minute), float(self.global_per_minute)),
        ):
            if per_minute <= 0:
                continue
            wait = self.outbox.take_token(lane, per_minute, capacity)
            if wait > 0 and wait <= MAX_INLINE_WAIT:
                await self.sleep(wait)
                wait = self.outbox.take_token(lane, per_minute, capacity)
            if wait > 0:
                for spent, burst in taken:
                    self.outbox.give_back(spent, burst)
                return False
            taken.append((lane, capacity))
        return True

    async def _send(self, message: OutboxMessage) -> bool:
        """Post one message; True when the lane may go on to the next one."""
        try:
            target = ReplyTarget.from_dict(message.target)
            delivery = await self.sender.send(target, message.message)
        except DeliveryFailed as exc:
            return self._failed(message, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not kill the lane or lose the message
            logger.exception("unexpected error sending outbox message %s", message.id)
            return self._failed(message, DeliveryFailed(f"unexpected: {type(exc).__name__}"))
        now = self.clock()
        self.outbox.mark_sent(message.id, delivery.route, now)
        if self.on_sent is not None:
            self.on_sent(message, now)
        return True

    def _failed(self, message: OutboxMessage, exc: DeliveryFailed) -> bool:
        now = self.clock()
        if exc.throttled:
            until = now + max(self.throttle_seconds, exc.retry_after or 0.0)
            logger.warning(
                "DingTalk throttled conversation %s; waiting until %s",
                message.conversation_id,
                time.strftime("%H:%M:%S", time.localtime(until)),
            )
            self.outbox.retry_later(message.id, str(exc), until, count=False)
            self.outbox.block(message.conversation_id, until)
            return False
        attempts = message.attempts + 1
        if exc.retryable and attempts < self.max_attempts:
            delay = min(self.retry_base * 2 ** (attempts - 1), self.max_retry)
            if exc.retry_after:
                delay = max(delay, exc.retry_after)
            logger.warning(
                "sending to %s failed (attempt %d), again in %.0fs: %s",
                message.conversation_id,
                attempts,
                delay,
                exc,
            )
            self.outbox.retry_later(message.id, str(exc), now + delay)
            return False
        logger.error(
            "message %s to %s is undeliverable: %s", message.id, message.conversation_id, exc
        )
        self.outbox.undeliverable(message.id, str(exc))
        if self.on_undeliverable is not None:
            self.on_undeliverable(message, str(exc))
        return True
