"""Job specs: what a build or deploy job task records (docs/zadig-openapi.md §3.2)."""

from __future__ import annotations

import hashlib
from typing import Any, Dict, List

from chatops.catalog import Catalog, Environment, Service
from simulators.zadig.definitions import CODEHOST_ADDRESS, CODEHOST_ID, CODEHOST_TYPE, env_alias


def repo_ref(catalog: Catalog, svc: Service, branch: str) -> Dict[str, Any]:
    """The head of every repository entry: where the service's code is, which branch."""
    return {
        "source": CODEHOST_TYPE,
        "repo_owner": catalog.repo_namespace,
        "repo_namespace": catalog.repo_namespace,
        "repo_name": svc.repo,
        "branch": branch,
    }


def built_repo(catalog: Catalog, svc: Service, branch: str) -> Dict[str, Any]:
    """A repository as a build job task records it, with the (made-up) commit it built."""
    return {
        **repo_ref(catalog, svc, branch),
        "prs": [],
        "tag": "",
        "commit_id": hashlib.sha1(f"{svc.repo}@{branch}".encode()).hexdigest(),
        "commit_message": f"Merge branch '{branch}' into {branch}",
        "author_name": "dev",
        "address": CODEHOST_ADDRESS,
        "codehost_id": CODEHOST_ID,
    }


def build_spec(
    repos: List[Dict[str, Any]], image: str, service: str, module: str
) -> Dict[str, Any]:
    return {
        "repos": repos,
        "image": image,
        "package": "",
        "service_name": service,
        "service_module": module,
        "envs": [],
    }


def deploy_spec(env: Environment, services: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {
        "env": env.key,
        "env_alias": env_alias(env),
        "production": env.production,
        "service_type": "k8s",
        "deploy_contents": ["image"],
        "skip_check_run_status": False,
        "is_import_to_deploy": False,
        "service_and_images": services,
        "yaml_content": "",
        "user_supplied_value": "",
        "variable_kvs": [],
        "origin_revision": 0,
        "value_merge_strategy": "reuse-values",
    }


def other_spec(name: str, job_type: str) -> Dict[str, Any]:
    """The spec of a job the simulator only runs (e.g. ``zadig-test``). Such specs come back as
    stored, with BSON names (docs/zadig-task-operations.md §0); the fields are a plausible
    minimum, not confirmed."""
    if job_type == "zadig-test":
        return {
            "test_type": "",
            "source": "runtime",
            "job_name": "",
            "origin_job_name": "",
            "test_modules": [{"name": name, "project_name": "", "key_vals": [], "repos": []}],
            "service_and_tests": [],
        }
    return {}
