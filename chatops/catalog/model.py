"""What the catalog holds: environments, services and the mapping to a Zadig deploy request."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union
from zoneinfo import ZoneInfo

from chatops.catalog.access import AccessPolicy
from chatops.catalog.freeze import DEFAULT_TIMEZONE, FreezeWindow
from chatops.catalog.fuzzy import FuzzyNames
from chatops.zadig.models import DeployRequest, ServiceBuild

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "catalog.yml"

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Words people add around an environment name that do not change which one they mean.
_ENV_NOISE = ("环境",)


@dataclass(frozen=True)
class Environment:
    key: str
    aliases: Tuple[str, ...]
    workflow: str
    build_job: str
    deploy_job: str
    branch: str
    production: bool = False
    # A deploy-only workflow whose deploy job takes the image at run time: how rollbacks run.
    rollback_workflow: Optional[str] = None
    rollback_job: str = "deploy"
    # On a Zadig too old to keep a workflow's approval job in an OpenAPI-started task, start it
    # anyway (the approval is skipped) instead of refusing (docs/zadig-openapi.md §3.1).
    allow_skipping_zadig_approval: bool = False

    @property
    def label(self) -> str:
        """Short Chinese label for choices, e.g. ``开发`` for dev."""
        for alias in self.aliases:
            if not alias.isascii():
                return alias[:-2] if alias.endswith("环境") and len(alias) > 2 else alias
        return self.key


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    repo: str
    aliases: Tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.aliases[0] if self.aliases else self.name


@dataclass(frozen=True)
class Catalog:
    project_key: str
    project_name: str
    registry: str
    codehost: str
    repo_namespace: str
    environments: Dict[str, Environment]
    services: Dict[str, Service]
    access: AccessPolicy = field(default_factory=AccessPolicy)
    freeze_windows: Tuple[FreezeWindow, ...] = ()
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    path: Optional[Path] = field(default=None, compare=False)

    # -- lookups -------------------------------------------------------------------------

    @cached_property
    def names(self) -> FuzzyNames:
        """Short, misspelt and homophone names of the services and environments."""
        return FuzzyNames.from_catalog(self)

    def environment(self, text: Optional[str]) -> Optional[Environment]:
        """The environment meant by a key or any alias (case-insensitive), else None."""
        if not text:
            return None
        wanted = _norm(text)
        candidates = {wanted}
        for noise in _ENV_NOISE:
            if wanted.endswith(noise) and len(wanted) > len(noise):
                candidates.add(wanted[: -len(noise)])
        for env in self.environments.values():
            names = {_norm(env.key), *(_norm(a) for a in env.aliases)}
            if candidates & names:
                return env
        # A derived short name or another spacing is a name; a typo is only a suggestion.
        found = self.names.resolve(text, "environment")
        return self.environments[found.value] if found and found.exact else None

    def service(self, text: Optional[str]) -> Optional[Service]:
        """The service meant by its name, module or any alias (case-insensitive), else None."""
        if not text:
            return None
        wanted = _norm(text)
        for svc in self.services.values():
            if wanted in {_norm(svc.name), _norm(svc.module), *(_norm(a) for a in svc.aliases)}:
                return svc
        # A derived short name (订单) or another spacing is a name; a typo is only a suggestion.
        found = self.names.resolve(text, "service")
        return self.services[found.value] if found and found.exact else None

    def suggest_services(self, text: str, limit: int = 3) -> List[str]:
        """Closest catalog service names to a misspelt one (``ordr-service`` -> order-service)."""
        close = [c.value for c in self.names.candidates(text, "service", limit)]
        spellings = {n: [n, *s.aliases] for n, s in self.services.items()}
        return close or _closest(text, spellings, limit)

    def suggest_environments(self, text: str, limit: int = 2) -> List[str]:
        close = [c.value for c in self.names.candidates(text, "environment", limit)]
        spellings = {k: [k, *e.aliases] for k, e in self.environments.items()}
        return close or _closest(text, spellings, limit)

    def environment_of_workflow(self, workflow_key: str) -> Optional[Environment]:
        for env in self.environments.values():
            if env.workflow == workflow_key:
                return env
        return None

    # -- the mapping to Zadig --------------------------------------------------------------

    def plan(
        self,
        services: Union[str, Sequence[str]],
        environment: str,
        branch: Optional[str] = None,
    ) -> DeployRequest:
        """The exact build+deploy request for one or several services in an environment.

        ``branch`` defaults to the environment's branch. Raises KeyError for names that are not
        in the catalog (callers validate first and offer suggestions).
        """
        names = [services] if isinstance(services, str) else list(services)
        found = []
        for name in names:
            svc = self.service(name)
            if svc is None:
                raise KeyError(f"unknown service: {name}")
            if svc not in found:
                found.append(svc)
        env = self.environment(environment)
        if env is None:
            raise KeyError(f"unknown environment: {environment}")
        if not found:
            raise KeyError("no service to deploy")
        return DeployRequest(
            project_key=self.project_key,
            workflow_key=env.workflow,
            build_job=env.build_job,
            deploy_job=env.deploy_job,
            registry=self.registry,
            codehost_name=self.codehost,
            repo_namespace=self.repo_namespace,
            services=tuple(ServiceBuild(s.name, s.module, s.repo) for s in found),
            branch=branch or env.branch,
            env_name=env.key,
            production=env.production,
        )

    # -- (de)serialisation -----------------------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        envs: Dict[str, Any] = {}
        for env in self.environments.values():
            item: Dict[str, Any] = {
                "aliases": list(env.aliases),
                "workflow": env.workflow,
                "build_job": env.build_job,
                "deploy_job": env.deploy_job,
                "branch": env.branch,
            }
            if env.production:
                item["production"] = True
            if env.rollback_workflow:
                item["rollback"] = {
                    "workflow": env.rollback_workflow,
                    "deploy_job": env.rollback_job,
                }
            if env.allow_skipping_zadig_approval:
                item["allow_skipping_zadig_approval"] = True
            envs[env.key] = item
        svcs: Dict[str, Any] = {}
        for svc in self.services.values():
            item = {"aliases": list(svc.aliases)}
            if svc.module != svc.name:
                item["module"] = svc.module
            if svc.repo != svc.name:
                item["repo"] = svc.repo
            svcs[svc.name] = item
        out: Dict[str, Any] = {
            "project": {"key": self.project_key, "name": self.project_name},
            "registry": self.registry,
            "codehost": self.codehost,
            "repo_namespace": self.repo_namespace,
            "environments": envs,
            "services": svcs,
        }
        if str(self.timezone) != DEFAULT_TIMEZONE:
            out["timezone"] = str(self.timezone)
        if self.access != AccessPolicy():
            out["access"] = self.access.to_dict()
        if self.freeze_windows:
            out["freeze_windows"] = [w.to_dict() for w in self.freeze_windows]
        return out


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", str(text)).lower()


def _closest(text: str, names: Dict[str, List[str]], limit: int) -> List[str]:
    wanted = _norm(text)
    scored = []
    for key, spellings in names.items():
        best = max(difflib.SequenceMatcher(None, wanted, _norm(s)).ratio() for s in spellings)
        if best >= 0.5:
            scored.append((best, key))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [key for _, key in scored[:limit]]
