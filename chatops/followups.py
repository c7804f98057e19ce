"""Unprompted result messages: when a task the bot started ends, say so in the same chat, once.

Two sources race to notice the end of a task:
- polling ``GET /openapi/workflows/custom/task`` with exponential back-off (always on), each
  poll under a short lease on the row so two replicas do not poll the same task;
- Zadig's workflow webhook notification (docs/zadig-openapi.md §6.2), handled in the background
  after the webhook was answered.
Whichever sees a terminal status first ends the row and queues the result in the outbox in one
transaction (`FollowupStore.complete`); the other finds nothing left to do. Sending is the
outbox's job, so the result is posted once even if a replica dies right after.

Each row is polled on its own: an error that is the row's (not Zadig being down) is counted,
and after ``max_errors`` the row is given up, visibly (state ``failed`` with the error).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any, Awaitable, Callable, Dict, Optional, Sequence, Tuple

from chatops import replies
from chatops.diagnosis import diagnose
from chatops.dingtalk.inbound import ReplyTarget
from chatops.dingtalk.messages import choices_markdown, text_message
from chatops.replies import task_url
from chatops.state import AuditLog, Followup, FollowupStore, Outbox
from chatops.zadig.client import ZadigClient
from chatops.zadig.errors import ZadigError, ZadigNotFound
from chatops.zadig.models import FAILED_STATUSES, Job, Task

logger = logging.getLogger(__name__)

_TASK_ID = re.compile(r"[0-9]{1,18}")


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a "\ud800" JSON escape
        return False
    return True


Sleep = Callable[[float], Awaitable[Any]]
# A poll holds its row this long at most (a Zadig call times out well before).
POLL_LEASE_SECONDS = 60.0


class FollowupWorker:
    def __init__(
        self,
        store: FollowupStore,
        zadig: ZadigClient,
        outbox: Outbox,
        *,
        web_url: str,
        min_interval: float = 2.0,
        max_interval: float = 60.0,
        tick: float = 1.0,
        max_age: float = 6 * 3600,
        max_errors: int = 10,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        on_queued: Optional[Callable[[], None]] = None,
        audit: Optional[AuditLog] = None,
        on_result: Optional[Callable[[float], None]] = None,
    ) -> None:
        self.store = store
        self.zadig = zadig
        self.outbox = outbox
        self.web_url = web_url
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.tick = tick
        self.max_age = max_age
        self.max_errors = max_errors
        self.clock = clock
        self.sleep = sleep
        self.on_queued = on_queued
        self.audit = audit
        # Called with the seconds from the task's end to its result queued (metrics).
        self.on_result = on_result
        self._task: Optional["asyncio.Task[None]"] = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the loop alive whatever one round does
                logger.exception("follow-up round failed")
            await self.sleep(self.tick)

    # -- one polling round -----------------------------------------------------------------

    def backoff(self, polls: int) -> float:
        return float(min(self.max_interval, self.min_interval * (2**polls)))

    async def run_once(self) -> int:
        """Poll every due row once; returns how many results were queued."""
        queued = 0
        for followup in self.store.due(self.clock()):
            if not self.store.lease(followup.id, POLL_LEASE_SECONDS, self.clock()):
                continue  # another replica is polling it
            try:
                queued += await self._poll(followup)
            except asyncio.CancelledError:
                self.store.reschedule(followup.id, self.clock())  # let the lease go now
                raise
            except Exception as exc:  # this row's own problem: isolate it, count it
                logger.exception("follow-up %s#%s failed", followup.workflow_key, followup.task_id)
                self._row_error(followup, f"{type(exc).__name__}: {exc}")
        return queued

    async def _poll(self, followup: Followup) -> int:
        now = self.clock()
        too_old = now - followup.created_at > self.max_age
        try:
            task = await self.zadig.get_task(followup.workflow_key, followup.task_id)
        except ZadigNotFound:
            logger.warning(
                "task %s#%s no longer exists in Zadig", followup.workflow_key, followup.task_id
            )
            if too_old:
                return self._give_up(followup)
            self.store.reschedule(followup.id, now + self.max_interval)
            return 0
        except ZadigError as exc:  # Zadig down or slow: try again later, lose nothing
            logger.warning("polling %s#%s failed: %s", followup.workflow_key, followup.task_id, exc)
            self.store.reschedule(followup.id, now + self.backoff(followup.polls))
            return 0
        if task.is_terminal:  # even when late: a real result beats "gave up"
            return await self.complete(followup, task)
        waiting = task.waiting_approval
        if waiting is not None:
            self.announce_approval(followup, task, waiting)
        if too_old:
            return self._give_up(followup)
        self.store.reschedule(followup.id, now + self.backoff(followup.polls))
        return 0

    def _row_error(self, followup: Followup, error: str) -> None:
        if followup.attempts + 1 >= self.max_errors:
            logger.error(
                "giving up following %s#%s after %d errors: %s",
                followup.workflow_key,
                followup.task_id,
                followup.attempts + 1,
                error,
            )
            self.store.give_up(followup.id, error)
        else:
            next_at = self.clock() + self.backoff(followup.attempts)
            self.store.reschedule(followup.id, next_at, error=error)

    # -- webhook path ----------------------------------------------------------------------

    async def on_webhook(self, payload: Dict[str, Any]) -> bool:
        """Handle Zadig's workflow notification body (docs/zadig-openapi.md §6.2).

        True when it completed a follow-up.
        """
        raw = payload.get("workflow")
        workflow: Dict[str, Any] = raw if isinstance(raw, dict) else {}
        workflow_key = workflow.get("workflow_name")
        task_id = str(workflow.get("task_id", ""))
        # A task id the store can hold (ASCII digits, below 2**63) and a storable key.
        if not isinstance(workflow_key, str) or not _TASK_ID.fullmatch(task_id):
            return False
        if not workflow_key or not _storable(workflow_key):
            return False
        followup = self.store.get(workflow_key, int(task_id))
        if followup is None or followup.state != "pending":
            return False
        task = Task.from_api(
            {**workflow, "workflow_key": workflow_key, "project_key": workflow.get("project_name")}
        )
        if not task.is_terminal:
            # E.g. "an approval is waiting" (its payload has no stages): look at the task soon.
            self.store.reschedule(followup.id, self.clock())
            return False
        return bool(await self.complete(followup, task))

    # -- queueing the message --------------------------------------------------------------

    async def complete(self, followup: Followup, task: Task) -> int:
        """Queue the result; a failure names the failed job and quotes its log's last lines."""
        link = task_url(self.web_url, followup.project_key, followup.workflow_key, followup.task_id)
        diagnosis = None
        if task.status in FAILED_STATUSES and task.status != "cancelled":
            diagnosis = await diagnose(self.zadig, task)
        services = [s for s in (followup.service or "").split("、") if s]
        text, choices = replies.result_message(
            task, link, services, followup.environment, diagnosis
        )
        queued = self._end(followup, text, task.status, choices)
        if queued and self.on_result is not None and task.end_time:
            self.on_result(max(0.0, self.clock() - task.end_time))
        return queued

    def announce_approval(self, followup: Followup, task: Task, job: Job) -> bool:
        """Post, once per approval job, that the task waits for a Zadig approval and who is
        asked; native approvals can be decided in the chat ("批准任务 45")."""
        if not followup.target:
            return False
        text, choices = replies.zadig_approval_waiting(task, job, followup.service)
        mentions = ReplyTarget.from_dict(followup.target).mention_ids()
        title = text.splitlines()[0][:30]
        message = (
            choices_markdown(title, text, choices, mentions)
            if choices
            else text_message(text, mentions)
        )
        announced = self.store.announce_approval(
            followup, job.name, self.outbox, message, self.clock()
        )
        if announced and self.on_queued is not None:
            self.on_queued()
        return announced

    def _give_up(self, followup: Followup) -> int:
        link = task_url(self.web_url, followup.project_key, followup.workflow_key, followup.task_id)
        text = replies.stopped_following(
            followup.workflow_key, followup.task_id, self.max_age, link
        )
        return self._end(followup, text, "abandoned")

    def _end(
        self,
        followup: Followup,
        text: str,
        status: str,
        choices: Sequence[Tuple[str, str]] = (),
    ) -> int:
        """End the row and queue its message (nowhere to post: only end). With ``choices`` the
        message is markdown with one-tap answers."""
        message = None
        if followup.target:
            mentions = ReplyTarget.from_dict(followup.target).mention_ids()
            if choices:
                message = choices_markdown(text.splitlines()[0][:30], text, list(choices), mentions)
            else:
                message = text_message(text, mentions)
        if not self.store.complete(
            followup, status, self.outbox, message, self.clock(), audit=self.audit
        ):
            return 0  # the other path got there first
        if message is None:
            return 0
        if self.on_queued is not None:
            self.on_queued()
        return 1
