"""What the code and the deployment files say, read without importing the bot (no Rasa needed).

Everything here parses files: Python with ``ast``, YAML with PyYAML, Dockerfiles and nginx.conf
line by line. `deploy_checks.py` compares these facts; `scripts/validate_deploy.sh` runs it.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set, Tuple

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
ENDPOINT_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
COMPOSE_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}")


def read_yaml_docs(path: Path) -> List[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


# -- the code ---------------------------------------------------------------------------------


def env_names_read_by_code(root: Path = ROOT) -> Dict[str, str]:
    """Environment variable -> the file that reads it.

    chatops/settings.py and stream_sidecar/sidecar.py read the environment by name: every
    upper-case string constant there is a variable. Elsewhere only explicit ``os.environ`` /
    ``os.getenv`` reads count.
    """
    found: Dict[str, str] = {}
    for rel in ("chatops/settings.py", "stream_sidecar/sidecar.py"):
        for node in ast.walk(ast.parse((root / rel).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if ENV_NAME.match(node.value):
                    found.setdefault(node.value, rel)
    for package in ("chatops", "actions", "connectors", "nlu_components"):
        for path in sorted((root / package).rglob("*.py")):
            for name in _environ_reads(ast.parse(path.read_text(encoding="utf-8"))):
                found.setdefault(name, str(path.relative_to(root)))
    for value in _scalars(yaml.safe_load((root / "deploy/endpoints.yml").read_text("utf-8"))):
        for name in ENDPOINT_VAR.findall(value):
            found.setdefault(name, "deploy/endpoints.yml")
    return found


def quoted_env_references(text: str) -> List[str]:
    """``${VAR}`` inside quoted YAML scalars: Rasa 3.6 expands only plain ones (its implicit
    ``!env_var`` resolver), so a quoted one reaches Rasa as the literal characters."""
    found: List[str] = []
    stack = [yaml.compose(text)]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if "${" in str(node.value) and node.style in ("'", '"'):
                found.append(
                    f"line {node.start_mark.line + 1}: {node.style}{node.value}{node.style}"
                )
        elif isinstance(node, yaml.MappingNode):
            stack += [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack += list(node.value)
    return found


def _scalars(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _scalars(value)
    elif isinstance(node, list):
        for value in node:
            yield from _scalars(value)
    elif isinstance(node, str):
        yield node


def _environ_reads(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        target: Any = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("get", "getenv", "pop"):
                if "environ" in ast.unparse(func.value) or func.attr == "getenv":
                    target = node.args[0]
        elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
            target = node.slice
        if isinstance(target, ast.Constant) and isinstance(target.value, str):
            yield target.value


@dataclass(frozen=True)
class Route:
    path: str  # e.g. /webhooks/dingtalk/webhook
    methods: Tuple[str, ...]
    channel: str  # e.g. connectors.dingtalk.DingTalkInput


def channel_routes(root: Path = ROOT) -> List[Route]:
    """The routes Rasa serves for the channels credentials.yml lists (/webhooks/<name>/...)."""
    routes: List[Route] = []
    channels = yaml.safe_load((root / "credentials.yml").read_text(encoding="utf-8")) or {}
    for dotted in channels:
        module, _, cls_name = str(dotted).rpartition(".")
        source = root / (module.replace(".", "/") + ".py")
        if not source.is_file():
            continue  # a Rasa built-in channel (rest, socketio ...): not ours to describe
        for cls in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(cls, ast.ClassDef) and cls.name == cls_name:
                routes.extend(_routes_of(cls, str(dotted)))
    return routes


def _routes_of(cls: ast.ClassDef, dotted: str) -> Iterator[Route]:
    methods = {
        f.name: f for f in cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    name = next(
        (
            n.value.value
            for n in ast.walk(methods["name"])
            if isinstance(n, ast.Return) and isinstance(n.value, ast.Constant)
        ),
        None,
    )
    for node in ast.walk(methods["blueprint"]):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "route"):
                continue
            path = deco.args[0].value if deco.args else "/"
            verbs: Tuple[str, ...] = ("GET",)
            for kw in deco.keywords:
                if kw.arg == "methods":
                    verbs = tuple(ast.literal_eval(kw.value))
            yield Route(f"/webhooks/{name}{path}".rstrip("/") or "/", verbs, dotted)


def open_paths_of_action_server(root: Path = ROOT) -> Set[str]:
    """Paths actions/auth.py lets through without the token (the health probe's)."""
    for node in ast.walk(ast.parse((root / "actions/auth.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "OPEN_PATHS":
            return {c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)}
    return set()


def imports_of(root: Path, packages: Tuple[str, ...]) -> Dict[str, str]:
    """Top-level module imported -> first file importing it, over the given packages."""
    found: Dict[str, str] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: List[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(root)))
    return {k: v for k, v in found.items() if k not in sys.stdlib_module_names}


def pins(path: Path) -> Dict[str, str]:
    """requirements/constraints file -> {normalised name: '==version' or other spec or ''}."""
    out: Dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$", line)
        if match:
            out[normalise(match.group(1))] = match.group(2).replace(" ", "")
    return out


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# -- the deployment files -----------------------------------------------------------------------


@dataclass
class Dockerfile:
    path: Path
    instructions: List[Tuple[str, str]]  # (INSTRUCTION, arguments), continuation lines joined

    @classmethod
    def read(cls, path: Path) -> "Dockerfile":
        joined, pending = [], ""
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("#") and not pending:
                continue
            pending += line.rstrip("\\").strip() + " "
            if not line.rstrip().endswith("\\"):
                if pending.strip():
                    joined.append(pending.strip())
                pending = ""
        return cls(
            path, [(s.split(None, 1)[0].upper(), (s.split(None, 1) + [""])[1]) for s in joined]
        )

    def final_stage(self) -> List[Tuple[str, str]]:
        starts = [i for i, (op, _) in enumerate(self.instructions) if op == "FROM"]
        return self.instructions[starts[-1] :] if starts else []

    def last(self, op: str) -> str:
        values = [arg for o, arg in self.final_stage() if o == op]
        return values[-1] if values else ""

    def cmd(self) -> List[str]:
        value = self.last("CMD")
        return json.loads(value) if value.startswith("[") else value.split()

    def final_copies(self) -> List[Tuple[str, str]]:
        """(source, destination) of the final stage's COPYs from the build context."""
        copies = []
        for op, arg in self.final_stage():
            parts = [p for p in arg.split() if not p.startswith("--")]
            if op == "COPY" and "--from" not in arg:
                copies += [(src, parts[-1]) for src in parts[:-1]]
        return copies

    def copy_sources(self) -> List[str]:
        sources = []
        for op, arg in self.instructions:
            parts = arg.split()
            if op == "COPY" and not any(p.startswith("--from") for p in parts):
                sources += [p for p in parts[:-1] if not p.startswith("--")]
        return sources


@dataclass
class Bundle:
    """Every deployment file, parsed; tests change a copy to prove a check fails."""

    compose: Dict[str, Any]
    env_example: Set[str]
    k8s: List[Tuple[str, Dict[str, Any]]]  # (file relative to deploy/k8s, document)
    dockerfiles: Dict[str, Dockerfile]  # rasa / actions / sidecar
    dockerignore: Dict[str, List[str]]
    nginx: str
    endpoints: str  # deploy/endpoints.yml
    code_env: Dict[str, str] = field(default_factory=dict)
    routes: List[Route] = field(default_factory=list)


def load(root: Path = ROOT) -> Bundle:
    deploy = root / "deploy"
    compose_text = (deploy / "docker-compose.yml").read_text(encoding="utf-8")
    env_example = {
        line.split("=", 1)[0].strip()
        for line in (deploy / ".env.example").read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    k8s = [
        (str(path.relative_to(deploy / "k8s")), doc)
        for path in sorted((deploy / "k8s").rglob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in read_yaml_docs(path)
    ]
    kinds = ("rasa", "actions", "sidecar")
    return Bundle(
        compose=yaml.safe_load(compose_text),
        env_example=env_example,
        k8s=k8s,
        dockerfiles={k: Dockerfile.read(deploy / f"docker/Dockerfile.{k}") for k in kinds},
        dockerignore={
            k: (deploy / f"docker/Dockerfile.{k}.dockerignore").read_text().split("\n")
            for k in kinds
        },
        nginx=(deploy / "nginx/nginx.conf").read_text(encoding="utf-8"),
        endpoints=(deploy / "endpoints.yml").read_text(encoding="utf-8"),
        code_env=env_names_read_by_code(root),
        routes=channel_routes(root),
    )


def compose_variables(root: Path = ROOT) -> Set[str]:
    """${VAR} names docker-compose.yml interpolates from deploy/.env."""
    return set(COMPOSE_VAR.findall((root / "deploy/docker-compose.yml").read_text("utf-8")))


# -- lookups over a Bundle -----------------------------------------------------------------


def labels_match(selector: Dict[str, str], labels: Dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def workloads(b: Bundle) -> Iterator[Tuple[str, Dict[str, Any]]]:
    for _, doc in b.k8s:
        if doc.get("kind") == "Deployment":
            yield doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"], doc


def workload(b: Bundle, component: str) -> Dict[str, Any]:
    return next(doc for c, doc in workloads(b) if c == component)


def of_kind(b: Bundle, kind: str) -> List[Dict[str, Any]]:
    return [doc for _, doc in b.k8s if doc.get("kind") == kind]


def container_env(b: Bundle, container: Dict[str, Any]) -> Dict[str, Any]:
    """Name -> value (or the secret/configMap reference) a k8s container gets."""
    env: Dict[str, Any] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef") or source.get("secretRef")
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        for doc in of_kind(b, kind):
            if doc["metadata"]["name"] == ref["name"]:
                env.update(doc.get("data") or doc.get("stringData") or {})
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", item.get("valueFrom"))
    return env


def our_compose_services(b: Bundle) -> Dict[str, Dict[str, Any]]:
    return {
        name: svc
        for name, svc in b.compose["services"].items()
        if str(svc.get("image", "")).startswith("chatops-")
    }


def webhook_paths(b: Bundle) -> Set[str]:
    return {r.path for r in b.routes if "POST" in r.methods}


def assemble(kind: str, dest: Path) -> None:
    """Lay out under ``dest`` the files the final stage of Dockerfile.<kind> copies into /app,
    so scripts/validate_deploy.sh can import the image's code from exactly that set."""
    dockerfile = load().dockerfiles[kind]
    for src, to in dockerfile.final_copies():
        if to.rstrip("/") not in (src.rstrip("/"), "."):
            raise SystemExit(f"Dockerfile.{kind}: COPY {src} {to} is not to the same path")
        origin = ROOT / src
        target = dest / src
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, target)
