"""Unprompted result messages: when a task the bot started ends, say so in the same chat, once.

Two sources race to notice the end of a task:
- polling ``GET /openapi/workflows/custom/task`` with exponential backoff (always on);
- Zadig's workflow webhook notification (when the workflow has one pointing at the bot).
Whichever sees a terminal status first claims the row in ``FollowupStore`` (an atomic state
change) and posts; the other finds nothing left to do. Rows live in SQLite, so a restart of
either process loses nothing: the worker resumes every pending row on start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Dict, Optional

from chatops import replies
from chatops.replies import describe_result, task_url
from chatops.state import Followup, FollowupStore
from chatops.zadig.client import ZadigClient
from chatops.zadig.errors import ZadigError, ZadigNotFound
from chatops.zadig.models import Task

logger = logging.getLogger(__name__)

# Delivers a text to a stored reply target; raises on failure (the row is then retried).
Notify = Callable[[Dict[str, Any], str], Awaitable[None]]


class FollowupWorker:
    def __init__(
        self,
        store: FollowupStore,
        zadig: ZadigClient,
        notify: Notify,
        *,
        web_url: str,
        min_interval: float = 2.0,
        max_interval: float = 60.0,
        tick: float = 1.0,
        max_age: float = 6 * 3600,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.zadig = zadig
        self.notify = notify
        self.web_url = web_url
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.tick = tick
        self.max_age = max_age
        self.clock = clock
        self.sleep = sleep
        self._task: Optional["asyncio.Task[None]"] = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            recovered = self.store.recover_interrupted()
            if recovered:
                logger.info("resuming %d follow-ups interrupted during delivery", recovered)
            self._task = asyncio.get_event_loop().create_task(self._run())

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
            except Exception:  # keep the loop alive whatever one row does
                logger.exception("follow-up round failed")
            await self.sleep(self.tick)

    # -- one polling round -----------------------------------------------------------------

    def backoff(self, polls: int) -> float:
        return float(min(self.max_interval, self.min_interval * (2**polls)))

    async def run_once(self) -> int:
        """Poll every due row once; returns how many results were posted."""
        posted = 0
        for followup in self.store.due(self.clock()):
            now = self.clock()
            too_old = now - followup.created_at > self.max_age
            try:
                task = await self.zadig.get_task(followup.workflow_key, followup.task_id)
            except ZadigNotFound:
                logger.warning(
                    "task %s#%s no longer exists in Zadig", followup.workflow_key, followup.task_id
                )
                if too_old:
                    posted += await self._give_up(followup)
                else:
                    self.store.reschedule(followup.id, now + self.max_interval)
                continue
            except ZadigError as exc:  # Zadig down or slow: try again later, lose nothing
                logger.warning(
                    "polling %s#%s failed: %s", followup.workflow_key, followup.task_id, exc
                )
                self.store.reschedule(followup.id, now + self.backoff(followup.polls))
                continue
            if task.is_terminal:  # even when late: a real result beats "gave up"
                posted += await self.complete(followup, task)
            elif too_old:
                posted += await self._give_up(followup)
            else:
                self.store.reschedule(followup.id, now + self.backoff(followup.polls))
        return posted

    # -- webhook path ----------------------------------------------------------------------

    async def on_webhook(self, payload: Dict[str, Any]) -> bool:
        """Handle Zadig's workflow notification body (docs/zadig-openapi.md §6.2).

        True when it completed a follow-up.
        """
        workflow = payload.get("workflow") or {}
        workflow_key = workflow.get("workflow_name")
        task_id = str(workflow.get("task_id", ""))
        if not workflow_key or not task_id.isdigit():
            return False
        followup = self.store.get(workflow_key, int(task_id))
        if followup is None or followup.state != "pending":
            return False
        task = Task.from_api(
            {**workflow, "workflow_key": workflow_key, "project_key": workflow.get("project_name")}
        )
        if not task.is_terminal:
            return False
        return bool(await self.complete(followup, task))

    # -- posting ---------------------------------------------------------------------------

    async def complete(self, followup: Followup, task: Task) -> int:
        if not self.store.claim(followup.id):
            return 0  # the other path got there first
        link = task_url(self.web_url, followup.project_key, followup.workflow_key, followup.task_id)
        text = describe_result(task, link, followup.service, followup.environment)
        return await self._deliver(followup, text, task.status)

    async def _give_up(self, followup: Followup) -> int:
        if not self.store.claim(followup.id):
            return 0
        link = task_url(self.web_url, followup.project_key, followup.workflow_key, followup.task_id)
        text = replies.stopped_following(
            followup.workflow_key, followup.task_id, self.max_age, link
        )
        return await self._deliver(followup, text, "abandoned")

    async def _deliver(self, followup: Followup, text: str, status: str) -> int:
        if not followup.target:
            self.store.mark_delivered(followup.id, status)  # nowhere to post (e.g. REST channel)
            return 0
        try:
            await self.notify(followup.target, text)
        except Exception as exc:
            logger.warning(
                "posting the result of %s#%s failed, will retry: %s",
                followup.workflow_key,
                followup.task_id,
                exc,
            )
            self.store.release(followup.id, self.clock() + self.min_interval)
            return 0
        self.store.mark_delivered(followup.id, status)
        return 1
