"""Starting a deploy safely: who may, whether a second person must approve, what Zadig must keep.

`Deployments.request` takes a confirmed plan from a person and either refuses it (access,
organisation), files an approval request (production: nothing reaches Zadig before another
person approves), or starts it. `Deployments.decide` is the approver's side. Starting always
goes through `start`, which reads the workflow's definition first so that no job of the
workflow — in particular its own approval — is silently skipped (docs/zadig-openapi.md §3.1),
then triggers, registers the follow-up, writes the audit trail and the task's remark.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional, Tuple, Union

from chatops import replies
from chatops.access import Actor, approvers, check, check_approver
from chatops.catalog import Catalog, Environment
from chatops.locks import blocked
from chatops.operations import Done, NeedsApproval, Operations, open_request
from chatops.plans import Requester, TaskLink, fingerprint, fingerprint_of, plan_to_dict
from chatops.state import ApprovalRequest, ApprovalStore, AuditLog, FollowupStore
from chatops.state import audit as events
from chatops.state.approvals import APPROVED
from chatops.state.locks import LockStore
from chatops.zadig.client import ZadigClient
from chatops.zadig.errors import ZadigError
from chatops.zadig.models import DeployRequest, TriggeredTask, WorkflowDetail

logger = logging.getLogger(__name__)

# Job types the bot fills itself; anything else in a workflow it would have to skip.
FILLED = {"zadig-build", "zadig-deploy", "approval"}
# Approval jobs are kept in OpenAPI-started tasks from this Zadig version on (PR #4310).
KEEPS_APPROVAL_JOBS = (4, 1, 0)


@dataclass(frozen=True)
class Refused:
    reply: str
    # Who else to @-mention (the requester, when an approver rejects their request).
    mentions: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Started:
    task: TriggeredTask
    reply: str
    mentions: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Voted:
    """An approval was recorded, but more are needed."""

    reply: str


Outcome = Union[Refused, NeedsApproval, Started, Voted]


class Deployments:
    def __init__(
        self,
        *,
        catalog: Catalog,
        zadig: ZadigClient,
        followups: FollowupStore,
        approvals: ApprovalStore,
        audit: AuditLog,
        approval_ttl: float,
        zadig_version: Optional[Tuple[int, ...]],
        task_link: TaskLink,
        workflow: Any,
        locks: LockStore,
        operations: Operations,
        clock: Any,
    ) -> None:
        self.catalog = catalog
        self.zadig = zadig
        self.followups = followups
        self.approvals = approvals
        self.audit = audit
        self.approval_ttl = approval_ttl
        self.zadig_version = zadig_version
        self.task_link = task_link
        # async (workflow_key) -> WorkflowDetail, cached by the runtime.
        self.workflow = workflow
        self.locks = locks
        # Retry and rollback: their approvals are decided here too.
        self.operations = operations
        self.clock = clock

    # -- the requester's side ---------------------------------------------------------------

    def refusal(self, action: str, env: Optional[Environment], actor: Actor) -> Optional[str]:
        """Why ``actor`` may not do ``action`` in ``env`` (None: they may). Without an
        environment only membership of the organisation is checked."""
        if env is None:
            return None if actor.member else replies.not_a_member(action)
        decision = check(self.catalog.access, action, env.key, actor)
        if not decision.allowed:
            return replies.refused(decision, action, env)
        return blocked(self.catalog, self.locks, env, action, actor, self.clock())

    def refuse(self, plan: DeployRequest, who: Requester, reply: str) -> None:
        """Record a refusal decided before the request (the reply says why)."""
        self._audit(events.REFUSED, plan, who, detail=reply)

    async def request(
        self, plan: DeployRequest, who: Requester, *, confirmed: bool = False
    ) -> Outcome:
        """A plan the requester has seen (and, for production, confirmed)."""
        env = self.catalog.environments[plan.env_name]
        refused = self.refusal("deploy", env, who.actor)
        if refused is not None:
            self._audit(events.REFUSED, plan, who, detail=refused)
            return Refused(refused)
        if confirmed:
            self._audit(events.CONFIRMED, plan, who)
        rule = self.catalog.access.for_environment(env.key).approval
        if rule is None:
            return await self.start(plan, who)
        changes = await self.change_summary(plan, env)  # before anything is recorded
        request = open_request(
            self.approvals,
            who,
            "deploy",
            env,
            plan_to_dict(plan),
            replies.plan_summary(plan),
            self.approval_ttl,
            rule.required,
        )
        mentions = approvers(self.catalog.access, env.key, who.actor.staff_id)
        self._audit(events.APPROVAL_REQUESTED, plan, who, approval_id=request.id)
        text = replies.approval_requested(request, env, mentions, self.approval_ttl, changes)
        return NeedsApproval(request, text, mentions)

    async def change_summary(self, plan: DeployRequest, env: Environment) -> str:
        """What runs in ``env`` now next to what ``plan`` deploys (production confirmations and
        approval requests show it)."""
        running = await self.operations.images.running_now(plan.service_names, env)
        return replies.change_summary(plan.branch, running, self.catalog.timezone)

    # -- the approver's side ----------------------------------------------------------------

    async def decide(
        self,
        request: ApprovalRequest,
        approver: Requester,
        *,
        approve: bool,
        reason: str = "",
    ) -> Outcome:
        env = self.catalog.environments.get(request.environment)
        if env is None:
            return Refused(replies.approval_unknown(request.id))
        if request.state != "pending":
            return Refused(replies.approval_already_decided(request))
        if self.approvals.clock() >= request.expires_at:
            expired = self.approvals.expire(request)
            if expired is not None:
                self._audit_request(events.EXPIRED, expired, approver)
            return Refused(replies.approval_expired(expired or self._fresh(request)))
        decision = check_approver(self.catalog.access, env.key, approver.actor, request.requester)
        if not decision.allowed:
            refusal = replies.refused(decision, "approve", env)
            self._audit_request(events.REFUSED, request, approver, detail=refusal)
            return Refused(refusal)
        if not approve:
            rejected = self.approvals.reject(
                request, approver.actor.staff_id, approver.actor.nick, reason
            )
            if rejected is None:
                return Refused(replies.approval_already_decided(self._fresh(request)))
            self._audit_request(events.REJECTED, rejected, approver, detail=reason)
            return Refused(replies.approval_rejected(rejected), mentions=(rejected.requester,))
        voted = self.approvals.approve(request, approver.actor.staff_id, approver.actor.nick)
        if voted is None:
            return Refused(replies.approval_already_decided(self._fresh(request)))
        if voted.state != APPROVED:
            return Voted(replies.approval_counted(voted))
        self._audit_request(events.APPROVED, voted, approver)
        requester = Requester(
            actor=Actor(
                staff_id=voted.requester,
                nick=voted.requester_nick,
                member=True,
                conversation_id=voted.conversation_id,
            ),
            sender_id=voted.requester_sender,
            target=voted.target,
        )
        # Locked or frozen since it was asked: the approval does not override that.
        held = blocked(self.catalog, self.locks, env, voted.kind, requester.actor, self.clock())
        if held is not None:
            self.approvals.failed(voted, held)
            return Refused(held, mentions=(voted.requester,))
        if voted.kind != "deploy":
            done = await self.operations.start_approved(voted, requester, approver)
            if isinstance(done, Done) and done.task is not None:
                return Started(done.task, done.reply, done.mentions)
            return Refused(done.reply)
        plan = self.catalog.plan(
            voted.plan["services"], voted.environment, voted.plan.get("branch")
        )
        if fingerprint(plan) != fingerprint_of(voted.plan):
            # The catalog changed under the request (workflow renamed ...): do not guess.
            self.approvals.failed(voted, "the catalog changed since the request")
            return Refused(replies.approval_plan_changed(voted))
        return await self.start(plan, requester, approval=voted, approver=approver)

    def _fresh(self, request: ApprovalRequest) -> ApprovalRequest:
        return self.approvals.get(request.id) or request

    # -- starting ---------------------------------------------------------------------------

    async def start(
        self,
        plan: DeployRequest,
        who: Requester,
        *,
        approval: Optional[ApprovalRequest] = None,
        approver: Optional[Requester] = None,
    ) -> Outcome:
        env = self.catalog.environments[plan.env_name]
        try:
            detail = await self.workflow(plan.workflow_key)
        except ZadigError as exc:
            return self._not_started(plan, who, approval, replies.trigger_failed(exc, plan))
        jobs, problem = self.jobs_to_keep(detail, plan, env)
        if problem is not None:
            return self._not_started(plan, who, approval, problem)
        plan = DeployRequest(**{**plan.__dict__, "approval_jobs": jobs})
        try:
            task = await self.zadig.trigger_deploy(plan)
        except ZadigError as exc:
            logger.warning("trigger %s failed: %s", plan.workflow_key, exc)
            return self._not_started(plan, who, approval, replies.trigger_failed(exc, plan))
        self.followups.add(
            project_key=plan.project_key,
            workflow_key=task.workflow_key,
            task_id=task.task_id,
            service="、".join(plan.service_names),
            environment=plan.env_name,
            sender_id=who.sender_id,
            conversation_id=(who.target or {}).get("conversation_id") or who.actor.conversation_id,
            target=who.target,
            requester=who.actor.staff_id,
            requester_nick=who.actor.nick,
        )
        if approval is not None:
            self.approvals.triggered(approval, task.workflow_key, task.task_id)
        actor = approver or who
        self.audit.record(
            "deploy",
            events.TRIGGERED,
            actor_id=actor.actor.staff_id,
            actor_nick=actor.actor.nick,
            conversation_id=actor.actor.conversation_id,
            message=actor.message,
            environment=plan.env_name,
            services=list(plan.service_names),
            plan=plan_to_dict(plan),
            workflow_key=task.workflow_key,
            task_id=task.task_id,
            approval_id=approval.id if approval else None,
            detail=f"requested by {who.actor.nick}" if approval else "",
        )
        await self._remark(task, who, approval, approver)
        link = self.task_link(task.workflow_key, task.task_id)
        started = replies.deploy_started(plan, task, link, will_follow_up=who.target is not None)
        if approval is not None and approver is not None:
            started = replies.approved_and_started(approval, approver.actor.nick) + "\n" + started
            return Started(task, started, mentions=(who.actor.staff_id,))
        return Started(task, started)

    def jobs_to_keep(
        self, detail: WorkflowDetail, plan: DeployRequest, env: Environment
    ) -> Tuple[Tuple[str, ...], Optional[str]]:
        """The approval jobs to list so Zadig keeps them, or why the bot must not start this
        workflow (a job it cannot fill, an approval an old Zadig would drop)."""
        approvals = tuple(j.name for j in detail.jobs if j.type == "approval")
        for job in detail.jobs:
            if job.type not in FILLED or (
                job.type in ("zadig-build", "zadig-deploy")
                and job.name not in (plan.build_job, plan.deploy_job)
            ):
                return (), replies.workflow_has_unfillable_job(plan.workflow_key, job)
        if (
            approvals
            and self.zadig_version is not None
            and (self.zadig_version < KEEPS_APPROVAL_JOBS)
        ):
            if env.allow_skipping_zadig_approval:
                return (), None
            return (), replies.zadig_too_old_for_approval(
                plan.workflow_key, approvals, self.zadig_version
            )
        return approvals, None

    def _not_started(
        self,
        plan: DeployRequest,
        who: Requester,
        approval: Optional[ApprovalRequest],
        reply: str,
    ) -> Refused:
        if approval is not None:
            self.approvals.failed(approval, reply)
        self._audit(events.TRIGGER_FAILED, plan, who, detail=reply)
        return Refused(reply)

    async def _remark(
        self,
        task: TriggeredTask,
        who: Requester,
        approval: Optional[ApprovalRequest],
        approver: Optional[Requester],
    ) -> None:
        """Zadig records the bot's token user as creator: say who asked and who approved."""
        remark = replies.task_remark(who.actor, approval, approver.actor if approver else None)
        try:
            await self.zadig.update_remark(task.workflow_key, task.task_id, remark)
        except ZadigError as exc:  # servers before v3.3.0 have no remark API
            logger.info(
                "could not set the remark of %s#%s: %s", task.workflow_key, task.task_id, exc
            )

    # -- audit ------------------------------------------------------------------------------

    def _audit(
        self,
        decision: str,
        plan: DeployRequest,
        who: Requester,
        *,
        approval_id: Optional[int] = None,
        detail: str = "",
    ) -> None:
        self.audit.record(
            "deploy",
            decision,
            actor_id=who.actor.staff_id,
            actor_nick=who.actor.nick,
            conversation_id=who.actor.conversation_id,
            message=who.message,
            environment=plan.env_name,
            services=list(plan.service_names),
            plan=plan_to_dict(plan),
            approval_id=approval_id,
            detail=detail,
        )

    def _audit_request(
        self, decision: str, request: ApprovalRequest, who: Requester, *, detail: str = ""
    ) -> None:
        self.audit.record(
            request.kind,
            decision,
            actor_id=who.actor.staff_id,
            actor_nick=who.actor.nick,
            conversation_id=who.actor.conversation_id,
            message=who.message,
            environment=request.environment,
            services=list(request.plan.get("services") or []),
            plan=request.plan,
            approval_id=request.id,
            detail=detail,
        )
