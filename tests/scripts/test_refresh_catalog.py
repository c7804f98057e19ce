"""scripts/refresh_catalog.py: the command against the fake Zadig (the merge itself is tested in
tests/chatops/catalog/test_refresh.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import httpx
import pytest

from chatops.catalog import DEFAULT_PATH, Service, load_catalog
from chatops.settings import Settings
from scripts.refresh_catalog import main
from tests.fakes.discovery import SHIPPED, env_json, service_json, workflow_json, world
from tests.fakes.zadig import FakeZadig

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://zadig.example.com"
TOKEN = "refresh-secret-token-0123456789"


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
    assert f"error: {path}:22: unknown field 'workflw'" in capsys.readouterr().err


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
