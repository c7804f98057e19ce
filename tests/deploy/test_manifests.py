"""deploy/: the validation script passes, and each rule it enforces fails on a broken copy.

The script (scripts/validate_deploy.sh) runs hadolint, kubernetes-validate, check-jsonschema and
crossplane from its own tools venv, then deploy/checks/deploy_checks.py. The tests below change
an in-memory copy of the parsed files and expect that check to report the change, so a check
that stopped looking would fail here.
"""

from __future__ import annotations

import copy
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "checks"))
checks = importlib.import_module("deploy_checks")
facts = importlib.import_module("deploy_facts")

DINGTALK = "/webhooks/dingtalk/webhook"
ZADIG = "/webhooks/zadig/webhook"


@pytest.fixture
def bundle() -> Any:
    return facts.load()


def problems(check: Any, bundle: Any) -> List[str]:
    return list(check(bundle))


def doc(bundle: Any, kind: str, component: str = "") -> Dict[str, Any]:
    for _, d in bundle.k8s:
        labels = d.get("metadata", {}).get("labels", {})
        if d["kind"] == kind and labels.get("app.kubernetes.io/component", "") == component:
            return d
    raise LookupError(kind, component)


def container(bundle: Any, component: str) -> Dict[str, Any]:
    return doc(bundle, "Deployment", component)["spec"]["template"]["spec"]["containers"][0]


def _venv_works() -> bool:
    probe = subprocess.run(
        ["python3", "-c", "import venv, ensurepip"], capture_output=True, check=False
    )
    return probe.returncode == 0


def test_validate_deploy_script_passes() -> None:
    if not _venv_works():
        pytest.skip("python3 cannot create venvs here (no venv/ensurepip): the tools need one")
    run = subprocess.run(
        ["bash", "scripts/validate_deploy.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FAIL" not in run.stdout
    validated = [line for line in run.stdout.splitlines() if line.startswith("  ok    ")]
    for tool in (
        "hadolint",
        "kubernetes-validate --strict",
        "Compose Specification",
        "docker compose",
        "crossplane",
        "image's files",
    ):
        assert any(tool in line for line in validated), tool
    assert "not validated:" in run.stdout and "images not built" in run.stdout


def test_the_files_pass_every_check(bundle: Any) -> None:
    for title, check in checks.CHECKS.items():
        assert problems(check, bundle) == [], title


def test_routes_are_read_from_connectors(bundle: Any) -> None:
    assert checks.webhook_paths(bundle) == {DINGTALK, ZADIG}


def test_a_route_renamed_in_the_code_breaks_the_ingress_and_nginx(bundle: Any) -> None:
    bundle.routes = [r for r in bundle.routes if r.path != ZADIG] + [
        facts.Route("/webhooks/zadig/notify", ("POST",), "connectors.zadig.ZadigWebhookInput")
    ]
    assert any("Ingress paths" in p for p in problems(checks.check_ingress, bundle))
    assert any("nginx serves" in p for p in problems(checks.check_compose_topology, bundle))


@pytest.mark.parametrize(
    "path, path_type",
    [("/", "Prefix"), ("/webhooks/ops/ready", "Exact"), ("/webhooks", "Prefix")],
)
def test_an_ingress_exposing_anything_else_fails(bundle: Any, path: str, path_type: str) -> None:
    paths = doc(bundle, "Ingress")["spec"]["rules"][0]["http"]["paths"]
    paths.append({**copy.deepcopy(paths[0]), "path": path, "pathType": path_type})
    assert problems(checks.check_ingress, bundle)


def test_a_prefix_webhook_path_or_default_backend_fails(bundle: Any) -> None:
    ingress = doc(bundle, "Ingress")
    ingress["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "Prefix"
    assert any("Exact" in p for p in problems(checks.check_ingress, bundle))
    ingress["spec"]["defaultBackend"] = {"service": {"name": "chatops-rasa", "port": {"number": 1}}}
    assert any("defaultBackend" in p for p in problems(checks.check_ingress, bundle))


def _actions_rule(bundle: Any) -> Dict[str, Any]:
    policy = doc(bundle, "NetworkPolicy", "actions")
    return next(
        r for r in policy["spec"]["ingress"] if {"port": 5055} == {"port": r["ports"][0]["port"]}
    )


@pytest.mark.parametrize(
    "peer",
    [
        {"namespaceSelector": {}},
        {"ipBlock": {"cidr": "0.0.0.0/0"}},
        {"podSelector": {}},
        {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "sidecar"}}},
    ],
)
def test_the_action_server_open_to_anything_but_rasa_fails(bundle: Any, peer: Any) -> None:
    _actions_rule(bundle)["from"].append(peer)
    assert problems(checks.check_network_policy, bundle)


def test_an_action_server_rule_without_peers_or_ports_fails(bundle: Any) -> None:
    rule = _actions_rule(bundle)
    del rule["from"]
    assert any("every pod" in p for p in problems(checks.check_network_policy, bundle))
    rule["from"] = [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "rasa"}}}]
    del rule["ports"]
    assert any("every port" in p for p in problems(checks.check_network_policy, bundle))


def test_no_network_policy_for_the_action_server_fails(bundle: Any) -> None:
    bundle.k8s = [(f, d) for f, d in bundle.k8s if d["kind"] != "NetworkPolicy"]
    assert problems(checks.check_network_policy, bundle) == [
        "no NetworkPolicy selects the action server's pods"
    ]


def _pod_contexts(bundle: Any) -> Iterator[Dict[str, Any]]:
    for component in ("rasa", "actions", "sidecar"):
        yield doc(bundle, "Deployment", component)["spec"]["template"]["spec"]["securityContext"]


