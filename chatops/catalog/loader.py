"""Read ``catalog.yml`` with line-numbered validation, and write it back."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

import yaml

from chatops.catalog.model import (
    DEFAULT_PATH,
    KEY_PATTERN,
    Catalog,
    CatalogError,
    Environment,
    Service,
    _norm,
)


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
