"""Workflow definitions: the list row and the detail (docs/zadig-openapi.md §3.7)."""

from __future__ import annotations

from typing import Any, Dict, List

from chatops.catalog import Catalog, Environment, Service
from simulators.zadig.definitions import BUILD_TYPE, CODEHOST_ID, SEED_TIME, Workflow
from simulators.zadig.shapes.specs import repo_ref


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
    catalog: Catalog, job_type: str, env: Environment, registry_id: str
) -> Dict[str, Any]:
    if job_type == BUILD_TYPE:
        return {
            "docker_registry_id": registry_id,
            "service_and_builds": [
                _build_option(catalog, svc, env) for svc in catalog.services.values()
            ],
        }
    return {
        "env": env.key,
        "production": env.production,
        "source": "fromjob",
        "job_name": env.build_job,
        "env_source": "fixed",
        "deploy_type": "k8s",
        "deploy_contents": ["image"],
        "skip_check_run_status": False,
        "services": [],
    }


def webhook_notify(address: str, token: str) -> Dict[str, Any]:
    """A workflow's ``webhook`` notification setting (docs/zadig-openapi.md §6.2)."""
    return {
        "enabled": True,
        "webhook_type": "webhook",
        "webhook_notification_config": {"address": address, "token": token},
        "notify_type": ["passed", "failed", "timeout", "cancelled"],
    }


def workflow_detail(
    catalog: Catalog,
    workflow: Workflow,
    project_key: str,
    registry_id: str,
    notify: List[Dict[str, Any]],
) -> Dict[str, Any]:
    stages = []
    for stage in workflow.stages:
        jobs = [
            {
                "name": job.name,
                "type": job.type,
                "skipped": False,
                "spec": _job_definition_spec(catalog, job.type, workflow.env, registry_id),
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
