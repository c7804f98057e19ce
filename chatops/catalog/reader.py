"""Walk a composed YAML node tree so every catalog problem can name its line."""

from __future__ import annotations

from typing import Dict, Iterable, Optional, Tuple

import yaml


class CatalogError(ValueError):
    """A catalog file that cannot be used; the message names the file, line and problem."""


Fields = Dict[str, Tuple[yaml.Node, yaml.Node]]


class Reader:
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

    def integer(self, node: yaml.Node, what: str, minimum: int = 0) -> int:
        text = self.scalar(node, what)
        if not text.lstrip("-").isdigit() or int(text) < minimum:
            raise self.fail(node, f"{what} must be a whole number of at least {minimum}")
        return int(text)
