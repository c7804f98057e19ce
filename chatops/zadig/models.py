"""Typed results of the Zadig OpenAPI (the client never hands raw dicts to callers)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeployRequest:
    """Everything one build-and-deploy run of a custom workflow needs.

    Produced by the catalog (`Catalog.plan`), consumed by `ZadigClient.trigger_deploy`, which
    always sends *both* the build and the deploy job: Zadig silently skips a job left out of
    `inputs`, so a deploy that builds nothing cannot be expressed.
    """

    project_key: str
    workflow_key: str
    build_job: str
    deploy_job: str
    registry: str
    codehost_name: str
    repo_namespace: str
    repo_name: str
    service_name: str
    service_module: str
    branch: str
    env_name: str
    production: bool = False
