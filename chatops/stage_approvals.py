"""Deciding a Zadig approval stage from the chat: "批准任务 45" / "驳回任务 45 原因".

Zadig decides an approval through its OpenAPI only for native approvals, and counts the vote as
the API token's user (docs/zadig-task-operations.md §1.4): that account must be one of the
approval's approvers. The catalog says who in the chat may make the bot vote: the environment's
``approval.by`` when it has one, otherwise whoever may deploy there. Zadig's refusals are
explained in words.
"""

from __future__ import annotations

import logging

from chatops import replies
from chatops.access import check
from chatops.catalog import Catalog
from chatops.plans import Requester
from chatops.state import AuditLog
from chatops.state import audit as events
from chatops.zadig.client import ZadigClient
from chatops.zadig.errors import ZadigAPIError, ZadigError
from chatops.zadig.models import Task

logger = logging.getLogger(__name__)


class StageApprovals:
    def __init__(self, *, catalog: Catalog, zadig: ZadigClient, audit: AuditLog) -> None:
        self.catalog = catalog
        self.zadig = zadig
        self.audit = audit

    async def decide(self, task: Task, who: Requester, *, approve: bool, comment: str = "") -> str:
        """The reply: refused, nothing waiting, Zadig's refusal, or the vote recorded."""
        env = self.catalog.environment_of_workflow(task.workflow_key)
        if env is None:
            return replies.not_in_catalog(task.workflow_key)
        has_rule = self.catalog.access.for_environment(env.key).approval is not None
        action = "approve" if has_rule else "deploy"
        decision = check(self.catalog.access, action, env.key, who.actor)
        if not decision.allowed:
            refusal = replies.refused(decision, "approve", env)
            self._record(events.REFUSED, task, who, env.key, refusal)
            return refusal
        job = task.waiting_approval
        if job is None:
            return replies.no_zadig_approval_waiting(task)
        if job.approval is not None and not job.approval.decidable_by_api:
            return replies.zadig_approval_elsewhere(task, job)
        comment = comment or f"{who.actor.nick} 在钉钉里{'批准' if approve else '驳回'}"
        try:
            await self.zadig.approve_job(
                task.workflow_key, task.task_id, job.name, approve, comment
            )
        except ZadigError as exc:
            reply = (
                replies.zadig_approval_refused(exc, task)
                if isinstance(exc, ZadigAPIError)
                else replies.explain_zadig_error(exc, "审批", changes_state=True)
            )
            self._record(events.TRIGGER_FAILED, task, who, env.key, reply)
            return reply
        self._record(events.APPROVED if approve else events.REJECTED, task, who, env.key, comment)
        return replies.zadig_approval_voted(task, job, who.actor.nick, approve)

    def _record(self, decision: str, task: Task, who: Requester, env: str, detail: str) -> None:
        self.audit.record(
            "zadig_approval",
            decision,
            actor_id=who.actor.staff_id,
            actor_nick=who.actor.nick,
            conversation_id=who.actor.conversation_id,
            message=who.message,
            environment=env,
            services=list(task.services),
            workflow_key=task.workflow_key,
            task_id=task.task_id,
            detail=detail,
        )
