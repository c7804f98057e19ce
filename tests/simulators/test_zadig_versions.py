"""The simulated server version: what docs/zadig-openapi.md §3.1, §8 and
docs/zadig-task-operations.md §9 say changes with it."""

from __future__ import annotations

import json

import pytest

from simulators.zadig.__main__ import parse_args
from simulators.zadig.errors import ZadigError
from simulators.zadig.versions import accepts_input, parse_version
from tests.simulators.zadig_helpers import (
    BOT,
    TASK,
    WITH_APPROVAL,
    FakeClock,
    all_jobs,
    approval_config,
    build_input,
    deploy_input,
    make_world,
    stage,
    started,
    trigger_body,
    world_trigger,
)


@pytest.fixture
def world(zadig_catalog_yaml):
    world = make_world(zadig_catalog_yaml, FakeClock())
    world.set_approval("mall-dev", approval_config())
    return world


def test_version_setting_cli_env_and_control(zadig, monkeypatch):
    assert parse_args([]).zadig_version == "5.0.0"
    assert parse_args(["--zadig-version", "4.1.0"]).zadig_version == "4.1.0"
    monkeypatch.setenv("ZADIG_SIM_VERSION", "3.4.0")
    assert parse_args([]).zadig_version == "3.4.0"
    assert parse_version("v4.0.1") == (4, 0, 1)
    with pytest.raises(ValueError):
        parse_version("4.1")

    assert zadig.control("GET", "/config")["version"] == "5.0.0"
    assert zadig.control("POST", "/config", {"version": "v4.1.0"})["version"] == "4.1.0"
    assert zadig.raw.post("/_sim/config", json={"version": "latest"}).status_code == 400
    assert zadig.control("POST", "/reset") and zadig.control("GET", "/config")["version"] == "5.0.0"


def test_input_job_types_by_version():
    assert accepts_input((3, 2, 0), "zadig-test") and not accepts_input((3, 2, 0), "sql")
    assert accepts_input((3, 4, 0), "sql") and not accepts_input((4, 0, 0), "approval")
    assert accepts_input((4, 1, 0), "approval")
    assert not accepts_input((5, 0, 0), "jira")


@pytest.mark.parametrize("version", ["3.4.0", "4.0.0"])
def test_listing_an_approval_before_4_1_is_undefined_job_type(world, version):
    world.configure({"version": version})
    with pytest.raises(ZadigError) as info:
        world_trigger(world, WITH_APPROVAL)
    assert (info.value.status, info.value.body) == (
        500,
        {
            "message": "Internal Error: ",
            "code": 500,
            "description": "undefined job type of type:approval",
        },
    )


def test_an_approval_left_out_is_dropped_before_4_0_and_skipped_from_it(world):
    world.configure({"version": "3.4.0"})
    dropped = world.get_task("mall-dev", world_trigger(world, trigger_body()))
    assert [s["name"] for s in dropped["stages"]] == ["build", "deploy"]
    assert [j["name"] for j in all_jobs(dropped)] == ["job-0-0-0-build", "job-1-0-0-deploy"]

    world.configure({"version": "4.0.0"})
    skipped = world.get_task("mall-dev", world_trigger(world, trigger_body()))
    assert stage(skipped, "approval")["jobs"][0]["status"] == "skipped"
    assert [j["name"] for j in all_jobs(skipped)][-1] == "job-2-0-0-deploy"

    world.configure({"version": "4.1.0"})
    kept = world.get_task("mall-dev", world_trigger(world, WITH_APPROVAL))
    job = stage(kept, "approval")["jobs"][0]
    assert (job["name"], job["status"]) == ("job-1-0-0-approve", "")
    assert "approval_message" in job["spec"] and "approval_title" not in job["spec"]


def test_before_4_0_an_omitted_deploy_job_is_dropped(world):
    world.remove_approval("mall-dev")
    world.configure({"version": "3.4.0"})
    task = world.get_task("mall-dev", world_trigger(world, trigger_body(inputs=[build_input()])))
    assert [s["name"] for s in task["stages"]] == ["build"]


def test_job_task_names_before_3_3(world):
    world.configure({"version": "3.2.0"})
    body = trigger_body(inputs=[build_input([("order-service", "order", "order-backend")])])
    body["inputs"].append(deploy_input("dev", [("order-service", "order", "")]))
    task = world.get_task("mall-dev", world_trigger(world, body))
    build, deploy = all_jobs(task)
    assert (build["name"], deploy["name"]) == ("order-service-order-build", "order-service-deploy")
    assert not {"key", "display_name", "origin_name"} & set(build)


def test_routes_the_version_does_not_have_yet(zadig):
    task_id = started(zadig)
    log = f"/openapi/logs/log/v4/workflow/mall-dev/{task_id}/job-0-0-0-build"
    remark = f"/openapi/workflows/custom/mall-dev/task/{task_id}"
    zadig.control("POST", "/config", {"version": "3.3.0"})
    resp = zadig.api.get(log)
    assert (resp.status_code, resp.text) == (404, f"Invalid path: {log}")
    assert zadig.api.put(remark, content=b'{"remark":"x"}').status_code == 200
    zadig.control("POST", "/config", {"version": "3.2.0"})
    resp = zadig.api.put(remark, content=b'{"remark":"x"}')
    assert (resp.status_code, resp.text) == (405, f"Method not allowed: PUT {remark}")


def test_cancel_reads_only_a_json_body_before_3_4(zadig):
    zadig.control("POST", "/config", {"version": "3.3.0"})
    task_id = started(zadig)
    query_only = zadig.api.delete(TASK, params={"taskId": task_id, "workflowKey": "mall-dev"})
    assert (query_only.status_code, query_only.content) == (400, b"")
    body = json.dumps({"task_id": task_id, "workflow_key": "mall-dev"})
    assert zadig.api.request("DELETE", TASK, content=body).status_code == 200
    assert zadig.task("mall-dev", task_id)["status"] == "cancelled"


def test_webhooks_by_version(world):
    world.configure({"version": "3.0.0", "webhook_notify_types": ["created", "passed"]})
    world_trigger(world, trigger_body())
    assert world.take_webhooks() == []  # no webhook notification before v3.1.0
    world.configure({"version": "4.2.0", "webhook_notify_types": ["created", "failed"]})
    world_trigger(world, trigger_body())
    [created] = world.take_webhooks()
    assert created.notify_type == "created"
    assert created.payload["workflow"]["status"] == "created"
    assert {s["status"] for s in created.payload["workflow"]["stages"]} == {"", "skipped"}
    assert world.subscribed("failed") and not world.subscribed("reject")  # before v5.0.0
    world.configure({"version": "5.0.0"})
    assert world.subscribed("reject")  # reject reaches "failed" subscriptions from v5.0.0


def test_workflow_detail_by_version(zadig):
    zadig.control("POST", "/config", {"webhook_url": "http://bot/hook", "version": "3.2.0"})
    zadig.control("POST", "/workflows/mall-dev/approval", approval_config([BOT]))
    detail = zadig.api.get(
        "/openapi/workflows/custom/mall-dev/detail", params={"projectKey": "mall"}
    ).json()
    [notify] = detail["notify_ctls"]
    assert notify["webhook_notify"] == {"address": "http://bot/hook", "token": ""}
    assert notify["notify_type"] == ["passed", "failed", "timeout", "cancelled", "reject"]
    spec = stage(detail, "approval")["jobs"][0]["spec"]
    assert "approval_message" not in spec and "approval_title" not in spec
