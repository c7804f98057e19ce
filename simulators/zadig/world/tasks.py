"""Workflow tasks: trigger, look up, cancel, list; injected outcomes; ending a task on demand.

Zadig's quirks (docs/zadig-openapi.md §3.1-§3.4, §9): inputs matched by ``job_name`` only, jobs
left out of ``inputs`` skipped (dropped before v4.0.0), an approval job kept only when listed
(v4.1.0+), unknown services silently dropped, a task id consumed even when task creation fails
late, ``cancel`` refusing only ``passed`` tasks.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List

from simulators.zadig.args import as_dict, as_list, as_str, parse_trigger_args
from simulators.zadig.definitions import APPROVAL_TYPE, StageDef, Workflow
from simulators.zadig.errors import (
    NO_DOCUMENTS,
    bad_request,
    cancel_task_error,
    create_task_error,
    forbidden,
    http_error,
    internal_error,
)
from simulators.zadig.lifecycle import FINISH_STATUSES, OUTCOMES, Outcome, StageTask, Task
from simulators.zadig.shapes.fields import page_of
from simulators.zadig.shapes.tasks import sim_task, task_brief, task_preview, trigger_answer
from simulators.zadig.versions import SKIP_OMITTED
from simulators.zadig.world.jobs import JobInput, TaskBuild, job_tasks, read_input
from simulators.zadig.world.state import WorldState


class TaskRules(WorldState):
    # -- OpenAPI -------------------------------------------------------------------------------

    def trigger(self, raw: bytes) -> Dict[str, Any]:
        args = parse_trigger_args(raw)
        project_key = as_str(args.get("project_key"))
        workflow_key = as_str(args.get("workflow_key"))
        if not project_key or not workflow_key:
            raise bad_request("project_key and workflow_key are required")
        if project_key != self.catalog.project_key:
            raise forbidden()
        workflow = self.workflows.get(workflow_key)
        if workflow is None:
            raise http_error(6542, "查询workflow失败", NO_DOCUMENTS)
        if workflow.disabled:
            raise create_task_error("workflow is disabled")

        # The seeded workflows declare no parameters, so any named one is unknown to Zadig.
        for param in as_list(args.get("parameters")):
            raise internal_error(f"param {as_str(param.get('name'))} not found in workflow")

        selected = self._read_inputs(workflow, as_list(args.get("inputs")))

        # The task id is taken before the jobs are turned into tasks, so a late failure
        # (6160 below) still consumes an id, as Zadig's counter does.
        task_id = self.counters.get(workflow_key, 0) + 1
        self.counters[workflow_key] = task_id

        now = self.clock()
        ctx = TaskBuild(self.catalog, workflow, task_id, now, self.deployed, self.version)
        notes: List[str] = []
        stages: List[StageTask] = []
        for si, stage in enumerate(self._runnable_stages(workflow, selected, notes)):
            jobs = []
            for ji, job in enumerate(stage.jobs):
                jobs.extend(job_tasks(ctx, si, ji, job, selected.get(job.name)))
            if jobs:
                stages.append(StageTask(stage.name, stage.parallel, jobs))

        task = Task(
            workflow=workflow,
            task_id=task_id,
            project_key=project_key,
            creator=self.config.user,
            revoker=self.config.user,
            create_time=now,
            waiting=self.config.waiting_seconds,
            running=self.config.running_seconds,
            stages=stages,
            outcome=self.take_outcome(workflow_key),
            request=args,
            notes=notes,
            minute=self.config.approval_minute_seconds,
        )
        if not any(stage.active for stage in stages):
            task.notes.append(
                "every job was skipped: the task runs and passes but builds and "
                "deploys nothing (list every job in inputs)"
            )
        self.tasks[(workflow_key, task_id)] = task
        self.notices.append(("created", task))
        return trigger_answer(self.catalog.project_key, workflow_key, task_id)

    def _read_inputs(self, workflow: Workflow, inputs: List[Dict[str, Any]]) -> Dict[str, JobInput]:
        """Phase 1: unknown job names are ignored and the last input for a job wins."""
        selected: Dict[str, JobInput] = {}
        for item in inputs:
            found = workflow.job(as_str(item.get("job_name")))
            if found is None:
                continue
            job = found[2]
            params = as_dict(item.get("parameters"))
            selected[job.name] = read_input(self.catalog, job, params, workflow.env, self.version)
        return selected

    def _runnable_stages(
        self, workflow: Workflow, selected: Dict[str, JobInput], notes: List[str]
    ) -> List[StageDef]:
        """The workflow's stages as the task gets them: before v4.0.0 a job left out of
        ``inputs`` is dropped from its stage (and an empty stage with it), from v4.0.0 it stays
        and is skipped. Job-task indices count what is left (inferred)."""
        drop = self.version < SKIP_OMITTED
        stages = []
        for stage in workflow.stages:
            jobs = tuple(job for job in stage.jobs if job.name in selected or not drop)
            for job in stage.jobs:
                if job.type == APPROVAL_TYPE and job.name not in selected:
                    what = "dropped" if drop else "skipped"
                    notes.append(f"approval job {job.name} {what}: not listed in inputs")
            if jobs:
                stages.append(StageDef(stage.name, jobs, stage.parallel))
        return stages

    def get_task(self, workflow_key: str, task_id: int) -> Dict[str, Any]:
        task = self.find_task(workflow_key, task_id)
        if task is None:
            raise internal_error(NO_DOCUMENTS)
        return self.preview(task)

    def cancel(self, workflow_key: str, task_id: int) -> None:
        task = self.find_task(workflow_key, task_id)
        if task is None:
            raise cancel_task_error(NO_DOCUMENTS)
        if task.final is not None:
            if task.final.status == "passed":
                raise cancel_task_error(f"task: {workflow_key}:{task_id} is passed, cannot cancel")
            # Zadig only refuses passed tasks: failed/timeout/cancelled become cancelled.
            task.final = replace(task.final, status="cancelled")
        else:
            self._finish(task, task.forced("cancelled", self.clock()))
        task.revoker = self.config.user

    def list_tasks(
        self, workflow_key: str, project_key: str, page: int, size: int
    ) -> Dict[str, Any]:
        self.refresh()
        mine = [
            task
            for (key, _), task in self.tasks.items()
            if key == workflow_key and task.project_key == project_key and project_key
        ]
        mine.sort(key=lambda t: (t.create_time, t.task_id), reverse=True)
        now = self.clock()
        items = [
            task_brief(task, project_key, task.progress(now)) for task in page_of(mine, page, size)
        ]
        return {"total": len(mine), "workflow_tasks": items}

    # -- views of a task -----------------------------------------------------------------------

    def preview(self, task: Task) -> Dict[str, Any]:
        return task_preview(task, self.clock(), self.version)

    def sim_task(self, task: Task) -> Dict[str, Any]:
        return sim_task(task, self.clock(), self.version)

    # -- control -------------------------------------------------------------------------------

    def add_outcome(self, values: Dict[str, Any]) -> Outcome:
        """An outcome for the next task(s) or retries: ``status``, ``stage`` (a stage of the
        workflow(s) it is for), ``service`` (only that service's job), ``error``, ``log``."""
        status = values.get("status")
        if status not in OUTCOMES:
            raise ValueError(f"status must be one of {', '.join(OUTCOMES)}")
        key = values.get("workflow_key") or None
        if key is not None and key not in self.workflows:
            raise ValueError(f"unknown workflow {key}")
        flows = [self.workflows[key]] if key is not None else list(self.workflows.values())
        known = sorted({stage.name for wf in flows for stage in wf.stages})
        stage = values.get("stage") or "build"
        if stage not in known:
            raise ValueError(f"stage must be one of {', '.join(known)}")
        service = as_str(values.get("service"))
        if service and service not in self.catalog.services:
            raise ValueError(f"unknown service {service}")
        log = values.get("log") or ""
        if isinstance(log, list):
            log = "\n".join(str(line) for line in log)
        times = int(values.get("times", 1))
        if times < 1:
            raise ValueError("times must be at least 1")
        outcome = Outcome(
            status, stage, as_str(values.get("error")), key, times, service, as_str(log)
        )
        self.outcomes.append(outcome)
        return outcome

    def finish(self, workflow_key: str, task_id: int, status: str, error: str = "") -> Task:
        """Force a task to end now (control API); a terminal task is overwritten."""
        if status not in FINISH_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FINISH_STATUSES)}")
        task = self.find_task(workflow_key, task_id)
        if task is None:
            raise KeyError(f"{workflow_key}:{task_id}")
        self._finish(task, task.forced(status, self.clock(), error))
        return task
