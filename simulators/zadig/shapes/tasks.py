"""Tasks: the trigger answer, the task preview and history row, the workflow webhook body.

docs/zadig-openapi.md §3.1, §3.2, §3.4 and §6.2.
"""

from __future__ import annotations

from typing import Any, Dict, Optional
from urllib.parse import quote

from simulators.zadig.definitions import BUILD_TYPE, DEPLOY_TYPE, Workflow
from simulators.zadig.lifecycle import JobTask, Progress, StageProgress, Task, job_state
from simulators.zadig.shapes.fields import put, secs


def trigger_answer(project_key: str, workflow_key: str, task_id: int) -> Dict[str, Any]:
    return {"project_name": project_key, "workflow_name": workflow_key, "task_id": task_id}


def task_preview(task: Task, now: float) -> Dict[str, Any]:
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
    out["remark"] = ""
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
                "jobs": [_job_preview(job, sp, now) for job in stage.jobs],
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


def _job_preview(job: JobTask, sp: StageProgress, now: float) -> Dict[str, Any]:
    status, start, end, error = job_state(job, sp)
    item: Dict[str, Any] = {
        "name": job.name,
        "key": job.key,
        "display_name": job.display_name,
        "origin_name": job.origin_name,
        "type": job.type,
        "status": status,
        "reverted": False,
    }
    put(item, "start_time", secs(start))
    put(item, "end_time", secs(end))
    cost = (end if end is not None else now) - start if start is not None else 0
    item.update(
        {
            "cost_seconds": int(cost),
            "error": error,
            "breakpoint_before": False,
            "breakpoint_after": False,
            "error_policy": None,
            "error_handler_user_id": "",
            "error_handler_username": "",
            "retry_count": 0,
            "job_info": job.job_info,
            "spec": job.spec,
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


def sim_task(task: Task, now: float) -> Dict[str, Any]:
    """The simulator's own view of a task: the preview plus what it was asked and noted."""
    return {
        "workflow_key": task.workflow_key,
        "task_id": task.task_id,
        "status": task.progress(now).status,
        "outcome": task.outcome.as_dict() if task.outcome else None,
        "notes": task.notes,
        "notified": task.notified,
        "request": task.request,
        "preview": task_preview(task, now),
    }


_WEBHOOK_REPO_KEYS = (
    "source",
    "repo_owner",
    "repo_namespace",
    "repo_name",
    "branch",
    "prs",
    "tag",
    "author_name",
    "commit_id",
    "commit_message",
)


def detail_url(web_url: str, project_key: str, workflow: Workflow) -> str:
    return (
        f"{web_url.rstrip('/')}/v1/projects/detail/{project_key}"
        f"/pipelines/custom/{workflow.key}?display_name={quote(workflow.display_name)}"
    )


def _webhook_job_spec(job: JobTask) -> Optional[Dict[str, Any]]:
    if job.type == BUILD_TYPE:
        return {
            "repositories": [
                {k: repo.get(k) for k in _WEBHOOK_REPO_KEYS}
                | {
                    "commit_url": f"{repo['address']}/{repo['repo_owner']}/"
                    f"{repo['repo_name']}/commit/{repo['commit_id']}"
                }
                for repo in job.spec["repos"]
            ],
            "image": job.spec["image"],
        }
    if job.type == DEPLOY_TYPE:
        return {
            "env": job.spec["env"],
            "service_name": job.service_name,
            "service_modules": [
                {"service_module": s["service_module"], "image": s["image"]}
                for s in job.spec["service_and_images"]
            ],
        }
    return None


def webhook_payload(task: Task, now: float, project_name: str, url: str) -> Dict[str, Any]:
    """The custom-workflow ``webhook`` notification body (docs/zadig-openapi.md §6.2)."""
    progress = task.progress(now)
    stages = []
    for stage, sp in zip(task.stages, progress.stages):
        jobs = []
        for job in stage.jobs:
            status, start, end, error = job_state(job, sp)
            jobs.append(
                {
                    "name": job.origin_name,
                    "display_name": job.display_name,
                    "type": job.type,
                    "status": status,
                    "start_time": secs(start),
                    "end_time": secs(end),
                    "error": error,
                    "spec": _webhook_job_spec(job),
                }
            )
        stages.append(
            {
                "name": stage.name,
                "status": sp.status,
                "start_time": secs(sp.start),
                "end_time": secs(sp.end),
                "error": sp.error,
                "jobs": jobs,
            }
        )
    return {
        "object_kind": "workflow",
        "event": "workflow",
        "workflow": {
            "task_id": task.task_id,
            "project_name": task.project_key,
            "project_display_name": project_name,
            "workflow_name": task.workflow_key,
            "workflow_display_name": task.workflow.display_name,
            "status": progress.status,
            "remark": "",
            "detail_url": url,
            "error": progress.error,
            "create_time": int(task.create_time),
            "start_time": secs(progress.start),
            "end_time": secs(progress.end),
            "stages": stages,
            "task_creator": task.creator,
            "task_creator_id": "",
            "task_creator_email": "",
            "task_type": "workflow",
        },
        "release_plan": None,
    }
