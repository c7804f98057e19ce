"""Discovery: projects, environments (with what they run now), services, registries.

docs/zadig-openapi.md §4. An unknown project reads as empty lists, or 403/500 for one object.
"""

from __future__ import annotations

from typing import Any, Dict, List

from simulators.zadig.definitions import initial_image
from simulators.zadig.errors import NO_DOCUMENTS, forbidden, internal_error
from simulators.zadig.shapes.discovery import (
    env_brief,
    env_detail,
    project_brief,
    project_detail,
    registry_brief,
    service_template,
)
from simulators.zadig.shapes.fields import page_of
from simulators.zadig.world.state import WorldState


class DiscoveryRules(WorldState):
    def list_projects(self, page: int, size: int) -> Dict[str, Any]:
        projects = [project_brief(self.catalog)]
        return {"total": len(projects), "projects": list(page_of(projects, page, size))}

    def project_detail(self, project_key: str) -> Dict[str, Any]:
        if project_key != self.catalog.project_key:
            raise forbidden()
        return project_detail(self.catalog)

    def list_envs(self, project_key: str, production: bool) -> List[Dict[str, Any]]:
        if project_key != self.catalog.project_key:
            return []
        return [
            env_brief(self.catalog, env, self.registry_id)
            for env in self.catalog.environments.values()
            if env.production == production
        ]

    def env_detail(self, project_key: str, env_key: str, production: bool) -> Dict[str, Any]:
        self.refresh()
        env = self.catalog.environments.get(env_key)
        if project_key != self.catalog.project_key or env is None or env.production != production:
            raise internal_error(NO_DOCUMENTS)
        images = self.deployed.get(env.key, {})
        return env_detail(self.catalog, env, self.registry_id, images)

    def list_services(self, project_key: str) -> List[Dict[str, Any]]:
        if project_key != self.catalog.project_key:
            return []
        default_env = next(iter(self.catalog.environments.values()))
        return [
            service_template(svc, initial_image(self.catalog.registry, default_env, svc))
            for svc in self.catalog.services.values()
        ]

    def list_registries(self) -> List[Dict[str, Any]]:
        return [registry_brief(self.catalog.registry, self.registry_id)]