def test_a_pod_that_may_run_as_root_fails(bundle: Any) -> None:
    for context in _pod_contexts(bundle):
        context["runAsUser"] = 0
    found = problems(checks.check_security, bundle)
    assert {p.split("/")[0] for p in found if "root" in p} == {
        "k8s rasa",
        "k8s actions",
        "k8s sidecar",
    }


def test_a_pod_without_run_as_non_root_fails(bundle: Any) -> None:
    del doc(bundle, "Deployment", "actions")["spec"]["template"]["spec"]["securityContext"][
        "runAsNonRoot"
    ]
    assert problems(checks.check_security, bundle) == ["k8s actions/actions may run as root"]


@pytest.mark.parametrize("kind", ["rasa", "actions", "sidecar"])
def test_an_image_that_runs_as_root_fails(bundle: Any, kind: str) -> None:
    bundle.dockerfiles[kind].instructions.append(("USER", "root"))
    assert any("runs as root" in p for p in problems(checks.check_security, bundle))


def test_a_secret_baked_into_an_image_fails(bundle: Any) -> None:
    bundle.dockerfiles["rasa"].instructions.append(("ENV", "ZADIG_TOKEN=abc123"))
    assert any("bakes a secret" in p for p in problems(checks.check_security, bundle))


def test_a_copy_the_dockerignore_leaves_out_fails(bundle: Any) -> None:
    bundle.dockerignore["actions"].remove("!chatops/")
    assert any("copies chatops/" in p for p in problems(checks.check_security, bundle))


@pytest.mark.parametrize("component", ["rasa", "actions", "sidecar"])
def test_an_env_var_no_code_reads_fails_in_k8s(bundle: Any, component: str) -> None:
    container(bundle, component).setdefault("env", []).append(
        {"name": "ZADIG_API_TOKEN", "value": "x"}
    )
    assert problems(checks.check_env_names, bundle) == [
        f"k8s {component}: ZADIG_API_TOKEN is read by no code (chatops/settings.py ...)"
    ]


def test_an_env_var_no_code_reads_fails_in_compose(bundle: Any) -> None:
    bundle.compose["services"]["actions"]["environment"]["CHATOPS_DATABASE"] = "x"
    assert any("CHATOPS_DATABASE" in p for p in problems(checks.check_env_names, bundle))


def test_env_names_come_from_the_code(bundle: Any) -> None:
    assert bundle.code_env["CHATOPS_DB_URL"] == "chatops/settings.py"
    assert bundle.code_env["BOT_WEBHOOK_URL"] == "stream_sidecar/sidecar.py"
    assert bundle.code_env["REDIS_PASSWORD"] == "deploy/endpoints.yml"
    bundle.code_env.pop("ZADIG_VERSION")
    assert any("ZADIG_VERSION" in p for p in problems(checks.check_env_names, bundle))


@pytest.mark.parametrize(
    "component, name",
    [("actions", "CHATOPS_DB_URL"), ("rasa", "REDIS_HOST"), ("sidecar", "BOT_WEBHOOK_URL")],
)
def test_a_missing_required_variable_fails(bundle: Any, component: str, name: str) -> None:
    deployment = doc(bundle, "Deployment", component)
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        c["env"] = [e for e in c.get("env", []) if e["name"] != name]
    for cm in (d for _, d in bundle.k8s if d["kind"] == "ConfigMap"):
        cm["data"].pop(name, None)
    assert f"k8s {component} lacks {name}" in problems(checks.check_required_env, bundle)


def test_a_quoted_variable_in_endpoints_fails(bundle: Any) -> None:
    # Rasa 3.6 leaves "${VAR}" in quotes unexpanded: the action server would get the literal.
    bundle.endpoints = bundle.endpoints.replace(
        "token: ${ACTION_SERVER_TOKEN}", 'token: "${ACTION_SERVER_TOKEN}"'
    )
    found = problems(checks.check_endpoints_expand, bundle)
    assert len(found) == 1 and "ACTION_SERVER_TOKEN" in found[0]


def test_the_action_server_on_loopback_fails(bundle: Any) -> None:
    env = container(bundle, "actions")["env"]
    next(e for e in env if e["name"] == "SANIC_HOST")["value"] = "127.0.0.1"
    assert any("SANIC_HOST" in p for p in problems(checks.check_required_env, bundle))


def test_a_secret_template_with_a_real_value_fails(bundle: Any) -> None:
    doc(bundle, "Secret")["stringData"]["ZADIG_TOKEN"] = "eyJhbGciOi.real"
    assert problems(checks.check_secret_references, bundle)


def test_wrong_probe_port_or_replicas_fail(bundle: Any) -> None:
    rasa = doc(bundle, "Deployment", "rasa")
    rasa["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] = "/"
    rasa["spec"]["replicas"] = 1
    found = problems(checks.check_ports_and_probes, bundle)
    assert any("readinessProbe" in p for p in found)
    assert any("replica" in p for p in found)
    assert any("PodDisruptionBudget" in p for p in found)


def test_compose_exposing_the_action_server_fails(bundle: Any) -> None:
    services = bundle.compose["services"]
    services["lb"]["networks"].append("actions")
    services["actions"]["ports"] = ["5055:5055"]
    found = problems(checks.check_compose_topology, bundle)
    assert any("compose lb shares network" in p for p in found)
    assert any("compose actions publishes" in p for p in found)


def test_compose_with_one_rasa_replica_fails(bundle: Any) -> None:
    del bundle.compose["services"]["rasa-2"]
    found = problems(checks.check_compose_topology, bundle)
    assert any("1 Rasa replica" in p for p in found)
    assert any("nginx upstream" in p for p in found)
