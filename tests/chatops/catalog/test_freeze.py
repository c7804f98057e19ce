"""chatops/catalog/freeze.py: weekly and dated freeze windows in the catalog's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from chatops.catalog import CatalogError, parse_catalog
from chatops.catalog.freeze import active_freeze

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE = """\
project: {key: mall}
registry: https://harbor.example.com/mall
codehost: gitlab
repo_namespace: mall
environments:
  uat: {workflow: mall-uat, build_job: build, deploy_job: deploy, branch: uat}
  prod: {workflow: mall-prod, build_job: build, deploy_job: deploy, branch: master}
services:
  order-service: {}
freeze_windows:
  - name: 周末封板
    environments: [prod]
    weekly: {from: "fri 20:00", to: "mon 08:00"}
  - name: 双十一大促
    environments: [prod, uat]
    from: "2026-11-10 00:00"
    to: "2026-11-12 00:00"
"""
CATALOG = parse_catalog(BASE)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "when, env, frozen_until",
    [
        ("2026-12-04 19:59", "prod", None),  # Friday before the window
        ("2026-12-04 20:00", "prod", "2026-12-07 08:00"),
        ("2026-12-06 12:00", "prod", "2026-12-07 08:00"),  # Sunday: begun last week's Friday
        ("2026-12-07 08:00", "prod", None),  # Monday, just ended
        ("2026-12-05 12:00", "uat", None),  # the weekly window is prod only
        ("2026-11-10 09:00", "uat", "2026-11-12 00:00"),
        ("2026-11-12 00:00", "uat", None),
    ],
)
def test_when_an_environment_is_frozen(when, env, frozen_until):
    found = active_freeze(CATALOG.freeze_windows, env, at(when))
    assert (found[1] if found else None) == (at(frozen_until) if frozen_until else None)


def test_windows_describe_themselves_in_chinese():
    weekly, dated = CATALOG.freeze_windows
    assert weekly.describe() == "每周五 20:00 ~ 周一 08:00"
    assert dated.describe() == "11-10 00:00 ~ 11-12 00:00"


@pytest.mark.parametrize(
    "window, problem",
    [
        (
            '  - {name: x, environments: [qa], weekly: {from: "fri 20:00", to: "mon 08:00"}}\n',
            "names unknown 'qa'",
        ),
        (
            '  - {name: x, environments: [prod], weekly: {from: "friday", to: "mon 08:00"}}\n',
            "is not like 'fri 20:00'",
        ),
        (
            '  - {name: x, environments: [prod], from: "2026-11-12 00:00",'
            ' to: "2026-11-10 00:00"}\n',
            "ends before it starts",
        ),
    ],
)
def test_a_broken_window_is_refused(window, problem):
    text = BASE.split("freeze_windows:")[0] + "freeze_windows:\n" + window
    with pytest.raises(CatalogError, match=problem):
        parse_catalog(text)


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(CatalogError, match="unknown time zone 'Mars/Olympus'"):
        parse_catalog(BASE + "timezone: Mars/Olympus\n")
