"""chatops/catalog.py: the shipped catalog, lookups, plan(), and line-numbered validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatops.catalog import (
    DEFAULT_PATH,
    Catalog,
    CatalogError,
    Environment,
    Service,
    dump_catalog,
    load_catalog,
    parse_catalog,
)
from chatops.zadig.models import DeployRequest, ServiceBuild

SHIPPED_TEXT = DEFAULT_PATH.read_text(encoding="utf-8")
# The line-numbered validation tests break a fixed catalog, so that editing the shipped one
# (new fields, the access policy) does not move every expected line number.
LAYOUT_TEXT = (Path(__file__).parent / "layout_catalog.yml").read_text(encoding="utf-8")


@pytest.fixture
def catalog() -> Catalog:
    return load_catalog()


# -- the shipped catalog = the issue's content ----------------------------------------------------


def test_shipped_catalog_has_the_issues_project_settings(catalog: Catalog):
    assert catalog.path == DEFAULT_PATH
    assert (catalog.project_key, catalog.project_name) == ("mall", "商城")
    assert catalog.registry == "https://harbor.example.com/mall"
    assert catalog.codehost == "gitlab"
    assert catalog.repo_namespace == "mall"


def test_shipped_catalog_has_the_four_environments(catalog: Catalog):
    assert catalog.environments == {
        "dev": Environment(
            "dev",
            ("开发环境", "开发"),
            "mall-dev",
            "build",
            "deploy",
            "dev",
            rollback_workflow="mall-dev-rollback",
        ),
        "test": Environment(
            "test",
            ("测试环境", "测试", "qa", "QA"),
            "mall-test",
            "build",
            "deploy",
            "test",
            rollback_workflow="mall-test-rollback",
        ),
        "uat": Environment(
            "uat",
            ("预发环境", "预发", "预发布", "uat", "staging"),
            "mall-uat",
            "build",
            "deploy",
            "uat",
            rollback_workflow="mall-uat-rollback",
        ),
        "prod": Environment(
            "prod",
            ("生产环境", "生产", "线上", "正式环境", "prod", "production"),
            "mall-prod",
            "build",
            "deploy",
            "master",
            production=True,
            rollback_workflow="mall-prod-rollback",
        ),
    }
    assert list(catalog.environments) == ["dev", "test", "uat", "prod"]
    assert [e.label for e in catalog.environments.values()] == ["开发", "测试", "预发", "生产"]


def test_shipped_catalog_has_the_eight_services(catalog: Catalog):
    expected = {
        "user-service": "用户服务",
        "order-service": "订单服务",
        "payment-service": "支付服务",
        "inventory-service": "库存服务",
        "notification-service": "通知服务",
        "auth-service": "认证服务",
        "gateway": "网关",
        "web-frontend": "前端",
    }
    assert catalog.services == {
        name: Service(name, name, name, (alias,)) for name, alias in expected.items()
    }
    assert list(catalog.services) == list(expected)
    assert catalog.services["gateway"].label == "网关"


# -- lookups ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "said, key",
    [
        ("QA", "test"),
        ("qa", "test"),
        ("测试", "test"),
        ("测试环境", "test"),
        ("test", "test"),
        ("qa环境", "test"),
        ("QA 环境", "test"),
        ("线上", "prod"),
        ("线上环境", "prod"),
        ("production", "prod"),
        ("PRODUCTION", "prod"),
        ("Prod", "prod"),
        ("正式环境", "prod"),
        ("预发布", "uat"),
        ("预发", "uat"),
        ("Staging", "uat"),
        ("UAT", "uat"),
        ("开发", "dev"),
        (" dev ", "dev"),
    ],
)
def test_environment_by_key_or_alias_case_insensitively(catalog: Catalog, said: str, key: str):
    env = catalog.environment(said)
    assert env is not None and env.key == key


@pytest.mark.parametrize("said", ["", None, "环境", "测", "staging2", "订单服务"])
def test_unknown_environment_is_none(catalog: Catalog, said):
    assert catalog.environment(said) is None


@pytest.mark.parametrize(
    "said, name",
    [
        ("订单服务", "order-service"),
        ("order-service", "order-service"),
        ("ORDER-SERVICE", "order-service"),
        ("网关", "gateway"),
        ("前端", "web-frontend"),
        ("Gateway", "gateway"),
    ],
)
def test_service_by_name_or_alias(catalog: Catalog, said: str, name: str):
    svc = catalog.service(said)
    assert svc is not None and svc.name == name


@pytest.mark.parametrize("said", ["", None, "ordr-service", "线上", "支持服务"])
def test_unknown_service_is_none(catalog: Catalog, said):
    assert catalog.service(said) is None


def test_suggestions_for_a_misspelt_service(catalog: Catalog):
    suggestions = catalog.suggest_services("ordr-service")
    assert suggestions[0] == "order-service"
    assert len(suggestions) <= 3
    assert catalog.suggest_services("xyz") == []
    assert catalog.suggest_environments("tset") == ["test"]


def test_environment_of_workflow(catalog: Catalog):
    assert catalog.environment_of_workflow("mall-uat").key == "uat"
    assert catalog.environment_of_workflow("nope") is None


# -- plan ------------------------------------------------------------------------------------------


def test_plan_is_the_exact_deploy_request(catalog: Catalog):
    assert catalog.plan("订单服务", "线上") == DeployRequest(
        project_key="mall",
        workflow_key="mall-prod",
        build_job="build",
        deploy_job="deploy",
        registry="https://harbor.example.com/mall",
        codehost_name="gitlab",
        repo_namespace="mall",
        services=(ServiceBuild("order-service", "order-service", "order-service"),),
        branch="master",
        env_name="prod",
        production=True,
    )


def test_plan_uses_a_branch_override(catalog: Catalog):
    req = catalog.plan("user-service", "QA", branch="feature/login")
    assert req == DeployRequest(
        project_key="mall",
        workflow_key="mall-test",
        build_job="build",
        deploy_job="deploy",
        registry="https://harbor.example.com/mall",
        codehost_name="gitlab",
        repo_namespace="mall",
        services=(ServiceBuild("user-service", "user-service", "user-service"),),
        branch="feature/login",
        env_name="test",
        production=False,
    )
    assert catalog.plan("user-service", "QA").branch == "test"


def test_plan_uses_module_and_repo_when_they_differ():
    text = SHIPPED_TEXT.replace(
        "  gateway:\n    aliases: [网关]",
        "  gateway:\n    aliases: [网关]\n    module: gw\n    repo: edge",
    )
    req = parse_catalog(text).plan("网关", "dev")
    assert req.services == (ServiceBuild("gateway", "gw", "edge"),)


def test_plan_takes_several_services_once_each(catalog: Catalog):
    req = catalog.plan(["订单服务", "网关", "order-service"], "dev")
    assert req.service_names == ("order-service", "gateway")
    with pytest.raises(KeyError, match="no service"):
        catalog.plan([], "dev")


def test_plan_refuses_unknown_names(catalog: Catalog):
    with pytest.raises(KeyError, match="unknown service: ordr-service"):
        catalog.plan("ordr-service", "dev")
    with pytest.raises(KeyError, match="unknown environment: 火星"):
        catalog.plan("order-service", "火星")


# -- serialisation ---------------------------------------------------------------------------------


def test_dump_then_parse_gives_the_same_catalog(catalog: Catalog, tmp_path: Path):
    path = tmp_path / "catalog.yml"
    path.write_text(dump_catalog(catalog), encoding="utf-8")
    assert load_catalog(path) == catalog
    assert dump_catalog(catalog).startswith("# Deployment catalog")


# -- validation: file, line and problem ------------------------------------------------------------


def broken(old: str, new: str) -> str:
    assert old in LAYOUT_TEXT, old
    return LAYOUT_TEXT.replace(old, new, 1)


def error_of(text: str, tmp_path: Path) -> str:
    path = tmp_path / "catalog.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    return message[len(str(path)) :]


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(
            broken("    workflow: mall-test\n", ""),
            ":20: environment 'test' is missing 'workflow'",
            id="missing-workflow",
        ),
        pytest.param(
            broken("workflow: mall-test", "workflw: mall-test"),
            ":21: unknown field 'workflw' in environment 'test' (allowed: aliases, "
            "allow_skipping_zadig_approval, branch, build_job, deploy_job, production, rollback, "
            "workflow)",
            id="typo-workflw",
        ),
        pytest.param(
            broken("aliases: [支付服务]", "aliases: [支付服务, 订单服务]"),
            ":45: '订单服务' names both service order-service and service payment-service",
            id="alias-in-two-services",
        ),
        pytest.param(
            broken("aliases: [网关]", "aliases: [网关, 线上]"),
            ":53: '线上' names both environment prod and service gateway",
            id="alias-of-env-and-service",
        ),
        pytest.param(
            broken("aliases: [前端]", "aliases: [前端, Dev]"),
            ":55: 'Dev' names both environment dev and service web-frontend",
            id="alias-equals-env-key",
        ),
        pytest.param(
            broken("    branch: uat", "\tbranch: uat"),
            ":30: not valid YAML (found character '\\t' that cannot start any token)",
            id="tab",
        ),
        pytest.param(
            broken("    branch: uat", "      branch: uat"),
            ":30: not valid YAML (mapping values are not allowed here)",
            id="indent",
        ),
        pytest.param(
            broken("production: true", "production: yes-ish"),
            ":37: environment 'prod' production must be true or false",
            id="non-bool",
        ),
        pytest.param(
            LAYOUT_TEXT.split("services:")[0] + "services: {}\n",
            ":39: services must list at least one service",
            id="empty-services",
        ),
        pytest.param(
            broken("  gateway:", "  Gateway:"),
            ":52: service name 'Gateway' must be lower-case letters, digits and '-'",
            id="uppercase-service",
        ),
        pytest.param(
            broken("  uat:", "  UAT:"),
            ":25: environment key 'UAT' must be lower-case letters, digits and '-'",
            id="uppercase-env",
        ),
        pytest.param(
            LAYOUT_TEXT + "  gateway:\n    aliases: []\n",
            ":56: duplicate key 'gateway' in services",
            id="duplicate-service",
        ),
        pytest.param(
            broken("aliases: [前端]", "aliases: [前端, '']"),
            ":55: an entry of service 'web-frontend' aliases must be a non-empty string",
            id="empty-alias",
        ),
        pytest.param(
            broken("  key: mall\n", ""), ":6: project is missing 'key'", id="missing-project-key"
        ),
        pytest.param(
            broken("registry: https://harbor.example.com/mall\n", "registry:\n"),
            ":8: registry must be a non-empty string",
            id="empty-registry",
        ),
    ],
)
def test_broken_catalog_names_file_line_and_problem(text: str, expected: str, tmp_path: Path):
    assert error_of(text, tmp_path) == expected


def test_empty_file_and_missing_file(tmp_path: Path):
    path = tmp_path / "catalog.yml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"catalog\.yml: the catalog is empty$"):
        load_catalog(path)
    with pytest.raises(CatalogError, match=r"nope\.yml: cannot read the catalog"):
        load_catalog(tmp_path / "nope.yml")


def test_parse_names_the_source_it_is_given():
    with pytest.raises(CatalogError) as info:
        parse_catalog(broken("production: true", "production: maybe"), "edited.yml")
    assert str(info.value) == "edited.yml:37: environment 'prod' production must be true or false"


def test_same_alias_twice_in_one_environment_is_fine():
    # "qa" and "QA" both name test: not a conflict.
    catalog = parse_catalog(SHIPPED_TEXT)
    assert catalog.environment("Qa").key == "test"
