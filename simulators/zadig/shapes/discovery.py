"""Discovery answers: projects, environments, services, registries (docs/zadig-openapi.md §4)."""

from __future__ import annotations

from typing import Any, Dict

from chatops.catalog import Catalog, Environment, Service
from simulators.zadig.definitions import SEED_TIME, env_alias, object_id, split_registry
from simulators.zadig.shapes.fields import put


def project_brief(catalog: Catalog) -> Dict[str, Any]:
    return {
        "project_name": catalog.project_name,
        "project_key": catalog.project_key,
        "description": "",
        "deploy_type": "k8s",
    }


def project_detail(catalog: Catalog) -> Dict[str, Any]:
    return {
        "project_name": catalog.project_name,
        "project_key": catalog.project_key,
        "is_public": False,
        "desc": "",
        "deploy_type": "k8s",
        "create_time": SEED_TIME,
        "created_by": "admin",
    }


def namespace(project_key: str, env: Environment) -> str:
    return f"{project_key}-env-{env.key}"


def env_brief(catalog: Catalog, env: Environment, registry_id: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    put(out, "envName", env_alias(env))
    out.update(
        {
            "env_key": env.key,
            "cluster_id": object_id("cluster", "local"),
            "namespace": namespace(catalog.project_key, env),
            "production": env.production,
            "registry_id": registry_id,
            "status": "running",
            "update_by": "admin",
            "update_time": SEED_TIME,
        }
    )
    return out


def env_detail(
    catalog: Catalog, env: Environment, registry_id: str, images: Dict[str, str]
) -> Dict[str, Any]:
    """An environment with the image each service runs now (`images` by service name)."""
    services = [
        {
            "service_name": svc.name,
            "deploy_strategy": "deploy",
            "containers": [
                {
                    "name": svc.module,
                    "type": "",
                    "image": images.get(svc.name, ""),
                    "image_name": svc.module,
                }
            ],
            "variable_kvs": [],
            "status": "Running",
            "type": "k8s",
        }
        for svc in catalog.services.values()
    ]
    out: Dict[str, Any] = {
        "project_key": catalog.project_key,
        "env_key": env.key,
        "update_by": "admin",
        "update_time": SEED_TIME,
        "cluster_id": object_id("cluster", "local"),
        "namespace": namespace(catalog.project_key, env),
        "registry_id": registry_id,
    }
    put(out, "env_name", env_alias(env))
    out.update({"global_variables": [], "services": services, "status": "running"})
    return out


def service_template(svc: Service, image: str) -> Dict[str, Any]:
    return {
        "service_name": svc.name,
        "source": "spock",
        "type": "k8s",
        "containers": [{"name": svc.module, "image": image, "image_name": svc.module}],
    }


def registry_brief(registry: str, registry_id: str) -> Dict[str, Any]:
    address, namespace = split_registry(registry)
    return {
        "registry_id": registry_id,
        "address": address,
        "provider": "harbor",
        "region": "",
        "namespace": namespace,
        "is_default": True,
    }
