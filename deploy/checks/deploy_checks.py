"""Do the compose file, the Kubernetes manifests and the Dockerfiles agree with the code?

Run: ``python deploy/checks/deploy_checks.py`` (scripts/validate_deploy.sh does, in its tools
venv). Prints each check and every problem; exit 1 when there is one. Each ``check_*`` takes a
`deploy_facts.Bundle`, so tests/deploy can break a copy and see the check fail.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploy_facts import (  # noqa: E402
    ROOT,
    Bundle,
    assemble,
    compose_variables,
    container_env,
    imports_of,
    labels_match,
    load,
    normalise,
    of_kind,
    open_paths_of_action_server,
    our_compose_services,
    pins,
    quoted_env_references,
    webhook_paths,
    workload,
    workloads,
)

READY_PATH = "/webhooks/ops/ready"  # the lead's readiness route: 200 once the model is loaded
METRICS_PATH = "/webhooks/ops/metrics"
RASA_PORT, ACTIONS_PORT, ACTIONS_METRICS_PORT = 5005, 5055, 9105
# Variables read by software that is not ours, and who reads them.
THIRD_PARTY_ENV = {
    "SANIC_HOST": "rasa_sdk (listen address)",
    "RASA_TELEMETRY_ENABLED": "rasa",
    "TF_CPP_MIN_LOG_LEVEL": "tensorflow",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "sqlalchemy",
    "DINGTALK_OPENAPI_ENDPOINT": "the dingtalk-stream SDK",
}
# Import name -> requirement name, where they differ (requirements-actions.txt).
IMPORT_TO_REQUIREMENT = {"yaml": "pyyaml", "rasa_sdk": "rasa-sdk", "sanic": "rasa-sdk"}
Check = Callable[[Bundle], Iterator[str]]


# -- checks ---------------------------------------------------------------------------------


def check_env_names(b: Bundle) -> Iterator[str]:
    known = set(b.code_env) | set(THIRD_PARTY_ENV)
    for component, doc in workloads(b):
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for name in sorted(set(container_env(b, container)) - known):
                yield f"k8s {component}: {name} is read by no code (chatops/settings.py ...)"
    for name, svc in our_compose_services(b).items():
        for var in sorted(set(svc.get("environment", {})) - known):
            yield f"compose {name}: {var} is read by no code (chatops/settings.py ...)"
    for var in sorted(compose_variables() ^ b.env_example):
        yield f"compose interpolates ${{{var}}} but deploy/.env.example lacks it, or vice versa"


def _required_env(endpoints_vars: Set[str]) -> Dict[str, Set[str]]:
    # Without these, chatops/settings.py falls back to the demo's simulators on loopback.
    shared = {"ACTION_SERVER_TOKEN", "CHATOPS_DB_URL", "ZADIG_BASE_URL", "ZADIG_TOKEN"}
    return {
        "rasa": endpoints_vars | shared | {"DINGTALK_APP_KEY", "DINGTALK_APP_SECRET"},
        "actions": shared | {"SANIC_HOST"},
        "sidecar": {"DINGTALK_APP_KEY", "DINGTALK_APP_SECRET", "BOT_WEBHOOK_URL"},
    }


def check_required_env(b: Bundle) -> Iterator[str]:
    endpoints_vars = {v for v, where in b.code_env.items() if where == "deploy/endpoints.yml"}
    required = _required_env(endpoints_vars)
    for component, doc in workloads(b):
        env = container_env(b, doc["spec"]["template"]["spec"]["containers"][0])
        for name in sorted(required[component] - set(env)):
            yield f"k8s {component} lacks {name}"
        if component == "actions" and env.get("SANIC_HOST") != "0.0.0.0":
            yield "k8s actions: SANIC_HOST must be 0.0.0.0 (rasa_sdk would listen on loopback)"
    db_refs = {
        str(
            container_env(b, workload(b, c)["spec"]["template"]["spec"]["containers"][0]).get(
                "CHATOPS_DB_URL"
            )
        )
        for c in ("rasa", "actions")
    }
    if len(db_refs) != 1:
        yield "k8s rasa and actions must read CHATOPS_DB_URL from the same place (shared state)"
    services = our_compose_services(b)
    for name, svc in services.items():
        component = str(svc["image"]).split(":")[0].removeprefix("chatops-")
        for var in sorted(required[component] - set(svc.get("environment", {}))):
            yield f"compose {name} lacks {var}"
    if len({str(s["environment"].get("CHATOPS_DB_URL")) for s in services.values()} - {"None"}) > 1:
        yield "compose: every service must use one CHATOPS_DB_URL (shared state)"


def check_endpoints_expand(b: Bundle) -> Iterator[str]:
    for where in quoted_env_references(b.endpoints):
        yield f"deploy/endpoints.yml {where}: quoted, so Rasa 3.6 would not expand it; unquote it"


def check_secret_references(b: Bundle) -> Iterator[str]:
    data = {
        (doc["kind"], doc["metadata"]["name"]): set(doc.get("data") or doc.get("stringData") or {})
        for _, doc in b.k8s
        if doc.get("kind") in ("Secret", "ConfigMap")
    }
    for component, doc in workloads(b):
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for item in container.get("env", []):
                for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    ref = (item.get("valueFrom") or {}).get(key)
                    if ref and ref["key"] not in data.get((kind, ref["name"]), set()):
                        yield f"k8s {component}: {kind} {ref['name']} has no key {ref['key']}"
    for doc in of_kind(b, "Secret"):
        for key, value in (doc.get("stringData") or {}).items():
            if "CHANGE-ME" not in str(value):
                yield f"secret template: {key} must be a CHANGE-ME placeholder, not a value"


def check_ingress(b: Bundle) -> Iterator[str]:
    ingresses = of_kind(b, "Ingress")
    if len(ingresses) != 1:
        yield f"expected one Ingress, found {len(ingresses)}"
    rasa_services = {
        s["metadata"]["name"]: s
        for s in of_kind(b, "Service")
        if s["spec"]["selector"].get("app.kubernetes.io/component") == "rasa"
    }
    for ing in ingresses:
        if ing.get("spec", {}).get("defaultBackend"):
            yield "Ingress has a defaultBackend: it would expose every path"
        paths = [p for rule in ing["spec"]["rules"] for p in rule["http"]["paths"]]
        if sorted(p["path"] for p in paths) != sorted(webhook_paths(b)):
            yield (
                f"Ingress paths {sorted(p['path'] for p in paths)} != the webhook routes "
                f"{sorted(webhook_paths(b))} of connectors/"
            )
        for p in paths:
            if p.get("pathType") != "Exact":
                yield f"Ingress path {p['path']} must be pathType Exact (Prefix exposes more)"
            svc = p["backend"]["service"]
            target = rasa_services.get(svc["name"])
            ports = [q for q in (target or {}).get("spec", {}).get("ports", [])]
            port = svc["port"].get("number") or next(
                (q["port"] for q in ports if q.get("name") == svc["port"].get("name")), None
            )
            if target is None or port != RASA_PORT:
                yield f"Ingress {p['path']} must go to the Rasa Service port {RASA_PORT}"


def check_network_policy(b: Bundle) -> Iterator[str]:
    actions = workload(b, "actions")["spec"]["template"]["metadata"]["labels"]
    rasa = workload(b, "rasa")["spec"]["template"]["metadata"]["labels"]
    policies = [
        p
        for p in of_kind(b, "NetworkPolicy")
        if labels_match(p["spec"]["podSelector"].get("matchLabels", {}), actions)
    ]
    if not policies:
        yield "no NetworkPolicy selects the action server's pods"
    for policy in policies:
        if "Ingress" not in policy["spec"].get("policyTypes", ["Ingress"]):
            yield "the action server's NetworkPolicy must restrict Ingress"
        for rule in policy["spec"].get("ingress", []):
            ports = {p.get("port") for p in rule.get("ports", [])} or {None}
            if not ports & {None, ACTIONS_PORT, "http"}:
                continue  # e.g. metrics only
            peers = rule.get("from", [])
            if not peers:
                yield "a NetworkPolicy rule lets every pod reach the action server"
            for peer in peers:
                selector = (peer.get("podSelector") or {}).get("matchLabels", {})
                if set(peer) != {"podSelector"} or not labels_match(selector, rasa):
                    yield f"NetworkPolicy lets {peer} reach the action server; only Rasa pods may"
            if ports & {None}:
                yield "a NetworkPolicy rule opens every port of the action server"


def check_security(b: Bundle) -> Iterator[str]:
    for component, doc in workloads(b):
        pod = doc["spec"]["template"]["spec"]
        for c in pod["containers"] + pod.get("initContainers", []):
            ctx = {**pod.get("securityContext", {}), **c.get("securityContext", {})}
            if ctx.get("runAsNonRoot") is not True or ctx.get("runAsUser", 0) == 0:
                yield f"k8s {component}/{c['name']} may run as root"
            if ctx.get("allowPrivilegeEscalation") is not False:
                yield f"k8s {component}/{c['name']} allows privilege escalation"
            if not c.get("resources", {}).get("requests") or not c["resources"].get("limits"):
                yield f"k8s {component}/{c['name']} needs resource requests and limits"
    for kind, dockerfile in b.dockerfiles.items():
        user = dockerfile.last("USER").split(":")[0]
        if user in ("", "0", "root"):
            yield f"Dockerfile.{kind}: the final stage runs as root (USER {user or 'unset'})"
        for op, arg in dockerfile.instructions:
            if op in ("ENV", "ARG") and re.search(r"(TOKEN|SECRET|PASSWORD)\w*=\S", arg):
                yield f"Dockerfile.{kind} bakes a secret into the image: {op} {arg[:40]}"
        ignore = [line.strip() for line in b.dockerignore[kind] if line.startswith("!")]
        for src in dockerfile.copy_sources():
            if not any(
                src.rstrip("/") == i[1:].rstrip("/") or src.startswith(i[1:]) for i in ignore
            ):
                yield f"Dockerfile.{kind} copies {src}, which its .dockerignore leaves out"


def _http_probe(container: Dict[str, Any], kind: str) -> Tuple[Optional[str], Any]:
    probe = container.get(kind, {}).get("httpGet", {})
    return probe.get("path"), probe.get("port")


def check_ports_and_probes(b: Bundle) -> Iterator[str]:
    served = {r.path for r in b.routes} | {"/"}  # Rasa itself serves GET /
    expect = {
        "rasa": (RASA_PORT, "readinessProbe", READY_PATH, "livenessProbe", "/"),
        "actions": (ACTIONS_PORT, "readinessProbe", "/health", "livenessProbe", "/health"),
    }
    for component, (port, *probes) in expect.items():
        container = workload(b, component)["spec"]["template"]["spec"]["containers"][0]
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        if ports.get("http") != port:
            yield f"k8s {component} must serve http on {port}, not {ports.get('http')}"
        for kind, path in zip(probes[::2], probes[1::2]):
            got, probe_port = _http_probe(container, kind)
            if got != path or ports.get(probe_port, probe_port) != port:
                yield f"k8s {component} {kind} must GET {path} on {port}, not {got}"
        cmd = b.dockerfiles[component].cmd()
        if "--port" not in cmd or cmd[cmd.index("--port") + 1] != str(port):
            yield f"Dockerfile.{component} CMD must listen on --port {port}"
    if any(r.path.startswith("/webhooks/ops/") for r in b.routes):  # the ops channel exists
        for path in sorted({READY_PATH, METRICS_PATH} - served):
            yield f"{path} is in the manifests but the ops channel in connectors/ does not serve it"
    if "/health" not in open_paths_of_action_server():
        yield "actions/auth.py would refuse the action server's /health probe (OPEN_PATHS)"
    rasa_env = container_env(b, workload(b, "rasa")["spec"]["template"]["spec"]["containers"][0])
    url = urlsplit(str(rasa_env.get("ACTION_SERVER_URL")))
    services = {s["metadata"]["name"]: s for s in of_kind(b, "Service")}
    target = services.get(url.hostname or "", {}).get("spec", {})
    if target.get("selector", {}).get("app.kubernetes.io/component") != "actions" or (
        url.port not in [p["port"] for p in target.get("ports", [])] or url.port != ACTIONS_PORT
    ):
        yield f"k8s ACTION_SERVER_URL {url.geturl()} is not the action server's Service:5055"
    replicas = workload(b, "rasa")["spec"].get("replicas", 1)
    if replicas < 2:
        yield f"k8s rasa runs {replicas} replica(s); the service needs at least 2"
    rasa_labels = workload(b, "rasa")["spec"]["template"]["metadata"]["labels"]
    pdbs = [
        p
        for p in of_kind(b, "PodDisruptionBudget")
        if labels_match(p["spec"]["selector"].get("matchLabels", {}), rasa_labels)
    ]
    if not pdbs or not all(0 < p["spec"].get("minAvailable", 0) < replicas for p in pdbs):
        yield "k8s rasa needs a PodDisruptionBudget with 0 < minAvailable < replicas"


def check_sidecar_target(b: Bundle) -> Iterator[str]:
    dingtalk = next((p for p in webhook_paths(b) if "/dingtalk/" in p), None)
    env = container_env(b, workload(b, "sidecar")["spec"]["template"]["spec"]["containers"][0])
    k8s_url = urlsplit(str(env.get("BOT_WEBHOOK_URL")))
    rasa_services = [
        s["metadata"]["name"]
        for s in of_kind(b, "Service")
        if s["spec"]["selector"].get("app.kubernetes.io/component") == "rasa"
    ]
    if (k8s_url.hostname, k8s_url.port, k8s_url.path) not in [
        (name, RASA_PORT, dingtalk) for name in rasa_services
    ]:
        yield f"k8s sidecar BOT_WEBHOOK_URL {k8s_url.geturl()} is not the Rasa DingTalk route"
    compose_url = urlsplit(str(b.compose["services"]["sidecar"]["environment"]["BOT_WEBHOOK_URL"]))
    if compose_url.hostname != "lb" or compose_url.path != dingtalk:
        yield f"compose sidecar BOT_WEBHOOK_URL {compose_url.geturl()} is not lb + {dingtalk}"


def check_compose_topology(b: Bundle) -> Iterator[str]:
    services = b.compose["services"]
    rasa = [n for n, s in services.items() if str(s.get("image", "")).startswith("chatops-rasa")]
    if len(rasa) < 2:
        yield f"compose runs {len(rasa)} Rasa replica(s); the service needs at least 2"
    upstream = set(re.findall(r"^\s*server\s+([\w.-]+):(\d+)", b.nginx, re.M))
    if upstream != {(n, str(RASA_PORT)) for n in rasa}:
        yield f"nginx upstream {sorted(upstream)} != the compose Rasa replicas {sorted(rasa)}"
    locations = set(re.findall(r"location\s*=\s*(/\S+)\s*\{", b.nginx)) - {"/healthz"}
    if locations != webhook_paths(b):
        yield f"nginx serves {sorted(locations)}, not the webhook routes {sorted(webhook_paths(b))}"
    if re.search(r"location\s+(?!=)[^{]*\{[^}]*proxy_pass", b.nginx):
        yield "nginx proxies a prefix location: only the two exact webhook paths may reach Rasa"
    action_nets = set(services["actions"].get("networks", []))
    for name, svc in services.items():
        shared = action_nets & set(svc.get("networks", []))
        if name != "actions" and name not in rasa and shared - {"data"}:
            yield f"compose {name} shares network {sorted(shared)} with the action server"
    if not b.compose.get("networks", {}).get("data", {}).get("internal"):
        yield "compose network data (PostgreSQL, Redis) must be internal"
    for name in [*rasa, "actions"]:
        test = " ".join(services[name].get("healthcheck", {}).get("test", []))
        want = f":{RASA_PORT}{READY_PATH}" if name in rasa else f":{ACTIONS_PORT}/health"
        if want not in test:
            yield f"compose {name} healthcheck must GET {want}, not {test!r}"
        for port in services[name].get("ports", []):
            yield f"compose {name} publishes {port}; only the load balancer may"


def check_requirements(b: Bundle) -> Iterator[str]:
    docker = ROOT / "deploy/docker"
    locks = {
        "": pins(docker / "constraints.txt"),
        "-sidecar": pins(docker / "constraints-sidecar.txt"),
    }
    for req, lock in (("requirements.txt", ""), ("stream_sidecar/requirements.txt", "-sidecar")):
        for name, spec in pins(ROOT / req).items():
            if name not in locks[lock] or (spec.startswith("==") and locks[lock][name] != spec):
                yield (
                    f"{req} pins {name}{spec} but deploy/docker/constraints{lock}.txt has "
                    f"{locks[lock].get(name)}: run scripts/validate_deploy.sh --freeze"
                )
    wanted = set(pins(docker / "requirements-actions.txt"))
    for name in sorted(wanted - set(locks[""])):
        yield f"requirements-actions.txt names {name}, which constraints.txt does not pin"
    for module, where in sorted(imports_of(ROOT, ("actions", "chatops")).items()):
        requirement = IMPORT_TO_REQUIREMENT.get(module, normalise(module))
        if module not in ("actions", "chatops") and requirement not in wanted:
            yield f"{where} imports {module}: missing from the actions image (or first-party)"
    for module, where in sorted(
        imports_of(ROOT, ("connectors", "nlu_components", "chatops")).items()
    ):
        if module in ("actions", "simulators", "devstack", "scripts", "bench"):
            yield f"{where} imports {module}, which the Rasa image does not contain"


CHECKS: Dict[str, Check] = {
    "env var names in compose and k8s are ones the code reads": check_env_names,
    "each container gets the variables its process needs": check_required_env,
    "deploy/endpoints.yml: every ${VAR} is one Rasa expands (unquoted)": check_endpoints_expand,
    "secret/configMap references resolve; the Secret is a template": check_secret_references,
    "the Ingress exposes exactly the webhook routes of connectors/": check_ingress,
    "only Rasa pods may reach the action server (NetworkPolicy)": check_network_policy,
    "non-root, no privilege escalation, resources, no baked secrets": check_security,
    "ports, probes, replicas and PodDisruptionBudget match the code": check_ports_and_probes,
    "the sidecar posts to the Rasa DingTalk route": check_sidecar_target,
    "compose: 2 replicas behind nginx, networks, healthchecks": check_compose_topology,
    "image requirements match the tested venvs and the imports": check_requirements,
}


def pending(b: Bundle) -> List[str]:
    """Routes the manifests use that the code does not serve yet (being added elsewhere)."""
    served = {r.path for r in b.routes}
    notes = [
        f"{p} (no channel in credentials.yml serves it yet)"
        for p in (READY_PATH, METRICS_PATH)
        if p not in served
    ]
    code = "\n".join(p.read_text("utf-8") for p in (ROOT / "actions").rglob("*.py"))
    code += "\n".join(p.read_text("utf-8") for p in (ROOT / "chatops").rglob("*.py"))
    if str(ACTIONS_METRICS_PORT) not in code:
        notes.append(
            f"action server metrics on :{ACTIONS_METRICS_PORT} (not in actions/ or chatops/ yet)"
        )
    return notes


def main() -> int:
    if sys.argv[1:2] == ["--assemble"]:
        assemble(sys.argv[2], Path(sys.argv[3]))
        return 0
    bundle = load()
    failed = 0
    for title, check in CHECKS.items():
        problems = list(check(bundle))
        print(f"  {'FAIL' if problems else 'ok  '} {title}")
        for problem in problems:
            print(f"       - {problem}")
        failed += bool(problems)
    for note in pending(bundle):
        print(f"  n/a  route not checkable yet: {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
