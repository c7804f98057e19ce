"""Workflow definitions: the list row and the detail (docs/zadig-openapi.md §3.7; approval jobs:
docs/zadig-task-operations.md §1.2, last paragraph)."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

from chatops.catalog import Catalog, Environment, Service
from simulators.zadig.definitions import (
    BUILD_TYPE,
    CODEHOST_ID,
    DEPLOY_TYPE,
    SEED_TIME,
    JobDef,
    Workflow,
)
from simulators.zadig.shapes.approvals import approval_spec
from simulators.zadig.shapes.specs import other_spec, repo_ref
from simulators.zadig.versions import WEBHOOK_CONFIG_FIELD, Version


def workflow_brief(workflow: Workflow) -> Dict[str, Any]:
    return {
        "workflow_key": workflow.key,
        "workflow_name": workflow.display_name,
        "update_by": "admin",
        "update_time": SEED_TIME,
        "type": "custom",
    }


def _build_option(catalog: Catalog, svc: Service, env: Environment) -> Dict[str, Any]:
    return {
        "service_name": svc.name,
        "service_module": svc.module,
        "build_name": f"{svc.name}-build",
        "repos": [{**repo_ref(catalog, svc, env.branch), "codehost_id": CODEHOST_ID}],
    }


def _job_definition_spec(
    catalog: Catalog, job: JobDef, env: Environment, registry_id: str, version: Version
) -> Dict[str, Any]:
    if job.type == BUILD_TYPE:
        return {
            "docker_registry_id": registry_id,
            "service_and_builds": [
                _build_option(catalog, svc, env) for svc in catalog.services.values()
            ],
        }
    if job.approval is not None:
        return approval_spec(job.approval, version, definition=True)
    if job.type != DEPLOY_TYPE:
        return other_spec(job.name, job.type)
    return {
        "env": env.key,
        "production": env.production,
        "source": job.source,
        "job_name": env.build_job if job.source == "fromjob" else "",
        "env_source": "fixed",
        "deploy_type": "k8s",
        "deploy_contents": ["image"],
        "skip_check_run_status": False,
        "services": [],
    }


def webhook_notify(
    address: str, token: str, notify_types: Sequence[str], version: Version
) -> Dict[str, Any]:
    """A workflow's ``webhook`` notification setting (docs/zadig-openapi.md §6.2); v3.1-v3.2
    name the address object ``webhook_notify``."""
    field = "webhook_notification_config" if version >= WEBHOOK_CONFIG_FIELD else "webhook_notify"
    return {
        "enabled": True,
        "webhook_type": "webhook",
        field: {"address": address, "token": token},
        "notify_type": list(notify_types),
    }


def workflow_detail(
    catalog: Catalog,
    workflow: Workflow,
    project_key: str,
    registry_id: str,
    notify: List[Dict[str, Any]],
    version: Version,
) -> Dict[str, Any]:
    stages = []
    for stage in workflow.stages:
        jobs = [
            {
                "name": job.name,
                "type": job.type,
                "skipped": False,
                "spec": _job_definition_spec(catalog, job, workflow.env, registry_id, version),
                "run_policy": "",
                "error_policy": None,
                "service_modules": None,
            }
            for job in stage.jobs
        ]
        stages.append({"name": stage.name, "parallel": stage.parallel, "jobs": jobs})
    return {
        "workflow_key": workflow.key,
        "workflow_name": workflow.display_name,
        "project_key": project_key,
        "description": "",
        "created_by": "admin",
        "create_time": SEED_TIME,
        "updated_by": "",
        "update_time": SEED_TIME,
        "params": [],
        "stages": stages,
        "notify_ctls": notify,
        "share_storages": [],
        "concurrency_limit": -1,
    }
