"""Native approvals at run time: votes through the OpenAPI and the control API.

docs/zadig-task-operations.md §1.4: the approval is found by (workflow key, approval job-task
name sent as ``stage_name``, task id) while its job waits; the voter is the API token's user,
matched by ``uid`` against the approvers (no RBAC, no admin bypass); one vote per user; every
refusal is 400 / 6169. Lark, DingTalk and WorkWX approvals are decided outside Zadig, so the API
never finds them. How the votes decide the job is the clock model's (`lifecycle`).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from simulators.zadig.args import as_str, parse_approve_args
from simulators.zadig.errors import approve_error
from simulators.zadig.lifecycle import WAITING_APPROVAL, JobTask, Task, Vote
from simulators.zadig.versions import WEBHOOK
from simulators.zadig.world.state import WorldState

NOT_FOUND = "not found approval"


class ApprovalRules(WorldState):
    def approve(self, raw: bytes) -> Dict[str, Any]:
        """``POST /openapi/workflows/custom/task/approve`` as the token's user."""
        args = parse_approve_args(raw)
        self.vote(
            as_str(args.get("workflow_key")),
            args.get("task_id") or 0,
            as_str(args.get("stage_name")),
            self.config.user_id,
            self.config.user,
            args.get("approve") is True,  # false or missing rejects
            as_str(args.get("comment")),
        )
        return {"message": "success"}

    def vote(
        self,
        workflow_key: str,
        task_id: int,
        job_name: str,
        user_id: str,
        user_name: str,
        approve: bool,
        comment: str,
    ) -> Task:
        if not workflow_key or not job_name or not task_id:
            # v3.0 named the stage; approvals are jobs from v3.1.0.
            label = "jobName" if self.version >= WEBHOOK else "stage"
            raise approve_error(
                f"can not find approved workflow: {workflow_key}, taskID: {task_id},"
                f"{label}: {job_name}"
            )
        task = self.find_task(workflow_key, task_id)
        job = self._waiting(task, job_name) if task is not None else None
        if task is None or job is None or job.approval is None or job.approval.kind != "native":
            raise approve_error(NOT_FOUND)
        if not any(user.user_id == user_id for user in job.approval.approvers):
            raise approve_error(f"user {user_name} has no authority to Approve")
        for vote in job.votes:
            if vote.user_id == user_id:
                done = "approve" if vote.approve else "reject"
                raise approve_error(f"{user_name} have {done} already")
        job.votes.append(Vote(user_id, user_name, approve, comment, self.clock()))
        self.refresh()
        return task

    def _waiting(self, task: Task, job_name: str = "") -> Optional[JobTask]:
        """The approval job that waits now (what the approval store holds): the one called
        `job_name`, or the first."""
        for job, jp in task.jobs_at(task.progress(self.clock())):
            if jp.status == WAITING_APPROVAL and job_name in ("", job.name):
                return job
        return None

    def sim_vote(self, workflow_key: str, task_id: int, values: Dict[str, Any]) -> Task:
        """Control API: vote as any user on the task's waiting approval (or ``stage_name``)."""
        user_id, user_name = as_str(values.get("user_id")), as_str(values.get("user_name"))
        if not user_id or not user_name:
            raise ValueError("user_id and user_name are required")
        if not isinstance(values.get("approve"), bool):
            raise ValueError("approve must be true or false")
        task = self.find_task(workflow_key, task_id)
        if task is None:
            raise KeyError(f"{workflow_key}:{task_id}")
        waiting = self._waiting(task)
        # With nothing waiting the vote answers "not found approval", as the API would.
        job_name = as_str(values.get("stage_name")) or (waiting.name if waiting else "none")
        return self.vote(
            workflow_key,
            task_id,
            job_name,
            user_id,
            user_name,
            values["approve"],
            as_str(values.get("comment")),
        )
