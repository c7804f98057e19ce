"""scripts/refresh_catalog.py: the pure merge, and the command against a MockTransport Zadig."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx
import pytest

from chatops.catalog import DEFAULT_PATH, Environment, Service, dump_catalog, load_catalog
from chatops.settings import Settings
from chatops.zadig.models import EnvironmentInfo, RegistryInfo, ServiceInfo, WorkflowDetail
from scripts.refresh_catalog import Discovered, main, merge
from tests.fakes.zadig import FakeZadig

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://zadig.example.com"
TOKEN = "refresh-secret-token-0123456789"
SHIPPED = load_catalog(DEFAULT_PATH)
SERVICES = list(SHIPPED.services)


# -- Zadig's answers, in the shapes of docs/zadig-openapi.md §4 / §3.7 ------------------------


def env_json(key: str, alias: str = "", production: bool = False) -> Dict[str, Any]:
    out = {
        "env_key": key,
        "cluster_id": "c1",
        "namespace": f"mall-env-{key}",
        "production": production,
        "registry_id": "r1",
        "status": "running",
        "update_by": "admin",
        "update_time": 1700000000,
    }
    if alias:
        out["envName"] = alias
    return out


def workflow_json(
    key: str, env: str, build: str = "build", deploy: str = "deploy"
) -> Dict[str, Any]:
    return {
        "workflow_key": key,
        "workflow_name": key,
        "project_key": "mall",
        "description": "",
        "params": [],
        "stages": [
            {
                "name": "构建",
                "parallel": True,
                "jobs": [
                    {
                        "name": build,
                        "type": "zadig-build",
                        "skipped": False,
                        "spec": {"docker_registry_id": "r1", "service_and_builds": []},
                    }
                ],
            },
            {
                "name": "部署",
                "parallel": False,
                "jobs": [
                    {
                        "name": deploy,
                        "type": "zadig-deploy",
                        "skipped": False,
                        "spec": {"env": env, "source": "fromjob", "job_name": build},
                    }
                ],
            },
        ],
        "notify_ctls": [],
        "concurrency_limit": 1,
    }


def service_json(name: str, *modules: str) -> Dict[str, Any]:
    return {
        "service_name": name,
        "source": "spock",
        "type": "k8s",
        "containers": [
            {"name": m, "image": f"harbor.example.com/mall/{m}:1", "image_name": m}
            for m in (modules or (name,))
        ],
    }


REGISTRY = {
    "registry_id": "r1",
    "address": "https://harbor.example.com",
    "provider": "harbor",
    "region": "",
    "namespace": "mall",
    "is_default": True,
}


def world(**changes: Any) -> Dict[str, Any]:
    """What a Zadig matching the shipped catalog answers (prod is not in the non-prod list)."""
    data: Dict[str, Any] = {
        "environments": [env_json(k) for k in ("dev", "test", "uat")],
        "workflows": [workflow_json(f"mall-{k}", k) for k in ("dev", "test", "uat", "prod")],
        "services": [service_json(n) for n in SERVICES],
        "registries": [REGISTRY],
    }
    data.update(changes)
    return data


def discovered(data: Dict[str, Any]) -> Discovered:
    return Discovered(
        environments=tuple(EnvironmentInfo.from_api(e) for e in data["environments"]),
        workflows=tuple(WorkflowDetail.from_api(w) for w in data["workflows"]),
        services=tuple(ServiceInfo.from_api(s) for s in data["services"]),
        registries=tuple(RegistryInfo.from_api(r) for r in data["registries"]),
    )


def lines_with(report: List[str], text: str) -> List[str]:
    return [line for line in report if text in line]


# -- merge ---------------------------------------------------------------------------------------


def test_merge_of_an_unchanged_zadig_keeps_the_catalog_exactly():
    merged, report = merge(SHIPPED, discovered(world()))

    assert merged == SHIPPED
    assert merged.environments["test"].aliases == ("测试环境", "测试", "qa", "QA")
    assert merged.environments["prod"].production is True
    assert merged.environments["prod"].branch == "master"
    # prod is only listed by the license-gated endpoint: kept, and the report says why.
    assert report == [
        "kept environment 'prod': production environments are listed by a "
        "license-gated endpoint, so Zadig was not asked about it"
    ]


def test_merge_adds_new_environment_and_service_with_empty_aliases():
    data = world()
    data["environments"].append(env_json("sit", alias="集成测试"))
    data["workflows"].append(workflow_json("mall-sit", "sit"))
    data["services"].append(service_json("points-service", "points"))

    merged, report = merge(SHIPPED, discovered(data))

    assert merged.environments["sit"] == Environment(
        key="sit",
        aliases=(),
        workflow="mall-sit",
        build_job="build",
        deploy_job="deploy",
        branch="sit",
        production=False,
    )
    assert merged.services["points-service"] == Service(
        name="points-service", module="points", repo="points-service", aliases=()
    )
    # Everything people wrote is still there.
    for key, env in SHIPPED.environments.items():
        assert merged.environments[key] == env
    for name, svc in SHIPPED.services.items():
        assert merged.services[name] == svc
    assert list(merged.environments)[-1] == "sit"
    assert lines_with(report, "added environment 'sit'") == [
        "added environment 'sit' (workflow mall-sit, jobs build/deploy, branch sit, Zadig calls "
        "it '集成测试'); check its branch"
    ]
    assert lines_with(report, "added service 'points-service'") == [
        "added service 'points-service' (module points, repo points-service); check its repo"
    ]
    assert report[-1] == (
        "add Chinese aliases to "
        + str(DEFAULT_PATH)
        + " for: environment sit, service points-service"
    )


def test_merge_reports_vanished_services_and_environments_but_keeps_them():
    data = world(
        environments=[env_json("dev"), env_json("test")],
        services=[service_json(n) for n in SERVICES if n != "payment-service"],
    )

    merged, report = merge(SHIPPED, discovered(data))

    assert merged.services["payment-service"] == SHIPPED.services["payment-service"]
    assert merged.environments["uat"] == SHIPPED.environments["uat"]
    assert merged == SHIPPED
    assert (
        "warning: service 'payment-service' is no longer listed by Zadig; kept "
        "(delete it by hand if it is really gone)"
    ) in report
    assert (
        "warning: environment 'uat' is no longer listed by Zadig; kept "
        "(delete it by hand if it is really gone)"
    ) in report
    assert not lines_with(report, "add Chinese aliases")


def test_merge_maps_each_environment_to_the_workflow_that_deploys_to_it():
    workflows = [
        workflow_json("mall-dev", ""),  # env chosen at run time: no longer dev's
        workflow_json("mall-dev-v2", "dev", build="build-all", deploy="deploy-k8s"),
        workflow_json("mall-test", "test"),
        workflow_json("hotfix-test", "test"),  # also deploys to test: the current wins
        workflow_json("mall-uat", "uat", deploy="deploy-uat"),
        workflow_json("mall-prod", "prod"),
    ]

    merged, report = merge(SHIPPED, discovered(world(workflows=workflows)))

    dev = merged.environments["dev"]
    assert (dev.workflow, dev.build_job, dev.deploy_job) == (
        "mall-dev-v2",
        "build-all",
        "deploy-k8s",
    )
    assert dev.aliases == SHIPPED.environments["dev"].aliases and dev.branch == "dev"
    assert merged.environments["test"] == SHIPPED.environments["test"]
    assert merged.environments["uat"].deploy_job == "deploy-uat"
    assert merged.environments["prod"] == SHIPPED.environments["prod"]
    assert (
        "environment 'dev': workflow mall-dev (build/deploy) -> mall-dev-v2 (build-all/deploy-k8s)"
    ) in report
    assert (
        "environment 'uat': workflow mall-uat (build/deploy) -> mall-uat (build/deploy-uat)"
    ) in report
    assert "note: workflows hotfix-test, mall-test all deploy to 'test'; using mall-test" in report


def test_among_several_workflows_the_conventional_name_then_the_first_key_wins():
    data = world()
    data["environments"] += [env_json("sit"), env_json("perf")]
    data["workflows"] += [
        workflow_json("a-sit", "sit"),
        workflow_json("mall-sit", "sit"),
        workflow_json("z-sit", "sit"),
        workflow_json("perf-b", "perf"),
        workflow_json("perf-a", "perf"),
    ]

    merged, report = merge(SHIPPED, discovered(data))

    assert merged.environments["sit"].workflow == "mall-sit"
    assert merged.environments["perf"].workflow == "perf-a"
    assert "note: workflows a-sit, mall-sit, z-sit all deploy to 'sit'; using mall-sit" in report


def test_merge_keeps_the_existing_mapping_when_no_workflow_deploys_to_the_environment():
    workflows = [
        workflow_json("mall-dev", ""),
        workflow_json("mall-test", "test"),
        workflow_json("mall-uat", "uat"),
    ]  # mall-prod is gone

    merged, report = merge(SHIPPED, discovered(world(workflows=workflows)))

    assert merged.environments["dev"] == SHIPPED.environments["dev"]
    assert merged.environments["prod"] == SHIPPED.environments["prod"]
    assert (
        "warning: Zadig has no custom workflow 'mall-prod' (environment 'prod'); kept the mapping"
    ) in report


def test_new_environment_without_a_workflow_gets_project_dash_env():
    data = world()
    data["environments"].append(env_json("perf"))

    merged, report = merge(SHIPPED, discovered(data))

    assert merged.environments["perf"] == Environment(
        key="perf",
        aliases=(),
        workflow="mall-perf",
        build_job="build",
        deploy_job="deploy",
        branch="perf",
    )
    assert (
        "warning: no custom workflow deploys to 'perf'; assumed 'mall-perf' with jobs build/deploy"
    ) in report


def test_new_environment_takes_its_job_names_from_the_project_dash_env_workflow():
    data = world()
    data["environments"].append(env_json("perf"))
    # Deploy env left to run time, but named by the convention: use its real job names.
    data["workflows"].append(workflow_json("mall-perf", "", build="compile", deploy="rollout"))

    merged, _ = merge(SHIPPED, discovered(data))

    perf = merged.environments["perf"]
    assert (perf.workflow, perf.build_job, perf.deploy_job) == ("mall-perf", "compile", "rollout")


def test_merge_updates_the_registry_to_zadigs_default():
    registries = [
        dict(REGISTRY, is_default=False),
        dict(
            REGISTRY,
            registry_id="r2",
            address="https://hub.example.cn",
            namespace="shop",
            is_default=True,
        ),
    ]

    merged, report = merge(SHIPPED, discovered(world(registries=registries)))

    assert merged.registry == "https://hub.example.cn/shop"
    assert "registry: https://harbor.example.com/mall -> https://hub.example.cn/shop" in report


def test_merge_keeps_the_registry_when_zadig_has_no_default():
    registries = [
        dict(REGISTRY, registry_id="r2", address="https://a.example.com", is_default=False),
        dict(REGISTRY, registry_id="r3", address="https://b.example.com", is_default=False),
    ]

    merged, report = merge(SHIPPED, discovered(world(registries=registries)))

    assert merged.registry == SHIPPED.registry
    assert (
        "warning: Zadig has no default image registry; keeping https://harbor.example.com/mall"
    ) in report


def test_merge_follows_a_renamed_service_module():
    data = world(
        services=[
            service_json(n) if n != "gateway" else service_json(n, "gw", "sidecar")
            for n in SERVICES
        ]
    )

    merged, report = merge(SHIPPED, discovered(data))

    assert merged.services["gateway"] == Service("gateway", "gw", "gateway", ("网关",))
    assert "service 'gateway': module gateway -> gw" in report


def test_merge_skips_names_the_catalog_cannot_hold():
    data = world()
    data["services"] += [
        service_json("Order_Service"),  # not a catalog name
        service_json("qa"),
    ]  # already an alias of the test environment
    data["environments"].append(env_json("用户服务"))

    merged, report = merge(SHIPPED, discovered(data))

    assert merged == SHIPPED
    assert (
        "warning: skipped Zadig service 'Order_Service': catalog names must be lower-case "
        "letters, digits and '-'"
    ) in report
    assert (
        "warning: skipped Zadig service 'qa': the catalog already uses that name for "
        "environment test"
    ) in report
    assert lines_with(report, "skipped Zadig environment '用户服务'")


def test_merged_catalog_dumps_to_a_loadable_file(tmp_path: Path):
    data = world()
    data["environments"].append(env_json("sit"))
    data["services"].append(service_json("points-service", "points"))
    merged, _ = merge(SHIPPED, discovered(data))

    path = tmp_path / "catalog.yml"
    path.write_text(dump_catalog(merged), encoding="utf-8")

    assert load_catalog(path) == merged


# -- the command against a fake Zadig --------------------------------------------------------------


def zadig_with(data: Dict[str, Any], fail: Optional[Dict[str, httpx.Response]] = None):
    """The shared fake Zadig answering with ``data``; ``fail`` maps paths to their answer."""
    fake = FakeZadig(token=TOKEN)
    fake.environments = data["environments"]
    # Discovery skips legacy product workflows: Zadig lists them with type "product".
    fake.workflows = [*data["workflows"], {"workflow_key": "legacy", "type": "product"}]
    fake.services = data["services"]
    fake.registries = data["registries"]
    for path, reply in (fail or {}).items():
        fake.fail("*", path, reply)
    return fake


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.yml"
    path.write_bytes(DEFAULT_PATH.read_bytes())
    return path


def settings(tmp_path: Path) -> Settings:
    return Settings(
        zadig_base_url=BASE,
        zadig_token=TOKEN,
        zadig_web_url=BASE,
        demo=False,
        catalog_path=tmp_path / "not-this-one.yml",
    )


def run(fake: FakeZadig, tmp_path: Path, *argv: str) -> int:
    return main(
        list(argv),
        settings=settings(tmp_path),
        transport=fake.transport,
        retry_delay=0,  # retried reads do not pause: the tests do not wait for the back-off
    )


def test_command_writes_a_refreshed_catalog_that_loads(catalog_file: Path, tmp_path: Path, capsys):
    data = world()
    data["environments"].append(env_json("sit"))
    data["workflows"].append(workflow_json("mall-sit", "sit"))
    data["services"].append(service_json("points-service", "points"))
    fake = zadig_with(data)

    assert run(fake, tmp_path, "--catalog", str(catalog_file)) == 0

    reloaded = load_catalog(catalog_file)
    assert reloaded.services["points-service"] == Service(
        "points-service", "points", "points-service", ()
    )
    assert reloaded.environments["sit"].workflow == "mall-sit"
    for name, svc in SHIPPED.services.items():
        assert reloaded.services[name] == svc
    for key, env in SHIPPED.environments.items():
        assert reloaded.environments[key] == env
    assert (
        reloaded.project_key,
        reloaded.project_name,
        reloaded.codehost,
        reloaded.repo_namespace,
        reloaded.registry,
    ) == ("mall", "商城", "gitlab", "mall", "https://harbor.example.com/mall")
    out = capsys.readouterr().out
    assert (
        f"add Chinese aliases to {catalog_file} for: environment sit, service points-service"
    ) in out
    assert f"wrote {catalog_file}" in out
    # Exactly the discovery calls, each for the catalog's project; the legacy workflow is not read.
    assert sorted(set(fake.paths)) == sorted(
        {
            "/openapi/environments",
            "/openapi/workflows",
            "/openapi/service/yaml/services",
            "/openapi/system/registry",
            *(
                f"/openapi/workflows/custom/{k}/detail"
                for k in ("mall-dev", "mall-test", "mall-uat", "mall-prod", "mall-sit")
            ),
        }
    )
    assert all(r.method == "GET" for r in fake.requests)
    assert "/openapi/workflows/custom/legacy/detail" not in fake.paths
    assert not list(tmp_path.glob(".catalog.yml.*"))  # no temporary file left behind


def test_dry_run_prints_a_diff_and_writes_nothing(catalog_file: Path, tmp_path: Path, capsys):
    before = catalog_file.read_bytes()
    data = world()
    data["services"].append(service_json("points-service", "points"))

    assert run(zadig_with(data), tmp_path, "--catalog", str(catalog_file), "--dry-run") == 0

    assert catalog_file.read_bytes() == before
    out = capsys.readouterr().out
    assert "+  points-service:\n" in out
    assert "+    module: points\n" in out
    assert "-  user-service" not in out  # only real changes, not the reformatting
    assert "dry run: nothing written." in out


def test_up_to_date_catalog_is_not_rewritten(catalog_file: Path, tmp_path: Path, capsys):
    before = catalog_file.read_bytes()

    assert run(zadig_with(world()), tmp_path, "--catalog", str(catalog_file)) == 0

    assert catalog_file.read_bytes() == before  # comments and layout kept
    assert "is up to date with Zadig; nothing to write." in capsys.readouterr().out


def test_zadig_401_exits_1_and_leaves_the_catalog_untouched(
    catalog_file: Path, tmp_path: Path, capsys
):
    before = catalog_file.read_bytes()
    fake = zadig_with(world(), fail={"/openapi/environments": httpx.Response(401)})

    assert run(fake, tmp_path, "--catalog", str(catalog_file)) == 1

    assert catalog_file.read_bytes() == before
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: cannot read project 'mall' from Zadig; {catalog_file} is unchanged.\n"
        "Zadig rejected the API token (HTTP 401). Check ZADIG_TOKEN (and that its user can see "
        "the project).\n"
    )
    assert TOKEN not in captured.out + captured.err


def test_zadig_failing_halfway_leaves_the_catalog_untouched(
    catalog_file: Path, tmp_path: Path, capsys
):
    before = catalog_file.read_bytes()
    data = world()
    data["services"].append(service_json("points-service"))
    broken = httpx.Response(
        400,
        json={
            "type": "error",
            "message": "查询workflow失败",
            "code": 6542,
            "description": "boom",
            "extra": {},
        },
    )
    fake = zadig_with(data, fail={"/openapi/workflows/custom/mall-uat/detail": broken})

    assert run(fake, tmp_path, "--catalog", str(catalog_file)) == 1

    assert catalog_file.read_bytes() == before
    assert "Zadig error 6542 查询workflow失败: boom" in capsys.readouterr().err


def test_a_project_zadig_knows_nothing_about_is_an_error(
    catalog_file: Path, tmp_path: Path, capsys
):
    # What a wrong project key or a token whose user cannot see the project looks like.
    before = catalog_file.read_bytes()
    fake = zadig_with(world(environments=[], workflows=[], services=[]))

    assert run(fake, tmp_path, "--catalog", str(catalog_file)) == 1

    assert catalog_file.read_bytes() == before
    assert capsys.readouterr().err == (
        f"error: Zadig lists no environments, workflows or services for project 'mall'; "
        f"{catalog_file} is unchanged. Is the project key right, and can the token's user see "
        "the project?\n"
    )


def test_broken_catalog_is_reported_before_asking_zadig(tmp_path: Path, capsys):
    path = tmp_path / "catalog.yml"
    path.write_text(
        DEFAULT_PATH.read_text(encoding="utf-8").replace(
            "workflow: mall-test", "workflw: mall-test"
        ),
        encoding="utf-8",
    )
    fake = zadig_with(world())

    assert run(fake, tmp_path, "--catalog", str(path)) == 1

    assert fake.requests == []
    assert f"error: {path}:21: unknown field 'workflw'" in capsys.readouterr().err


def test_module_entry_point_reports_an_unreachable_zadig(catalog_file: Path):
    before = catalog_file.read_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZADIG_", "DINGTALK_"))}
    env.update(
        ZADIG_BASE_URL="http://127.0.0.1:9",
        ZADIG_TOKEN=TOKEN,
        ZADIG_TIMEOUT="2",
        PYTHONPATH=str(ROOT),
    )

    proc = subprocess.run(
        [sys.executable, "-m", "scripts.refresh_catalog", "--catalog", str(catalog_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert proc.returncode == 1, proc.stderr
    assert "cannot reach Zadig for GET /openapi/environments" in proc.stderr
    assert "Is Zadig at http://127.0.0.1:9 up?" in proc.stderr
    assert TOKEN not in proc.stderr + proc.stdout
    assert catalog_file.read_bytes() == before
