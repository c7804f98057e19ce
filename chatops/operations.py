"""Retry and rollback from the chat, under the same rules as a deploy.

Both go through the catalog's access policy (``retry`` / ``rollback``), the lock and freeze
guard (`chatops.locks.blocked`) and, in an environment that needs it, the two-person approval
(`ApprovalStore`, decided through `Deployments.decide`). What was done is followed up in the
chat and written to the audit trail like a deploy.

- **Retry** restarts a failed / timed-out / cancelled / rejected task in place, same task id
  (docs/zadig-task-operations.md §3): the follow-up row of that task is reopened.
- **Rollback** puts back, per service, the image an earlier successful deploy put into the
  environment (`ImageHistory`, from Zadig's task history), through the environment's deploy-only
  rollback workflow (catalog ``rollback``), with the images chosen at run time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from chatops import replies
from chatops.access import approvers, check
from chatops.catalog import Catalog, Environment
from chatops.images import Deployed, ImageHistory, previous_in
from chatops.locks import blocked
from chatops.plans import Requester, TaskLink
from chatops.state import ApprovalRequest, ApprovalStore, AuditLog, FollowupStore
from chatops.state import audit as events
from chatops.state.locks import LockStore
from chatops.zadig.client import ZadigClient
from chatops.zadig.errors import ZadigError
from chatops.zadig.models import RollbackRequest, ServiceImage, Task, TriggeredTask

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RollbackStep:
    service: str
    current: Optional[Deployed]
    target: Deployed


@dataclass(frozen=True)
class RollbackPlan:
    environment: str
    workflow_key: str
    deploy_job: str
    steps: Tuple[RollbackStep, ...]

    def to_dict(self) -> Dict[str, Any]:
        """What an approval request stores and a confirmation is bound to."""
        return {
            "environment": self.environment,
            "workflow_key": self.workflow_key,
            "deploy_job": self.deploy_job,
            "services": [s.service for s in self.steps],
            "images": [
                {
                    "service": s.target.service,
                    "module": s.target.module,
                    "image": s.target.image,
                    "task_id": s.target.task_id,
                    "from_image": s.current.image if s.current else "",
                }
                for s in self.steps
            ],
        }


@dataclass(frozen=True)
class Done:
    """Carried out now: the reply, the task (to follow), who else to @-mention."""

    reply: str
    task: Optional[TriggeredTask] = None
    mentions: Tuple[str, ...] = ()


@dataclass(frozen=True)
class NeedsApproval:
    """Waiting for a second person (a deploy or an operation in production)."""

    request: ApprovalRequest
    reply: str
    # The staff ids of who can approve, to @-mention them.
    mentions: Tuple[str, ...]


@dataclass(frozen=True)
class NotDone:
    reply: str


Result = Union[Done, NeedsApproval, NotDone]


def open_request(
    approvals: ApprovalStore,
    who: Requester,
    kind: str,
    env: Environment,
    plan: Dict[str, Any],
    summary: str,
    ttl: float,
    required: int,
) -> ApprovalRequest:
    """A production request from ``who`` waiting for a second person (deploys and operations)."""
    return approvals.create(
        kind=kind,
        environment=env.key,
        plan=plan,
        summary=summary,
        requester=who.actor.staff_id,
        requester_nick=who.actor.nick,
        requester_sender=who.sender_id,
        conversation_id=who.actor.conversation_id,
        target=who.target,
        ttl=ttl,
        required=required,
    )


class Operations:
    def __init__(
        self,
        *,
        catalog: Catalog,
        zadig: ZadigClient,
        followups: FollowupStore,
        approvals: ApprovalStore,
        audit: AuditLog,
        locks: LockStore,
        images: ImageHistory,
        approval_ttl: float,
        task_link: TaskLink,
        clock: Any,
    ) -> None:
        self.catalog = catalog
        self.zadig = zadig
        self.followups = followups
        self.approvals = approvals
        self.audit = audit
        self.locks = locks
        self.images = images
        self.approval_ttl = approval_ttl
        self.task_link = task_link
        self.clock = clock

    # -- the rules both share ----------------------------------------------------------------

    def refusal(
        self, action: str, env: Environment, who: Requester, requester: Optional[str] = None
    ) -> Optional[str]:
        """Access policy (``requester``: who asked for the task concerned), then locks and
        freeze windows."""
        if not who.actor.member:
            return replies.not_a_member(action)
        decision = check(self.catalog.access, action, env.key, who.actor, requester=requester)
        if not decision.allowed:
            return replies.refused(decision, action, env)
        return blocked(self.catalog, self.locks, env, action, who.actor, self.clock())

    def _ask_approval(
        self, kind: str, env: Environment, plan: Dict[str, Any], summary: str, who: Requester
    ) -> Optional[NeedsApproval]:
        rule = self.catalog.access.for_environment(env.key).approval
        if rule is None:
            return None
        request = open_request(
            self.approvals, who, kind, env, plan, summary, self.approval_ttl, rule.required
        )
        mentions = approvers(self.catalog.access, env.key, who.actor.staff_id)
        self._record(kind, events.APPROVAL_REQUESTED, who, env.key, plan, approval_id=request.id)
        reply = replies.operation_approval_requested(request, env, mentions, self.approval_ttl)
        return NeedsApproval(request, reply, mentions)

    # -- retry -------------------------------------------------------------------------------

    async def retry(self, task: Task, who: Requester) -> Result:
        env = self.catalog.environment_of_workflow(task.workflow_key)
        if env is None:
            return NotDone(replies.not_in_catalog(task.workflow_key))
        followup = self.followups.get(task.workflow_key, task.task_id)
        refused = self.refusal("retry", env, who, followup.requester if followup else None)
        plan = {
            "workflow_key": task.workflow_key,
            "task_id": task.task_id,
            "services": list(task.services),
        }
        if refused is not None:
            self._record("retry", events.REFUSED, who, env.key, plan, detail=refused)
            return NotDone(refused)
        if not task.is_retryable:
            return NotDone(replies.not_retryable(task))
        asked = self._ask_approval(
            "retry", env, plan, f"重试 {task.workflow_key} #{task.task_id}", who
        )
        if asked is not None:
            return asked
        return await self.start_retry(task.workflow_key, task.task_id, env, who)

    async def start_retry(
        self,
        workflow_key: str,
        task_id: int,
        env: Environment,
        who: Requester,
        approval: Optional[ApprovalRequest] = None,
        approver: Optional[Requester] = None,
    ) -> Result:
        plan = {"workflow_key": workflow_key, "task_id": task_id}
        try:
            await self.zadig.retry_task(workflow_key, task_id, self.catalog.project_key)
        except ZadigError as exc:
            reply = replies.explain_zadig_error(exc, "重试任务", changes_state=True)
            if approval is not None:
                self.approvals.failed(approval, reply)
            self._record("retry", events.TRIGGER_FAILED, who, env.key, plan, detail=reply)
            return NotDone(reply)
        task = TriggeredTask(self.catalog.project_key, workflow_key, task_id)
        if not self.followups.reopen(workflow_key, task_id, self.clock()):
            self._follow(task, env, [], who)
        if approval is not None:
            self.approvals.triggered(approval, workflow_key, task_id)
        self._record(
            "retry",
            events.TRIGGERED,
            approver or who,
            env.key,
            plan,
            workflow_key=workflow_key,
            task_id=task_id,
            approval_id=approval.id if approval else None,
        )
        reply = replies.retried(workflow_key, task_id, self.task_link(workflow_key, task_id))
        return self._done(reply, task, who, approval, approver)

    # -- rollback ----------------------------------------------------------------------------

    async def rollback_plan(
        self, services: Sequence[str], env: Environment, task_id: Optional[int] = None
    ) -> Union[RollbackPlan, NotDone]:
        """Per service: what runs now and what to go back to (the previous image, or what
        ``task_id`` deployed). Zadig errors are explained."""
        if not env.rollback_workflow:
            return NotDone(replies.no_rollback_workflow(env))
        steps: List[RollbackStep] = []
        try:
            histories = await self.images.histories(services, env)  # one read for all
            for service in services:
                found = histories[service]
                current = found[0] if found else None
                if task_id is not None:
                    target = await self.images.of_task(service, env, task_id)
                    if target is None:
                        return NotDone(replies.task_did_not_deploy(service, env, task_id))
                else:
                    target = previous_in(found)
                    if target is None:
                        return NotDone(
                            replies.nothing_to_roll_back_to(
                                service, env, current, self.catalog.timezone
                            )
                        )
                if current is not None and current.image == target.image:
                    return NotDone(replies.already_running(target, env))
                steps.append(RollbackStep(service, current, target))
        except ZadigError as exc:
            return NotDone(replies.explain_zadig_error(exc, "查询部署历史"))
        return RollbackPlan(env.key, env.rollback_workflow, env.rollback_job, tuple(steps))

    async def rollback(self, data: Dict[str, Any], who: Requester) -> Result:
        """A rollback plan (`RollbackPlan.to_dict`) the requester has seen and confirmed."""
        env = self.catalog.environments[data["environment"]]
        refused = self.refusal("rollback", env, who)
        if refused is not None:
            self._record("rollback", events.REFUSED, who, env.key, data, detail=refused)
            return NotDone(refused)
        self._record("rollback", events.CONFIRMED, who, env.key, data)
        summary = replies.rollback_summary(data)
        asked = self._ask_approval("rollback", env, data, summary, who)
        if asked is not None:
            return asked
        return await self.start_rollback(data, who)

    async def start_rollback(
        self,
        plan: Dict[str, Any],
        who: Requester,
        approval: Optional[ApprovalRequest] = None,
        approver: Optional[Requester] = None,
    ) -> Result:
        env = self.catalog.environments[plan["environment"]]
        request = RollbackRequest(
            project_key=self.catalog.project_key,
            workflow_key=plan["workflow_key"],
            deploy_job=plan["deploy_job"],
            env_name=env.key,
            images=tuple(
                ServiceImage(i["service"], i["module"], i["image"]) for i in plan["images"]
            ),
            production=env.production,
        )
        try:
            task = await self.zadig.trigger_rollback(request)
        except ZadigError as exc:
            reply = replies.explain_zadig_error(exc, "触发回滚", changes_state=True)
            if approval is not None:
                self.approvals.failed(approval, reply)
            self._record("rollback", events.TRIGGER_FAILED, who, env.key, plan, detail=reply)
            return NotDone(reply)
        self._follow(task, env, list(plan["services"]), who)
        if approval is not None:
            self.approvals.triggered(approval, task.workflow_key, task.task_id)
        self._record(
            "rollback",
            events.TRIGGERED,
            approver or who,
            env.key,
            plan,
            workflow_key=task.workflow_key,
            task_id=task.task_id,
            approval_id=approval.id if approval else None,
        )
        link = self.task_link(task.workflow_key, task.task_id)
        return self._done(replies.rollback_started(plan, task, link), task, who, approval, approver)

    # -- after an approval -------------------------------------------------------------------

    async def start_approved(
        self, request: ApprovalRequest, requester: Requester, approver: Requester
    ) -> Result:
        env = self.catalog.environments[request.environment]
        if request.kind == "retry":
            return await self.start_retry(
                request.plan["workflow_key"],
                int(request.plan["task_id"]),
                env,
                requester,
                request,
                approver,
            )
        return await self.start_rollback(request.plan, requester, request, approver)

    # -- helpers -----------------------------------------------------------------------------

    def _done(
        self,
        reply: str,
        task: TriggeredTask,
        who: Requester,
        approval: Optional[ApprovalRequest],
        approver: Optional[Requester],
    ) -> Done:
        if approval is not None and approver is not None:
            head = replies.approved_and_started(approval, approver.actor.nick)
            return Done(head + "\n" + reply, task, (who.actor.staff_id,))
        return Done(reply, task)

    def _follow(
        self, task: TriggeredTask, env: Environment, services: List[str], who: Requester
    ) -> None:
        self.followups.add(
            project_key=task.project_key,
            workflow_key=task.workflow_key,
            task_id=task.task_id,
            service="、".join(services) or None,
            environment=env.key,
            sender_id=who.sender_id,
            conversation_id=(who.target or {}).get("conversation_id") or who.actor.conversation_id,
            target=who.target,
            requester=who.actor.staff_id,
            requester_nick=who.actor.nick,
        )

    def _record(
        self,
        action: str,
        decision: str,
        who: Requester,
        environment: str,
        plan: Dict[str, Any],
        **fields: Any,
    ) -> None:
        self.audit.record(
            action,
            decision,
            actor_id=who.actor.staff_id,
            actor_nick=who.actor.nick,
            conversation_id=who.actor.conversation_id,
            message=who.message,
            environment=environment,
            services=list(plan.get("services") or []),
            plan=plan,
            **fields,
        )
