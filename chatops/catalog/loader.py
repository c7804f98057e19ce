"""Read ``catalog.yml`` with line-numbered validation, and write it back."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import yaml

from chatops.catalog.access import parse_access
from chatops.catalog.freeze import parse_freeze_windows, parse_timezone
from chatops.catalog.model import (
    DEFAULT_PATH,
    KEY_PATTERN,
    Catalog,
    Environment,
    Service,
    _norm,
)
from chatops.catalog.reader import CatalogError, Fields, Reader

_ENV_FIELDS = {
    "aliases",
    "workflow",
    "build_job",
    "deploy_job",
    "branch",
    "production",
    "rollback",
    "allow_skipping_zadig_approval",
}
_SERVICE_FIELDS = {"aliases", "module", "repo"}
_TOP_FIELDS = {
    "project",
    "registry",
    "codehost",
    "repo_namespace",
    "environments",
    "services",
    "access",
    "timezone",
    "freeze_windows",
}


def parse_catalog(text: str, source: str = "<catalog>") -> Catalog:
    """Parse and validate catalog YAML text; raises CatalogError naming the line."""
    reader = Reader(source)
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
        if not KEY_PATTERN.match(key):
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
            **_rollback(reader, fields, what),
            allow_skipping_zadig_approval=reader.boolean(
                fields["allow_skipping_zadig_approval"][1],
                f"{what} allow_skipping_zadig_approval",
            )
            if "allow_skipping_zadig_approval" in fields
            else False,
        )
    if not environments:
        raise reader.fail(envs_node, "environments must list at least one environment")

    svcs_node = reader.require(root, top, "services", "the catalog")
    services: Dict[str, Service] = {}
    for name, (key_node, value_node) in reader.mapping(svcs_node, "services").items():
        if not KEY_PATTERN.match(name):
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

    env_keys = list(environments)
    zone = parse_timezone(reader, top["timezone"][1] if "timezone" in top else None)
    return Catalog(
        project_key,
        project_name,
        registry,
        codehost,
        namespace,
        environments,
        services,
        access=parse_access(reader, top["access"][1] if "access" in top else None, env_keys),
        freeze_windows=parse_freeze_windows(
            reader,
            top["freeze_windows"][1] if "freeze_windows" in top else None,
            zone,
            env_keys,
        ),
        timezone=zone,
    )


def _rollback(reader: Reader, fields: Fields, what: str) -> Dict[str, str]:
    """``rollback: {workflow: mall-prod-rollback, deploy_job: deploy}`` of an environment."""
    if "rollback" not in fields:
        return {}
    node = fields["rollback"][1]
    rollback = reader.mapping(node, f"{what} rollback")
    reader.reject_unknown(rollback, {"workflow", "deploy_job"}, f"{what} rollback")
    out = {
        "rollback_workflow": reader.scalar(
            reader.require(node, rollback, "workflow", f"{what} rollback"),
            f"{what} rollback workflow",
        )
    }
    if "deploy_job" in rollback:
        out["rollback_job"] = reader.scalar(rollback["deploy_job"][1], f"{what} rollback job")
    return out


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
