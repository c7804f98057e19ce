"""The deployment catalog: what people say in chat -> what Zadig needs.

One YAML file (``catalog.yml``) replaces the article's hard-coded ``zadigInfo`` map. It is the
single source for the NLU synonyms/lookups/jieba dictionary (``scripts/generate_nlu.py``), the
Zadig simulator's world and the actions' validation. Loading validates every field and reports
problems as ``<file>:<line>: <problem>`` so a broken edit is easy to find.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import yaml

from chatops.zadig.models import DeployRequest

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "catalog.yml"

_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Words people add around an environment name that do not change which one they mean.
_ENV_NOISE = ("环境",)


class CatalogError(ValueError):
    """A catalog file that cannot be used; the message names the file, line and problem."""


@dataclass(frozen=True)
class Environment:
    key: str
    aliases: Tuple[str, ...]
    workflow: str
    build_job: str
    deploy_job: str
    branch: str
    production: bool = False

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
    path: Optional[Path] = field(default=None, compare=False)

    # -- lookups -------------------------------------------------------------------------

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
        return None

    def service(self, text: Optional[str]) -> Optional[Service]:
        """The service meant by its name, module or any alias (case-insensitive), else None."""
        if not text:
            return None
        wanted = _norm(text)
        for svc in self.services.values():
            if wanted in {_norm(svc.name), _norm(svc.module), *(_norm(a) for a in svc.aliases)}:
                return svc
        return None

    def suggest_services(self, text: str, limit: int = 3) -> List[str]:
        """Closest catalog service names to a misspelt one (``ordr-service`` -> order-service)."""
        return _closest(text, {n: [n, *s.aliases] for n, s in self.services.items()}, limit)

    def suggest_environments(self, text: str, limit: int = 2) -> List[str]:
        return _closest(text, {k: [k, *e.aliases] for k, e in self.environments.items()}, limit)

    def environment_of_workflow(self, workflow_key: str) -> Optional[Environment]:
        for env in self.environments.values():
            if env.workflow == workflow_key:
                return env
        return None

    # -- the mapping to Zadig --------------------------------------------------------------

    def plan(self, service: str, environment: str, branch: Optional[str] = None) -> DeployRequest:
        """The exact build+deploy request for a service in an environment.

        ``branch`` defaults to the environment's branch. Raises KeyError for names that are not
        in the catalog (callers validate first and offer suggestions).
        """
        svc = self.service(service)
        env = self.environment(environment)
        if svc is None:
            raise KeyError(f"unknown service: {service}")
        if env is None:
            raise KeyError(f"unknown environment: {environment}")
        return DeployRequest(
            project_key=self.project_key,
            workflow_key=env.workflow,
            build_job=env.build_job,
            deploy_job=env.deploy_job,
            registry=self.registry,
            codehost_name=self.codehost,
            repo_namespace=self.repo_namespace,
            repo_name=svc.repo,
            service_name=svc.name,
            service_module=svc.module,
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
            envs[env.key] = item
        svcs: Dict[str, Any] = {}
        for svc in self.services.values():
            item = {"aliases": list(svc.aliases)}
            if svc.module != svc.name:
                item["module"] = svc.module
            if svc.repo != svc.name:
                item["repo"] = svc.repo
            svcs[svc.name] = item
        return {
            "project": {"key": self.project_key, "name": self.project_name},
            "registry": self.registry,
            "codehost": self.codehost,
            "repo_namespace": self.repo_namespace,
            "environments": envs,
            "services": svcs,
        }


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


# -- loading with line-numbered validation ----------------------------------------------------


class _Reader:
    """Walks a composed YAML node tree, so every problem can name its line."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: Optional[yaml.Node], problem: str) -> CatalogError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return CatalogError(f"{self.source}{line}: {problem}")

    def mapping(self, node: yaml.Node, what: str) -> Dict[str, Tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: Dict[str, Tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in out:
                raise self.fail(key_node, f"duplicate key '{key}' in {what}")
            out[key] = (key_node, value_node)
        return out

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.value in ("", "~", "null"):
            raise self.fail(node, f"{what} must be a non-empty string")
        return str(node.value)

    def boolean(self, node: yaml.Node, what: str) -> bool:
        if not isinstance(node, yaml.ScalarNode) or node.value.lower() not in ("true", "false"):
            raise self.fail(node, f"{what} must be true or false")
        return str(node.value).lower() == "true"

    def strings(self, node: yaml.Node, what: str) -> Tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list of strings")
        return tuple(self.scalar(item, f"an entry of {what}") for item in node.value)

    def require(
        self,
        parent: yaml.Node,
        fields: Dict[str, Tuple[yaml.Node, yaml.Node]],
        name: str,
        what: str,
    ) -> yaml.Node:
        if name not in fields:
            raise self.fail(parent, f"{what} is missing '{name}'")
        return fields[name][1]

    def reject_unknown(
        self, fields: Dict[str, Tuple[yaml.Node, yaml.Node]], allowed: Iterable[str], what: str
    ) -> None:
        for key, (key_node, _) in fields.items():
            if key not in allowed:
                raise self.fail(
                    key_node,
                    f"unknown field '{key}' in {what} (allowed: {', '.join(sorted(allowed))})",
                )


_ENV_FIELDS = {"aliases", "workflow", "build_job", "deploy_job", "branch", "production"}
_SERVICE_FIELDS = {"aliases", "module", "repo"}
_TOP_FIELDS = {"project", "registry", "codehost", "repo_namespace", "environments", "services"}


def parse_catalog(text: str, source: str = "<catalog>") -> Catalog:
    """Parse and validate catalog YAML text; raises CatalogError naming the line."""
    reader = _Reader(source)
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise CatalogError(
            f"{source}{where}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    if root is None:
        raise CatalogError(f"{source}: the catalog is empty")
    top = reader.mapping(root, "the catalog")
    reader.reject_unknown(top, _TOP_FIELDS, "the catalog")

    project_node = reader.require(root, top, "project", "the catalog")
    project = reader.mapping(project_node, "project")
    project_key = reader.scalar(
        reader.require(project_node, project, "key", "project"), "project.key"
    )
    project_name = (
        reader.scalar(project["name"][1], "project.name") if "name" in project else project_key
    )

    registry = reader.scalar(reader.require(root, top, "registry", "the catalog"), "registry")
    codehost = reader.scalar(reader.require(root, top, "codehost", "the catalog"), "codehost")
    namespace = reader.scalar(
        reader.require(root, top, "repo_namespace", "the catalog"), "repo_namespace"
    )

    alias_owner: Dict[str, str] = {}

    def claim(alias: str, owner: str, node: yaml.Node) -> None:
        key = _norm(alias)
        if key in alias_owner and alias_owner[key] != owner:
            raise reader.fail(node, f"'{alias}' names both {alias_owner[key]} and {owner}")
        alias_owner[key] = owner

    envs_node = reader.require(root, top, "environments", "the catalog")
    environments: Dict[str, Environment] = {}
    for key, (key_node, value_node) in reader.mapping(envs_node, "environments").items():
        if not _KEY_RE.match(key):
            raise reader.fail(
                key_node, f"environment key '{key}' must be lower-case letters, digits and '-'"
            )
        what = f"environment '{key}'"
        fields = reader.mapping(value_node, what)
        reader.reject_unknown(fields, _ENV_FIELDS, what)
        aliases = (
            reader.strings(fields["aliases"][1], f"{what} aliases") if "aliases" in fields else ()
        )
        claim(key, f"environment {key}", key_node)
        for alias in aliases:
            claim(alias, f"environment {key}", fields["aliases"][1])
        environments[key] = Environment(
            key=key,
            aliases=aliases,
            workflow=reader.scalar(
                reader.require(value_node, fields, "workflow", what), f"{what} workflow"
            ),
            build_job=reader.scalar(
                reader.require(value_node, fields, "build_job", what), f"{what} build_job"
            ),
            deploy_job=reader.scalar(
                reader.require(value_node, fields, "deploy_job", what), f"{what} deploy_job"
            ),
            branch=reader.scalar(
                reader.require(value_node, fields, "branch", what), f"{what} branch"
            ),
            production=reader.boolean(fields["production"][1], f"{what} production")
            if "production" in fields
            else False,
        )
    if not environments:
        raise reader.fail(envs_node, "environments must list at least one environment")

    svcs_node = reader.require(root, top, "services", "the catalog")
    services: Dict[str, Service] = {}
    for name, (key_node, value_node) in reader.mapping(svcs_node, "services").items():
        if not _KEY_RE.match(name):
            raise reader.fail(
                key_node, f"service name '{name}' must be lower-case letters, digits and '-'"
            )
        what = f"service '{name}'"
        if isinstance(value_node, yaml.ScalarNode) and value_node.value in ("", "~", "null"):
            fields = {}
        else:
            fields = reader.mapping(value_node, what)
        reader.reject_unknown(fields, _SERVICE_FIELDS, what)
        aliases = (
            reader.strings(fields["aliases"][1], f"{what} aliases") if "aliases" in fields else ()
        )
        claim(name, f"service {name}", key_node)
        for alias in aliases:
            claim(alias, f"service {name}", fields["aliases"][1])
        services[name] = Service(
            name=name,
            module=reader.scalar(fields["module"][1], f"{what} module")
            if "module" in fields
            else name,
            repo=reader.scalar(fields["repo"][1], f"{what} repo") if "repo" in fields else name,
            aliases=aliases,
        )
    if not services:
        raise reader.fail(svcs_node, "services must list at least one service")

    return Catalog(project_key, project_name, registry, codehost, namespace, environments, services)


def load_catalog(path: Optional[Path | str] = None) -> Catalog:
    """Load the catalog file (default: the repo's ``catalog.yml``)."""
    file = Path(path) if path else DEFAULT_PATH
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{file}: cannot read the catalog ({exc.strerror})") from exc
    catalog = parse_catalog(text, str(file))
    object.__setattr__(catalog, "path", file)
    return catalog


def dump_catalog(catalog: Catalog) -> str:
    header = (
        "# Deployment catalog: what people say in DingTalk -> what Zadig needs.\n"
        "# Refreshed from Zadig by `make catalog-refresh`; Chinese aliases are kept.\n"
    )
    return header + yaml.safe_dump(catalog.to_dict(), allow_unicode=True, sort_keys=False)
