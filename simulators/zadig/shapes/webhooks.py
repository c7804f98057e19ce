"""The workflow ``webhook`` notification body (docs/zadig-openapi.md §6.2,
docs/zadig-task-operations.md §1.5 and §8).

The completion body lists every stage and job with its status and error; a job's ``name`` is the
job-task name the log API wants (§8). The approval-waiting body has ``stages: null`` and
``task_type: ""`` (§1.5). ``remark`` is always ``""`` (§7: the controller blanks it).
"""

from __future__ import annotations

from typing import Any, Dict, Optional
from urllib.parse import quote

from simulators.zadig.definitions import BUILD_TYPE, DEPLOY_TYPE, Workflow
from simulators.zadig.lifecycle import JobTask, Progress, Task
from simulators.zadig.shapes.fields import secs

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


def _webhook_job_spec(job: JobTask, status: str) -> Optional[Dict[str, Any]]:
    """Build and deploy jobs only; a build's ``image`` only once it passed (§8)."""
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
            "image": job.spec["image"] if status == "passed" else "",
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


def webhook_payload(
    task: Task, progress: Progress, project_name: str, url: str, approval: bool = False
) -> Dict[str, Any]:
    """The body for `task` at `progress`; `approval` makes it the approval-waiting variant."""
    stages = []
    for stage, sp in zip(task.stages, progress.stages):
        jobs = []
        for job, jp in zip(stage.jobs, sp.jobs):
            jobs.append(
                {
                    "name": job.name,
                    "display_name": job.display_name,
                    "type": job.type,
                    "status": jp.status,
                    "start_time": secs(jp.start),
                    "end_time": secs(jp.end),
                    "error": jp.error,
                    "spec": _webhook_job_spec(job, jp.status),
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
            "stages": None if approval else stages,
            "task_creator": task.creator,
            "task_creator_id": "",
            "task_creator_email": "",
            "task_type": "" if approval else "workflow",
        },
        "release_plan": None,
    }
