"""Workflow tasks: trigger, look up, cancel, list; injected outcomes; ending a task on demand.

Zadig's quirks (docs/zadig-openapi.md §3.1-§3.4, §9): inputs matched by ``job_name`` only, jobs
left out of ``inputs`` skipped, unknown services silently dropped, a task id consumed even when
task creation fails late, ``cancel`` refusing only ``passed`` tasks.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List, Optional

from simulators.zadig.args import as_dict, as_list, as_str, parse_trigger_args
from simulators.zadig.definitions import Workflow
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
from simulators.zadig.shapes.tasks import (
    detail_url,
    sim_task,
    task_brief,
    task_preview,
    trigger_answer,
    webhook_payload,
)
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
        ctx = TaskBuild(self.catalog, workflow, task_id, now, self.deployed)
        stages: List[StageTask] = []
        for si, stage in enumerate(workflow.stages):
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
            outcome=self._take_outcome(workflow_key),
            request=args,
        )
        if not any(stage.active for stage in stages):
            task.notes.append(
                "every job was skipped: the task runs and passes but builds and "
                "deploys nothing (list every job in inputs)"
            )
        self.tasks[(workflow_key, task_id)] = task
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
            selected[job.name] = read_input(self.catalog, job, params, workflow.env)
        return selected

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
        return task_preview(task, self.clock())

    def sim_task(self, task: Task) -> Dict[str, Any]:
        return sim_task(task, self.clock())

    def webhook_payload(self, task: Task) -> Dict[str, Any]:
        url = detail_url(self.config.web_url, self.catalog.project_key, task.workflow)
        return webhook_payload(task, self.clock(), self.catalog.project_name, url)

    # -- control -------------------------------------------------------------------------------

    def add_outcome(self, values: Dict[str, Any]) -> Outcome:
        status = values.get("status")
        if status not in OUTCOMES:
            raise ValueError(f"status must be one of {', '.join(OUTCOMES)}")
        stage = values.get("stage") or "build"
        if stage not in ("build", "deploy"):
            raise ValueError("stage must be build or deploy")
        key = values.get("workflow_key") or None
        if key is not None and key not in self.workflows:
            raise ValueError(f"unknown workflow {key}")
        times = int(values.get("times", 1))
        if times < 1:
            raise ValueError("times must be at least 1")
        outcome = Outcome(status, stage, as_str(values.get("error")), key, times)
        self.outcomes.append(outcome)
        return outcome

    def _take_outcome(self, workflow_key: str) -> Optional[Outcome]:
        for outcome in self.outcomes:
            if outcome.workflow_key in (None, workflow_key):
                outcome.times -= 1
                if outcome.times <= 0:
                    self.outcomes.remove(outcome)
                return replace(outcome, times=1)
        return None

    def finish(self, workflow_key: str, task_id: int, status: str, error: str = "") -> Task:
        """Force a task to end now (control API); a terminal task is overwritten."""
        if status not in FINISH_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FINISH_STATUSES)}")
        task = self.find_task(workflow_key, task_id)
        if task is None:
            raise KeyError(f"{workflow_key}:{task_id}")
        self._finish(task, task.forced(status, self.clock(), error))
        return task
