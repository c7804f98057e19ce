"""What a Zadig matching the shipped catalog lists, in Zadig's own shapes (docs/zadig-openapi.md
§4, §3.7): for the catalog refresh tests."""

from __future__ import annotations

from typing import Any, Dict, List

from chatops.catalog import DEFAULT_PATH, load_catalog
from chatops.catalog.refresh import Discovered
from chatops.zadig.models import EnvironmentInfo, RegistryInfo, ServiceInfo, WorkflowDetail

SHIPPED = load_catalog(DEFAULT_PATH)
SERVICES = list(SHIPPED.services)


def env_json(key: str, alias: str = "", production: bool = False) -> Dict[str, Any]:
    out = {
        "env_key": key,
        "cluster_id": "c1",
        "namespace": f"mall-env-{key}",
        "production": production,
        "registry_id": "r1",
        "status": "running",
        "update_by": "admin",
        "update_time": 1700000000,
    }
    if alias:
        out["envName"] = alias
    return out


def workflow_json(
    key: str, env: str, build: str = "build", deploy: str = "deploy"
) -> Dict[str, Any]:
    return {
        "workflow_key": key,
        "workflow_name": key,
        "project_key": "mall",
        "description": "",
        "params": [],
        "stages": [
            {
                "name": "构建",
                "parallel": True,
                "jobs": [
                    {
                        "name": build,
                        "type": "zadig-build",
                        "skipped": False,
                        "spec": {"docker_registry_id": "r1", "service_and_builds": []},
                    }
                ],
            },
            {
                "name": "部署",
                "parallel": False,
                "jobs": [
                    {
                        "name": deploy,
                        "type": "zadig-deploy",
                        "skipped": False,
                        "spec": {"env": env, "source": "fromjob", "job_name": build},
                    }
                ],
            },
        ],
        "notify_ctls": [],
        "concurrency_limit": 1,
    }


def service_json(name: str, *modules: str) -> Dict[str, Any]:
    return {
        "service_name": name,
        "source": "spock",
        "type": "k8s",
        "containers": [
            {"name": m, "image": f"harbor.example.com/mall/{m}:1", "image_name": m}
            for m in (modules or (name,))
        ],
    }


REGISTRY = {
    "registry_id": "r1",
    "address": "https://harbor.example.com",
    "provider": "harbor",
    "region": "",
    "namespace": "mall",
    "is_default": True,
}


def world(**changes: Any) -> Dict[str, Any]:
    """What a Zadig matching the shipped catalog answers (prod is not in the non-prod list)."""
    data: Dict[str, Any] = {
        "environments": [env_json(k) for k in ("dev", "test", "uat")],
        "workflows": [workflow_json(f"mall-{k}", k) for k in ("dev", "test", "uat", "prod")],
        "services": [service_json(n) for n in SERVICES],
        "registries": [REGISTRY],
    }
    data.update(changes)
    return data


def discovered(data: Dict[str, Any]) -> Discovered:
    return Discovered(
        environments=tuple(EnvironmentInfo.from_api(e) for e in data["environments"]),
        workflows=tuple(WorkflowDetail.from_api(w) for w in data["workflows"]),
        services=tuple(ServiceInfo.from_api(s) for s in data["services"]),
        registries=tuple(RegistryInfo.from_api(r) for r in data["registries"]),
    )


def lines_with(report: List[str], text: str) -> List[str]:
    return [line for line in report if text in line]
