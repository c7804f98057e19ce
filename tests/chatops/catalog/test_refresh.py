"""chatops/catalog/refresh.py: merging what Zadig lists into the catalog (pure)."""

from __future__ import annotations

from pathlib import Path

from chatops.catalog import DEFAULT_PATH, Environment, Service, dump_catalog, load_catalog
from chatops.catalog.refresh import merge
from tests.fakes.discovery import (
    REGISTRY,
    SERVICES,
    SHIPPED,
    discovered,
    env_json,
    lines_with,
    service_json,
    workflow_json,
    world,
)

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
