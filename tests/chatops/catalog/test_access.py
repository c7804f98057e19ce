"""chatops/catalog/access.py: the access section, validated with its line numbers."""

from __future__ import annotations

import pytest

from chatops.catalog import CatalogError, dump_catalog, load_catalog, parse_catalog

BASE = """\
project: {key: mall}
registry: https://harbor.example.com/mall
codehost: gitlab
repo_namespace: mall
environments:
  dev: {workflow: mall-dev, build_job: build, deploy_job: deploy, branch: dev}
  prod: {workflow: mall-prod, build_job: build, deploy_job: deploy, branch: master}
services:
  order-service: {aliases: [订单服务]}
"""


def test_no_access_section_means_members_may_do_everything_without_approvals():
    policy = parse_catalog(BASE).access
    assert policy.principals("deploy", "prod") == ("members",)
    assert policy.principals("approve", "prod") == ()


def test_an_environment_falls_back_to_default_action_by_action():
    policy = parse_catalog(
        BASE + "access:\n  roles: {ops: [a1]}\n  default: {deploy: [members], cancel: [ops]}\n"
        "  environments:\n    prod: {deploy: [ops]}\n"
    ).access
    assert policy.principals("deploy", "prod") == ("ops",)
    assert policy.principals("cancel", "prod") == ("ops",)  # from default
    assert policy.principals("lock", "prod") == ()  # listed nowhere: refused


@pytest.mark.parametrize(
    "access, problem",
    [
        (
            "access:\n  environments:\n    stage: {deploy: [members]}\n",
            ":12: access names environment 'stage'",
        ),
        (
            "access:\n  default: {deploy: [admins]}\n",
            ":11: access.default.deploy names 'admins', which is not a role",
        ),
        ("access:\n  roles: {members: [x]}\n", ":11: role name 'members' is reserved"),
        (
            "access:\n  default: {depoly: [members]}\n",
            ":11: unknown field 'depoly' in access.default",
        ),
        (
            "access:\n  environments:\n    prod: {approval: {by: [members], required: 0}}\n",
            "approval.required must be a whole number of at least 1",
        ),
    ],
)
def test_a_broken_access_section_names_the_line(access, problem):
    with pytest.raises(CatalogError) as info:
        parse_catalog(BASE + access, "catalog.yml")
    assert problem in str(info.value)


def test_the_shipped_policy_survives_a_dump_and_reload(tmp_path):
    shipped = load_catalog()
    path = tmp_path / "catalog.yml"
    path.write_text(dump_catalog(shipped), encoding="utf-8")
    reloaded = load_catalog(path)
    assert reloaded.access == shipped.access
    assert reloaded.environments == shipped.environments
