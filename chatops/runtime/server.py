"""The Rasa server's services, shared by its channels (one per process, several replicas).

- `inbound` accepts each DingTalk msgId once and knows which messages are still unanswered;
- a turn's replies go to the durable `outbox` together with marking the message answered
  (`finish_turn`), and `delivery` (`OutboxSender`) sends them;
- `followups` polls Zadig and queues task results; Zadig's webhook ends follow-ups early;
- the sweeper tells the sender of a message lost in a crash that it was not processed, expires
  approval requests nobody decided in time (saying so in their chat), and forgets old rows so
  nothing grows without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence

import httpx
from sqlalchemy.engine import Connection

from chatops import replies
from chatops.delivery import OutboxSender, instance_id
from chatops.dingtalk.inbound import ReplyTarget
from chatops.dingtalk.messages import text_message
from chatops.dingtalk.sender import DingTalkSender
from chatops.followups import FollowupWorker
from chatops.metrics import Metrics
from chatops.settings import Settings
from chatops.state import (
    ApprovalRequest,
    ApprovalStore,
    AuditLog,
    Database,
    FollowupStore,
    InboundLog,
    Outbox,
    OutboxMessage,
)
from chatops.state.audit import EXPIRED
from chatops.zadig.client import ZadigClient

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]

SWEEP_SECONDS = 5.0
PRUNE_SECONDS = 3600.0
# Sent and ended rows are kept this long for the record, then forgotten.
KEEP_SECONDS = 14 * 24 * 3600


class ServerRuntime:
    def __init__(
        self,
        settings: Settings,
        *,
        db: Database,
        sender: DingTalkSender,
        zadig: ZadigClient,
        owner: Optional[str] = None,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        delivery_tick: float = 0.5,
        followup_tick: float = 1.0,
    ) -> None:
        self.settings = settings
        self.db = db
        self.sender = sender
        self.zadig = zadig
        self.clock = clock
        self.sleep = sleep
        self.inbound = InboundLog(db, clock=clock)
        self.outbox = Outbox(db, clock=clock)
        self.store = FollowupStore(db, clock=clock)
        self.approvals = ApprovalStore(db, clock=clock)
        self.audit = AuditLog(db, clock=clock)
        self.metrics = Metrics()
        self.metrics.watch_state(db)
        self.delivery = OutboxSender(
            self.outbox,
            sender,
            per_minute=settings.dingtalk_send_per_minute,
            burst=settings.dingtalk_send_burst,
            global_per_minute=settings.dingtalk_send_global_per_minute,
            throttle_seconds=settings.dingtalk_throttle_seconds,
            owner=owner or instance_id(),
            clock=clock,
            sleep=sleep,
            tick=delivery_tick,
            on_sent=self._sent,
            on_undeliverable=lambda message, error: self.metrics.replies_out.labels(
                "undeliverable"
            ).inc(),
        )
        self.followups = FollowupWorker(
            self.store,
            zadig,
            self.outbox,
            web_url=settings.zadig_web_url,
            min_interval=settings.followup_min_interval,
            max_age=settings.followup_max_seconds,
            tick=followup_tick,
            clock=clock,
            sleep=sleep,
            on_queued=self.delivery.wake,
            audit=self.audit,
            on_result=self.metrics.followup_delay_seconds.observe,
        )
        self.started = False
        self._sweeper: Optional["asyncio.Task[None]"] = None
        self._next_prune = 0.0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        zadig_transport: Optional[httpx.AsyncBaseTransport] = None,
        dingtalk_transport: Optional[httpx.AsyncBaseTransport] = None,
        owner: Optional[str] = None,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        delivery_tick: float = 0.5,
        followup_tick: float = 1.0,
    ) -> "ServerRuntime":
        # One attempt per send: retries, back-off and throttling are the outbox's job, so a
        # slow conversation never holds a send lane for minutes.
        sender = DingTalkSender(
            settings.dingtalk_api_base,
            settings.dingtalk_app_key,
            settings.dingtalk_app_secret,
            settings.dingtalk_robot_code,
            transport=dingtalk_transport,
            max_attempts=1,
            sleep=sleep,
            clock=clock,
        )
        return cls(
            settings,
            db=Database.open(settings.db_url),
            sender=sender,
            zadig=ZadigClient.from_settings(settings, transport=zadig_transport, sleep=sleep),
            owner=owner,
            clock=clock,
            sleep=sleep,
            delivery_tick=delivery_tick,
            followup_tick=followup_tick,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start sending, following up and sweeping (idempotent: both channels call it)."""
        if self.started:
            return
        self.delivery.start()
        self.followups.start()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())
        self.started = True
        logger.info(
            "DingTalk runtime started: %d follow-ups pending, outbox %s",
            len(self.store.pending()),
            self.outbox.counts(),
        )

    async def stop(self) -> None:
        if not self.started:
            return
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
        await self.followups.stop()
        await self.delivery.stop()
        await self.sender.aclose()
        await self.zadig.aclose()
        self.started = False

    def close(self) -> None:
        """Release the database (after `stop`)."""
        self.db.dispose()

    # -- replies -----------------------------------------------------------------------------

    def finish_turn(
        self,
        msg_id: str,
        target: ReplyTarget,
        messages: Sequence[Dict[str, Any]],
    ) -> None:
        """Queue a turn's replies and mark its message answered, in one transaction."""
        now = self.clock()
        with self.db.begin() as conn:
            for message in messages:
                self.outbox.enqueue(
                    conn, target.conversation_id, target.to_dict(), message, now=now
                )
            self.inbound.finish(conn, msg_id, now=now)
        self.delivery.wake()

    def reply(self, target: ReplyTarget, message: Dict[str, Any], kind: str = "notice") -> int:
        """Queue one message outside a turn."""
        message_id = self.outbox.enqueue(
            None, target.conversation_id, target.to_dict(), message, kind=kind
        )
        self.delivery.wake()
        return message_id

    def health(self) -> Dict[str, Any]:
        return {
            "mode": self.settings.dingtalk_mode,
            "pending_followups": len(self.store.pending()),
            "outbox": self.outbox.counts(),
        }

    # -- the sweeper -------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            try:
                self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("sweep failed")
            await self.sleep(SWEEP_SECONDS)

    def _sent(self, message: OutboxMessage, now: float) -> None:
        self.metrics.replies_out.labels("sent").inc()
        self.metrics.reply_wait_seconds.observe(max(0.0, now - message.created_at))

    def _announce_expiry(self, conn: Connection, request: ApprovalRequest) -> None:
        """In the expiry's transaction: the audit row and the notice to the requester."""
        self.audit.insert(
            conn,
            request.kind,
            EXPIRED,
            conversation_id=request.conversation_id,
            environment=request.environment,
            services=list(request.plan.get("services") or []),
            plan=request.plan,
            approval_id=request.id,
            detail="no decision before it expired",
        )
        if request.target:
            target = ReplyTarget.from_dict(request.target)
            message = text_message(replies.approval_expired(request), [request.requester])
            self.outbox.enqueue(
                conn, target.conversation_id, request.target, message, kind="notice"
            )

    def sweep_once(self) -> List[str]:
        """Tell senders of lost messages, expire approvals nobody decided, prune now and then;
        returns the lost msgIds."""
        now = self.clock()
        lost = self.inbound.claim_lost(now - self.settings.inbound_lost_seconds)
        for message in lost:
            logger.warning("message %s was never answered; telling its sender", message.msg_id)
            if message.target:
                target = ReplyTarget.from_dict(message.target)
                self.outbox.enqueue(
                    None,
                    target.conversation_id,
                    message.target,
                    text_message(replies.message_not_processed(message.text), target.mention_ids()),
                    kind="notice",
                    now=now,
                )
        expired = self.approvals.expire_due(now, then=self._announce_expiry)
        if lost or expired:
            self.delivery.wake()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_SECONDS
            self.outbox.prune(now - KEEP_SECONDS)
            self.store.prune(now - KEEP_SECONDS)
        return [m.msg_id for m in lost]
