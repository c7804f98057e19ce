"""Workflow definitions: the list, one workflow's detail, and changing them at run time.

docs/zadig-openapi.md §3.7. The control API can switch a workflow off and on, put an ``approval``
job in its own stage before the deploy stage (docs/zadig-task-operations.md §1.2), add any other
job (e.g. a ``zadig-test`` job the bot cannot fill), remove jobs and remove a workflow;
``/_sim/reset`` restores the seeded definitions.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from simulators.zadig.args import as_str
from simulators.zadig.definitions import (
    APPROVAL_KINDS,
    APPROVAL_TYPE,
    BUILD_TYPE,
    DEPLOY_TYPE,
    ApprovalDef,
    Approver,
    JobDef,
    StageDef,
    Workflow,
    with_stage,
)
from simulators.zadig.errors import NO_DOCUMENTS, internal_error
from simulators.zadig.shapes.workflows import webhook_notify, workflow_brief, workflow_detail
from simulators.zadig.world.state import WorldState


class WorkflowRules(WorldState):
    def list_workflows(self, project_key: str) -> Dict[str, Any]:
        if project_key != self.catalog.project_key:
            return {"workflows": []}
        return {"workflows": [workflow_brief(wf) for wf in self.workflows.values()]}

    def workflow_detail(self, workflow_key: str, project_key: str) -> Dict[str, Any]:
        workflow = self.workflows.get(workflow_key)
        if workflow is None:
            raise internal_error(NO_DOCUMENTS)
        cfg = self.config
        notify = []
        if cfg.webhook_url:
            notify.append(
                webhook_notify(
                    cfg.webhook_url, cfg.webhook_token, cfg.webhook_notify_types, self.version
                )
            )
        return workflow_detail(
            self.catalog, workflow, project_key, self.registry_id, notify, self.version
        )

    # -- control -------------------------------------------------------------------------------

    def _workflow(self, workflow_key: str) -> Workflow:
        workflow = self.workflows.get(workflow_key)
        if workflow is None:
            raise KeyError(workflow_key)
        return workflow

    def set_disabled(self, workflow_key: str, disabled: bool) -> None:
        """Control API: a disabled workflow refuses new tasks (6160)."""
        self._workflow(workflow_key).disabled = disabled

    def remove_workflow(self, workflow_key: str) -> Dict[str, Any]:
        """Control API: the workflow is gone (trigger 6542, detail 500); its tasks stay."""
        self._workflow(workflow_key)
        del self.workflows[workflow_key]
        return {"workflow_key": workflow_key, "removed": True}

    def set_approval(self, workflow_key: str, values: Dict[str, Any]) -> Dict[str, Any]:
        """Control API: put (or replace) the workflow's approval job, in its own stage before
        the deploy stage."""
        workflow = self._workflow(workflow_key)
        kind = values.get("type") or "native"
        if kind not in APPROVAL_KINDS:
            raise ValueError(f"type must be one of {', '.join(APPROVAL_KINDS)}")
        approvers = tuple(_approver(item) for item in _list(values.get("approvers"), "approvers"))
        if not approvers:
            raise ValueError("approvers must name at least one user")
        needed = _number(values.get("needed", 1), "needed", 1)
        if needed > len(approvers):
            raise ValueError("needed must not exceed the number of approvers")
        timeout = _number(values.get("timeout", 60), "timeout", 0)
        approval = ApprovalDef(kind, approvers, needed, timeout, as_str(values.get("description")))
        stages = tuple(st for st in workflow.stages if not _holds_approval(st))
        stage = _stage(as_str(values.get("stage")) or "approval", stages)
        job = JobDef(as_str(values.get("name")) or "approve", APPROVAL_TYPE, approval=approval)
        _check_new_job(job.name, stages)
        workflow.stages = with_stage(stages, StageDef(stage, (job,), False))
        return self.workflow_view(workflow_key)

    def remove_approval(self, workflow_key: str) -> Dict[str, Any]:
        workflow = self._workflow(workflow_key)
        workflow.stages = tuple(st for st in workflow.stages if not _holds_approval(st))
        return self.workflow_view(workflow_key)

    def add_job(self, workflow_key: str, values: Dict[str, Any]) -> Dict[str, Any]:
        """Control API: a job of any other type, appended to stage ``stage`` (a new stage goes
        before the deploy stage)."""
        workflow = self._workflow(workflow_key)
        name, job_type = as_str(values.get("name")), as_str(values.get("type"))
        if not name or not job_type:
            raise ValueError("name and type are required")
        if job_type in (BUILD_TYPE, DEPLOY_TYPE, APPROVAL_TYPE):
            raise ValueError(f"type {job_type} cannot be added here (use /approval for approvals)")
        _check_new_job(name, workflow.stages)
        job = JobDef(name, job_type)
        stage_name = as_str(values.get("stage")) or name
        index = workflow.stage_index(stage_name)
        if index is None:
            workflow.stages = with_stage(workflow.stages, StageDef(stage_name, (job,)))
        elif _holds_approval(workflow.stages[index]):
            raise ValueError(f"stage {stage_name} holds the approval; use another stage")
        else:
            old = workflow.stages[index]
            new = StageDef(old.name, (*old.jobs, job), old.parallel)
            workflow.stages = (*workflow.stages[:index], new, *workflow.stages[index + 1 :])
        return self.workflow_view(workflow_key)

    def remove_job(self, workflow_key: str, name: str) -> Dict[str, Any]:
        workflow = self._workflow(workflow_key)
        if workflow.job(name) is None:
            raise KeyError(f"{workflow_key}/{name}")
        stages = []
        for stage in workflow.stages:
            jobs = tuple(job for job in stage.jobs if job.name != name)
            if jobs:
                stages.append(StageDef(stage.name, jobs, stage.parallel))
        workflow.stages = tuple(stages)
        return self.workflow_view(workflow_key)

    def workflow_view(self, workflow_key: str) -> Dict[str, Any]:
        """The simulator's short view of a definition: stages and their jobs."""
        workflow = self._workflow(workflow_key)
        return {
            "workflow_key": workflow.key,
            "disabled": workflow.disabled,
            "stages": [
                {"name": st.name, "jobs": [{"name": j.name, "type": j.type} for j in st.jobs]}
                for st in workflow.stages
            ],
        }


def _holds_approval(stage: StageDef) -> bool:
    return any(job.type == APPROVAL_TYPE for job in stage.jobs)


def _stage(name: str, stages: Tuple[StageDef, ...]) -> str:
    if any(st.name == name for st in stages):
        raise ValueError(f"stage {name} exists already")
    return name


def _check_new_job(name: str, stages: Tuple[StageDef, ...]) -> None:
    if any(job.name == name for st in stages for job in st.jobs):
        raise ValueError(f"job {name} exists already")


def _list(value: Any, name: str) -> List[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list")
    return value


def _approver(item: Any) -> Approver:
    if not isinstance(item, dict):
        raise ValueError("each approver must be {user_id, user_name}")
    user_id, user_name = as_str(item.get("user_id")), as_str(item.get("user_name"))
    if not user_id or not user_name:
        raise ValueError("each approver needs a user_id and a user_name")
    return Approver(user_id, user_name)


def _number(value: Any, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an integer of at least {least}")
    return value
