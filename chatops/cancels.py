"""Cancelling a task from the chat: who may, and the record of it.

The catalog's policy says who may cancel in each environment; ``requester`` in it means the
person who asked for the task, known from the bot's follow-up record (a task started elsewhere
has no requester here, so only the named roles may cancel it).
"""

from __future__ import annotations

import logging
from typing import Optional

from chatops import replies
from chatops.access import Actor, check
from chatops.catalog import Catalog
from chatops.plans import Requester, TaskLink
from chatops.state import AuditLog, FollowupStore
from chatops.state import audit as events
from chatops.zadig.client import ZadigClient
from chatops.zadig.errors import ZadigAPIError, ZadigError
from chatops.zadig.models import Task

logger = logging.getLogger(__name__)


class Cancels:
    def __init__(
        self,
        *,
        catalog: Catalog,
        zadig: ZadigClient,
        followups: FollowupStore,
        audit: AuditLog,
        task_link: TaskLink,
    ) -> None:
        self.catalog = catalog
        self.zadig = zadig
        self.followups = followups
        self.audit = audit
        self.task_link = task_link

    def refusal(self, task: Task, actor: Actor) -> Optional[str]:
        """Why ``actor`` may not cancel ``task`` (None: they may)."""
        env = self.catalog.environment_of_workflow(task.workflow_key)
        if env is None:
            return None if actor.member else replies.not_a_member("cancel")
        followup = self.followups.get(task.workflow_key, task.task_id)
        requester = followup.requester if followup is not None else None
        decision = check(self.catalog.access, "cancel", env.key, actor, requester=requester)
        return None if decision.allowed else replies.refused(decision, "cancel", env)

    def refuse(self, task: Task, who: Requester, reply: str) -> None:
        self._audit(events.REFUSED, task, who, reply)

    async def cancel(self, task: Task, who: Requester) -> str:
        """Cancel now (permission already checked); the reply says what happened."""
        try:
            await self.zadig.cancel_task(task.workflow_key, task.task_id)
        except ZadigError as exc:
            if isinstance(exc, ZadigAPIError) and exc.is_already_finished:
                return replies.cancel_refused_passed(task.workflow_key, task.task_id)
            logger.warning("cancel %s#%s failed: %s", task.workflow_key, task.task_id, exc)
            return replies.explain_zadig_error(exc, "取消任务", changes_state=True)
        self._audit(events.CANCELLED, task, who, "")
        link = self.task_link(task.workflow_key, task.task_id)
        return replies.cancelled(task.workflow_key, task.task_id, link)

    def _audit(self, decision: str, task: Task, who: Requester, detail: str) -> None:
        env = self.catalog.environment_of_workflow(task.workflow_key)
        self.audit.record(
            "cancel",
            decision,
            actor_id=who.actor.staff_id,
            actor_nick=who.actor.nick,
            conversation_id=who.actor.conversation_id,
            message=who.message,
            environment=env.key if env else None,
            services=list(task.services),
            workflow_key=task.workflow_key,
            task_id=task.task_id,
            detail=detail,
        )
