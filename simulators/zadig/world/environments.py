"""Changing what an environment runs without a workflow: image update and restart.

docs/zadig-task-operations.md §4 (``POST /openapi/environments/image/<kind>/:ignored``: the body's
``env_name`` selects a non-production env, the first one when empty; the Deployment route lets
only system admins through; a body that does not decode is success on the StatefulSet and Job
routes) and §6 (restart: success even for a service not in the env). Every service runs as one
Deployment named after the service, its container named after the module.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from chatops.catalog import Environment
from simulators.zadig.errors import (
    NO_DOCUMENTS,
    ZadigError,
    bad_request,
    forbidden,
    http_error,
    image_update_error,
    internal_error,
)
from simulators.zadig.world.state import WorldState

SUCCESS = {"message": "success"}
WORKLOAD_KINDS = {
    "deployment": "Deployment",
    "statefulset": "StatefulSet",
    "cronjob": "CronJob",
    "job": "Job",
}
_IMAGE_ARGS = (
    "product_name",
    "env_name",
    "service_name",
    "name",
    "container_name",
    "image",
    "type",
)
# 400 / 7050; only the message is documented, the description is taken to repeat it [?].
_LICENCE = "用户许可证不可用，请检查许可证后重试"


def _image_args(raw: bytes) -> Optional[Dict[str, str]]:
    """``OpenAPIUpdateContainerImageArgs``, or None when ``json.Unmarshal`` fails."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if body is None:
        return {}
    if not isinstance(body, dict):
        return None
    if any(body.get(k) is not None and not isinstance(body[k], str) for k in _IMAGE_ARGS):
        return None
    return {k: body.get(k) or "" for k in _IMAGE_ARGS}


class EnvironmentRules(WorldState):
    def update_image(self, route_kind: str, raw: bytes) -> Dict[str, Any]:
        kind = WORKLOAD_KINDS[route_kind]
        args = _image_args(raw)
        if args is None and kind in ("StatefulSet", "Job"):
            return SUCCESS  # the handler returns before doing anything
        # The Deployment route's RBAC lets only system admins through (a bug since v2.2.0).
        if kind == "Deployment" and not self.config.system_admin:
            raise forbidden()
        if args is None:
            raise ZadigError(400)  # BindJSON fails: 400 with an empty body
        project = args["product_name"]
        if project != self.catalog.project_key:
            raise image_update_error(
                f"failed to find template project {project}, error: {NO_DOCUMENTS}"
            )
        env = self._non_production_env(args["env_name"])
        if env is None:
            raise image_update_error(NO_DOCUMENTS)
        kind = args["type"] or kind
        if kind != "Deployment" or args["name"] not in self.catalog.services or not args["image"]:
            raise image_update_error(f"更新 {kind} 容器镜像失败")
        svc = self.catalog.services.get(args["service_name"])
        if svc is None:
            raise image_update_error(f"服务 {args['service_name']} 不存在")
        # A wrong container_name makes the patch add a container (§4.3, inferred): success, and
        # no container of the service's record matches, so what it runs stays as it was.
        if args["container_name"] == svc.module:
            self.deployed.setdefault(env.key, {})[svc.name] = args["image"]
        return SUCCESS

    def _non_production_env(self, env_key: str) -> Optional[Environment]:
        for env in self.catalog.environments.values():
            if not env.production and env_key in ("", env.key):
                return env
        return None

    def restart_service(
        self, project_key: str, env_key: str, service: str, production: bool
    ) -> Dict[str, Any]:
        if not project_key:
            raise bad_request("projectKey can't be empty")
        if production and not self.config.licensed:
            raise http_error(7050, _LICENCE, _LICENCE)
        env = self.catalog.environments.get(env_key)
        if project_key != self.catalog.project_key or env is None or env.production != production:
            raise internal_error(NO_DOCUMENTS)
        self.restarts.append(
            {
                "env_key": env_key,
                "service_name": service,
                "production": production,
                "restarted": service in self.catalog.services,
                "time": self.clock(),
            }
        )
        return SUCCESS
