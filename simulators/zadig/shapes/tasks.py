"""Tasks: the trigger answer, the task preview and history row, the simulator's task view.

docs/zadig-openapi.md §3.1, §3.2, §3.4; docs/zadig-task-operations.md §1.2 (approval jobs), §7
(remark). Job ``key`` / ``display_name`` / ``origin_name`` exist from v3.3.0.
"""

from __future__ import annotations

from typing import Any, Dict

from simulators.zadig.lifecycle import JobProgress, JobTask, Progress, Task
from simulators.zadig.shapes.approvals import approval_spec
from simulators.zadig.shapes.fields import put, secs
from simulators.zadig.versions import JOB_NAMING, Version


def trigger_answer(project_key: str, workflow_key: str, task_id: int) -> Dict[str, Any]:
    return {"project_name": project_key, "workflow_name": workflow_key, "task_id": task_id}


def task_preview(task: Task, now: float, version: Version) -> Dict[str, Any]:
    """``WorkflowTaskPreview`` (omitempty fields left out when empty/0)."""
    progress = task.progress(now)
    out: Dict[str, Any] = {
        "task_id": task.task_id,
        "workflow_key": task.workflow_key,
        "workflow_name": task.workflow.display_name,
        "params": task.params,
    }
    put(out, "status", progress.status)
    out["reverted"] = False
    out["remark"] = task.remark
    put(out, "task_creator", task.creator)
    put(out, "task_revoker", task.revoker)
    put(out, "create_time", int(task.create_time))
    put(out, "start_time", secs(progress.start))
    put(out, "end_time", secs(progress.end))
    stages = []
    for stage, sp in zip(task.stages, progress.stages):
        item: Dict[str, Any] = {"name": stage.name, "status": sp.status}
        put(item, "start_time", secs(sp.start))
        put(item, "end_time", secs(sp.end))
        item.update(
            {
                "parallel": stage.parallel,
                "manual_exec": None,
                "error": sp.error,
                "jobs": [
                    _job_preview(job, jp, now, version) for job, jp in zip(stage.jobs, sp.jobs)
                ],
            }
        )
        stages.append(item)
    out["stages"] = stages
    put(out, "error", progress.error)
    out.update(
        {
            "project_key": task.project_key,
            "is_restart": False,
            "debug": False,
            "approval_ticket_id": "",
            "approval_id": "",
        }
    )
    return out


def job_spec(job: JobTask, jp: JobProgress, version: Version) -> Dict[str, Any]:
    """A job task's ``spec``; an approval's is drawn with its votes."""
    if job.approval is None:
        return job.spec
    return approval_spec(job.approval, version, job.votes, jp.status)


def _job_preview(job: JobTask, jp: JobProgress, now: float, version: Version) -> Dict[str, Any]:
    item: Dict[str, Any] = {"name": job.name}
    if version >= JOB_NAMING:
        item.update(
            {"key": job.key, "display_name": job.display_name, "origin_name": job.origin_name}
        )
    item.update({"type": job.type, "status": jp.status, "reverted": False})
    start, end = jp.start, jp.end
    put(item, "start_time", secs(start))
    put(item, "end_time", secs(end))
    cost = (end if end is not None else now) - start if start is not None else 0
    item.update(
        {
            "cost_seconds": int(cost),
            "error": jp.error,
            "breakpoint_before": False,
            "breakpoint_after": False,
            "error_policy": None,
            "error_handler_user_id": "",
            "error_handler_username": "",
            "retry_count": 0,
            "job_info": job.job_info,
            "spec": job_spec(job, jp, version),
        }
    )
    return item


def task_brief(task: Task, project_key: str, progress: Progress) -> Dict[str, Any]:
    """One row of a workflow's task history."""
    return {
        "workflow_key": task.workflow_key,
        "workflow_name": task.workflow.display_name,
        "project_key": project_key,
        "task_id": task.task_id,
        "create_time": int(task.create_time),
        "task_creator": task.creator,
        "start_time": secs(progress.start),
        "end_time": secs(progress.end),
        "status": progress.status.lower(),
    }


def sim_task(task: Task, now: float, version: Version) -> Dict[str, Any]:
    """The simulator's own view of a task: the preview plus what it was asked and noted."""
    return {
        "workflow_key": task.workflow_key,
        "task_id": task.task_id,
        "status": task.progress(now).status,
        "outcome": task.outcome.as_dict() if task.outcome else None,
        "retries": task.retries,
        "notes": task.notes,
        "notified": task.notified,
        "request": task.request,
        "preview": task_preview(task, now, version),
    }
