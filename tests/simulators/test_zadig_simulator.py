"""The Zadig simulator, verified over raw HTTP against docs/zadig-openapi.md.

The simulator runs as a real process (see conftest); every test starts from `/_sim/reset`.
Durations are short: 0.2 s waiting, 0.6 s running (build first half, deploy second half).
A few tests drive `World` directly with a fake clock, where exact timing matters.
"""

from __future__ import annotations

import json
import time
from typing import List, Tuple

import httpx
import pytest

from devstack.process import free_port
from simulators.zadig.errors import ZadigError
from tests.simulators.zadig_helpers import (
    MONGO_500,
    ORDER,
    REGISTRY,
    TASK,
    TOKEN,
    USER,
    FakeClock,
    build_input,
    deploy_input,
    error_body,
    make_world,
    stage,
    started,
    trigger_body,
)

# -- gateway auth, routing ---------------------------------------------------------------------


def test_missing_token_is_401_with_empty_body(zadig):
    resp = zadig.raw.get("/openapi/workflows", params={"projectKey": "mall"})
    assert resp.status_code == 401
    assert resp.content == b""
    assert "content-type" not in resp.headers


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN} extra",  # three segments
        f"Bearer  {TOKEN}",  # double space: three segments
        f"Bearer{TOKEN}",  # one segment
        "Bearer",
        "",
        "Bearer wrong-token",
    ],
)
def test_malformed_or_wrong_authorization_is_401_empty(zadig, header):
    resp = zadig.raw.get(
        "/openapi/workflows", params={"projectKey": "mall"}, headers={"Authorization": header}
    )
    assert resp.status_code == 401
    assert resp.content == b""


def test_gateway_checks_segments_not_the_scheme(zadig):
    resp = zadig.raw.get("/openapi/system/registry", headers={"Authorization": f"Token {TOKEN}"})
    assert resp.status_code == 200


def test_token_query_parameter_works_and_wins_over_the_header(zadig):
    ok = zadig.raw.get("/openapi/system/registry", params={"token": TOKEN})
    assert ok.status_code == 200
    # The query token has priority: a wrong one fails even with a good header.
    bad = zadig.api.get("/openapi/system/registry", params={"token": "nope"})
    assert bad.status_code == 401 and bad.content == b""
    # ...and a good one passes even with a malformed header.
    good = zadig.raw.get(
        "/openapi/system/registry",
        params={"token": TOKEN},
        headers={"Authorization": "garbage with spaces"},
    )
    assert good.status_code == 200


def test_unknown_path_and_wrong_method_answer_plain_text(zadig):
    resp = zadig.api.get("/openapi/workflows/nothing/here")
    assert resp.status_code == 404
    assert resp.text == "Invalid path: /openapi/workflows/nothing/here"
    assert resp.headers["content-type"].startswith("text/plain")

    resp = zadig.api.put(TASK)
    assert resp.status_code == 405
    assert resp.text == f"Method not allowed: PUT {TASK}"
    assert resp.headers["content-type"].startswith("text/plain")

    # The gateway authenticates before aslan routes: no token, no 404.
    assert zadig.raw.get("/openapi/workflows/nothing/here").status_code == 401


# -- trigger -----------------------------------------------------------------------------------


def test_trigger_returns_key_and_per_workflow_incrementing_ids(zadig):
    first = zadig.trigger(trigger_body("mall-dev"))
    assert first.status_code == 200
    assert first.json() == {"project_name": "mall", "workflow_name": "mall-dev", "task_id": 1}
    assert zadig.trigger(trigger_body("mall-dev")).json()["task_id"] == 2
    assert zadig.trigger(trigger_body("mall-test")).json()["task_id"] == 1

    task = zadig.task("mall-dev", 2)
    assert task["status"] == "waiting"
    assert task["workflow_key"] == "mall-dev"
    assert task["workflow_name"] != "mall-dev"  # display name, not the key
    assert task["task_creator"] == "chatops-bot"
    assert task["project_key"] == "mall"


def test_the_exact_trigger_request_is_recorded(zadig):
    body = trigger_body()
    started(zadig, body)
    zadig.api.get("/openapi/workflows", params={"projectKey": "mall"})
    zadig.raw.get("/openapi/workflows")  # not authenticated: not recorded
    recorded = zadig.control("GET", "/requests")
    assert [(r["method"], r["path"]) for r in recorded] == [
        ("POST", TASK),
        ("GET", "/openapi/workflows"),
    ]
    assert recorded[0]["json"] == body
    assert recorded[1]["query"] == {"projectKey": "mall"}


def test_task_preview_shape_carries_build_and_deploy_specs(zadig):
    task_id = started(
        zadig,
        trigger_body(
            inputs=[build_input([ORDER], branch="feat/login"), deploy_input("dev", [ORDER])]
        ),
    )
    task = zadig.task("mall-dev", task_id)
    for key in ("end_time", "error"):  # omitempty while running
        assert key not in task
    assert [s["name"] for s in task["stages"]] == ["build", "deploy"]

    build_job = stage(task, "build")["jobs"][0]
    assert build_job["type"] == "zadig-build"
    assert build_job["origin_name"] == "build"
    spec = build_job["spec"]
    assert spec["service_name"] == "order-service" and spec["service_module"] == "order"
    repo = spec["repos"][0]
    assert {
        k: repo[k] for k in ("source", "repo_owner", "repo_namespace", "repo_name", "branch")
    } == {
        "source": "gitlab",
        "repo_owner": "mall",
        "repo_namespace": "mall",
        "repo_name": "order-backend",
        "branch": "feat/login",
    }
    assert spec["image"].startswith("harbor.example.com/mall/order:")
    assert spec["image"].endswith(f"-{task_id}-feat-login")

    deploy_job = stage(task, "deploy")["jobs"][0]
    assert deploy_job["type"] == "zadig-deploy"
    assert deploy_job["spec"]["env"] == "dev"
    assert deploy_job["spec"]["production"] is False
    assert deploy_job["spec"]["service_and_images"] == [
        {"service_name": "order-service", "service_module": "order", "image": spec["image"]}
    ]


def test_branch_stays_default_when_repo_entry_does_not_match(zadig):
    body = trigger_body(inputs=[build_input(branch="feature-x"), deploy_input()])
    body["inputs"][0]["parameters"]["service_list"][0]["repo_info"][0]["repo_name"] = "other"
    task = zadig.task("mall-dev", started(zadig, body))
    assert stage(task, "build")["jobs"][0]["spec"]["repos"][0]["branch"] == "dev"


def test_invalid_json_is_400_bad_request_with_the_parse_error(zadig):
    resp = zadig.api.post(TASK, content=b"{not json")
    assert resp.status_code == 400
    assert resp.json() == error_body(
        400, "Bad Request", "invalid character 'n' looking for beginning of value"
    )
    empty = zadig.api.post(TASK, content=b"")
    assert empty.json()["description"] == "unexpected end of JSON input"
    not_object = zadig.api.post(TASK, content=b"[]")
    assert not_object.status_code == 400
    assert not_object.json()["description"].startswith("json: cannot unmarshal array")


def test_unknown_workflow_parameter_is_500(zadig):
    body = trigger_body()
    body["parameters"] = [{"name": "RELEASE_NOTE", "type": "string", "value": "from chatops"}]
    resp = zadig.trigger(body)
    assert resp.status_code == 500
    assert resp.json()["description"] == "param RELEASE_NOTE not found in workflow"


def test_missing_keys_are_400(zadig):
    resp = zadig.trigger({"project_key": "mall"})
    assert resp.status_code == 400
    assert resp.json() == error_body(
        400, "Bad Request", "project_key and workflow_key are required"
    )


def test_unknown_project_is_403_with_empty_body(zadig):
    resp = zadig.trigger(trigger_body(project="shop"))
    assert resp.status_code == 403
    assert resp.content == b""


def test_unknown_workflow_is_6542(zadig):
    resp = zadig.trigger(trigger_body("mall-nope"))
    assert resp.status_code == 400
    assert resp.json() == error_body(6542, "查询workflow失败", "mongo: no documents in result")


def test_wrong_registry_is_500_plain_error(zadig):
    resp = zadig.trigger(
        trigger_body(inputs=[build_input(registry="harbor.example.com/mall"), deploy_input()])
    )
    assert resp.status_code == 500
    assert resp.json() == {
        "message": "Internal Error: ",
        "code": 500,
        "description": "failed to update jobspec for job: build, err: "
        "didn't find the specified image registry",
    }


def test_unknown_code_host_alias_is_500(zadig):
    resp = zadig.trigger(trigger_body(inputs=[build_input(codehost="github"), deploy_input()]))
    assert resp.status_code == 500
    assert resp.json() == {
        "message": "Internal Error: ",
        "code": 500,
        "description": "failed to find code host with name:github",
    }


def test_job_type_is_ignored_and_unknown_jobs_and_services_are_dropped(zadig):
    build = build_input([USER, ("ghost-service", "ghost", "ghost")])
    build["job_type"] = "freestyle"  # matched by job_name only
    body = trigger_body(inputs=[build, deploy_input(), {"job_name": "lint", "parameters": {}}])
    task = zadig.task("mall-dev", started(zadig, body))
    jobs = stage(task, "build")["jobs"]
    assert [j["spec"]["service_name"] for j in jobs] == ["user-service"]
    assert jobs[0]["type"] == "zadig-build"


def test_omitted_deploy_job_is_skipped_and_the_task_still_passes(zadig):
    task_id = started(zadig, trigger_body(inputs=[build_input()]))
    task = zadig.wait_status("mall-dev", task_id, {"passed", "failed"})
    assert task["status"] == "passed"
    deploy = stage(task, "deploy")
    assert deploy["status"] == "skipped"
    assert [j["status"] for j in deploy["jobs"]] == ["skipped"]
    assert stage(task, "build")["status"] == "passed"


def test_every_job_skipped_still_passes_and_is_noted(zadig):
    task_id = started(zadig, trigger_body(inputs=[]))
    task = zadig.wait_status("mall-dev", task_id, {"passed", "failed"})
    assert task["status"] == "passed"
    assert {s["status"] for s in task["stages"]} == {"skipped"}
    sim_view = zadig.control("GET", f"/tasks/mall-dev/{task_id}")
    assert any("every job was skipped" in note for note in sim_view["notes"])


def test_deploy_without_matching_services_is_6160_and_uses_up_an_id(zadig):
    resp = zadig.trigger(
        trigger_body(inputs=[build_input(), deploy_input("dev", [("ghost", "ghost", "ghost")])])
    )
    assert resp.status_code == 400
    assert resp.json() == error_body(
        6160, "创建工作流任务失败", "deploy service is empty for env dev"
    )
    # Zadig takes the task id before turning jobs into tasks.
    assert started(zadig) == 2


def test_deploy_env_name_is_required_and_must_match_the_workflow_kind(zadig):
    no_env = zadig.trigger(trigger_body(inputs=[build_input(), deploy_input("")]))
    assert no_env.status_code == 400 and no_env.json()["code"] == 6160
    prod_from_dev = zadig.trigger(trigger_body(inputs=[build_input(), deploy_input("prod")]))
    assert prod_from_dev.status_code == 400 and prod_from_dev.json()["code"] == 6160


def test_disabled_workflow_is_6160(zadig):
    zadig.control("POST", "/workflows/mall-dev/disable")
    resp = zadig.trigger(trigger_body())
    assert resp.status_code == 400
    assert resp.json() == error_body(6160, "创建工作流任务失败", "workflow is disabled")
    zadig.control("POST", "/workflows/mall-dev/enable")
    assert zadig.trigger(trigger_body()).status_code == 200


# -- lifecycle ---------------------------------------------------------------------------------


def test_waiting_then_running_build_then_deploy_then_passed(zadig):
    task_id = started(zadig)
    seen: List[Tuple[str, str, str]] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        task = zadig.task("mall-dev", task_id)
        snapshot = (task["status"], stage(task, "build")["status"], stage(task, "deploy")["status"])
        if not seen or seen[-1] != snapshot:
            seen.append(snapshot)
        if task["status"] == "passed":
            break
        time.sleep(0.03)
    assert seen[0] == ("waiting", "", "")
    assert ("running", "running", "") in seen
    assert ("running", "passed", "running") in seen
    assert seen[-1] == ("passed", "passed", "passed")
    assert seen.index(("running", "running", "")) < seen.index(("running", "passed", "running"))
    task = zadig.task("mall-dev", task_id)
    assert task["end_time"] >= task["start_time"] >= task["create_time"]
    assert "error" not in task


def test_injected_failure_fails_the_named_stage(zadig):
    zadig.control(
        "POST",
        "/outcome",
        {
            "workflow_key": "mall-dev",
            "status": "failed",
            "stage": "deploy",
            "error": "ImagePullBackOff",
        },
    )
    task_id = started(zadig)
    task = zadig.wait_status("mall-dev", task_id, {"passed", "failed", "timeout"})
    assert task["status"] == "failed"
    assert task["error"] == "ImagePullBackOff"
    assert stage(task, "build")["status"] == "passed"
    deploy = stage(task, "deploy")
    assert deploy["status"] == "failed"
    assert deploy["jobs"][0]["status"] == "failed"
    assert deploy["jobs"][0]["error"] == "ImagePullBackOff"
    # The outcome applied once: the next task passes.
    assert zadig.wait_status("mall-dev", started(zadig), {"passed", "failed"})["status"] == "passed"


def test_outcome_for_another_workflow_does_not_apply(zadig):
    zadig.control("POST", "/outcome", {"workflow_key": "mall-test", "status": "failed"})
    task_id = started(zadig, trigger_body("mall-dev"))
    assert zadig.wait_status("mall-dev", task_id, {"passed", "failed"})["status"] == "passed"


def test_injected_timeout_in_build_never_runs_deploy(zadig):
    zadig.control("POST", "/outcome", {"status": "timeout", "stage": "build"})
    task_id = started(zadig)
    task = zadig.wait_status("mall-dev", task_id, {"passed", "failed", "timeout"})
    assert task["status"] == "timeout"
    assert stage(task, "build")["status"] == "timeout"
    assert stage(task, "deploy")["status"] == ""
    assert stage(task, "deploy")["jobs"][0]["status"] == ""


def test_hang_then_cancel_running_task(zadig):
    zadig.control("POST", "/outcome", {"status": "hang", "stage": "deploy"})
    task_id = started(zadig)
    time.sleep(1.2)  # far beyond waiting + running
    task = zadig.task("mall-dev", task_id)
    assert task["status"] == "running"
    assert stage(task, "deploy")["status"] == "running"

    resp = zadig.api.delete(TASK, params={"taskId": task_id, "workflowKey": "mall-dev"})
    assert resp.status_code == 200
    assert resp.json() == {"message": "success"}
    task = zadig.task("mall-dev", task_id)
    assert task["status"] == "cancelled"
    assert task["task_revoker"] == "chatops-bot"
    assert stage(task, "deploy")["status"] == "cancelled"
    assert "end_time" in task


def test_cancel_passed_task_is_6163(zadig):
    task_id = started(zadig)
    zadig.wait_status("mall-dev", task_id, {"passed"})
    resp = zadig.api.delete(TASK, params={"taskId": task_id, "workflowKey": "mall-dev"})
    assert resp.status_code == 400
    assert resp.json() == error_body(
        6163, "取消工作流任务失败", f"task: mall-dev:{task_id} is passed, cannot cancel"
    )


def test_cancel_unknown_task_is_6163_mongo(zadig):
    resp = zadig.api.delete(TASK, params={"taskId": 99, "workflowKey": "mall-dev"})
    assert resp.status_code == 400
    assert resp.json() == error_body(6163, "取消工作流任务失败", "mongo: no documents in result")


def test_cancel_with_json_body_only_like_pre_3_4_servers(zadig):
    task_id = started(zadig)
    resp = zadig.api.request(
        "DELETE", TASK, content=json.dumps({"task_id": task_id, "workflow_key": "mall-dev"})
    )
    assert resp.status_code == 200
    assert zadig.task("mall-dev", task_id)["status"] == "cancelled"


def test_cancel_overwrites_a_failed_task(zadig):
    zadig.control("POST", "/outcome", {"status": "failed", "stage": "build"})
    task_id = started(zadig)
    zadig.wait_status("mall-dev", task_id, {"failed"})
    resp = zadig.api.delete(TASK, params={"taskId": task_id, "workflowKey": "mall-dev"})
    assert resp.status_code == 200
    task = zadig.task("mall-dev", task_id)
    assert task["status"] == "cancelled"
    assert stage(task, "build")["status"] == "failed"


def test_force_finish_through_the_control_api(zadig):
    zadig.control("POST", "/outcome", {"status": "hang"})
    task_id = started(zadig)
    zadig.control(
        "POST", f"/tasks/mall-dev/{task_id}/finish", {"status": "failed", "error": "boom"}
    )
    task = zadig.task("mall-dev", task_id)
    assert task["status"] == "failed" and task["error"] == "boom"


def test_unknown_task_is_500_and_non_numeric_id_is_400_empty(zadig):
    missing = zadig.api.get(TASK, params={"taskId": 42, "workflowKey": "mall-dev"})
    assert missing.status_code == 500
    assert missing.json() == MONGO_500

    bad = zadig.api.get(TASK, params={"taskId": "abc", "workflowKey": "mall-dev"})
    assert bad.status_code == 400
    assert bad.content == b""


# -- history -----------------------------------------------------------------------------------


def test_history_is_newest_first_and_needs_the_project_key(zadig):
    for _ in range(3):
        started(zadig)
    resp = zadig.api.get(
        "/openapi/workflows/custom/mall-dev/tasks",
        params={"projectKey": "mall", "pageNum": 1, "pageSize": 2},
    )
    assert resp.status_code == 200
    page = resp.json()
    assert page["total"] == 3
    assert [t["task_id"] for t in page["workflow_tasks"]] == [3, 2]
    first = page["workflow_tasks"][0]
    assert set(first) == {
        "workflow_key",
        "workflow_name",
        "project_key",
        "task_id",
        "create_time",
        "task_creator",
        "start_time",
        "end_time",
        "status",
    }
    assert first["status"] == "waiting"

    second = zadig.api.get(
        "/openapi/workflows/custom/mall-dev/tasks",
        params={"projectKey": "mall", "pageNum": 2, "pageSize": 2},
    ).json()
    assert [t["task_id"] for t in second["workflow_tasks"]] == [1]

    for params in ({}, {"projectKey": "shop"}):
        empty = zadig.api.get("/openapi/workflows/custom/mall-dev/tasks", params=params).json()
        assert empty == {"total": 0, "workflow_tasks": []}


# -- discovery ---------------------------------------------------------------------------------


def test_workflow_list_and_detail(zadig):
    assert zadig.api.get("/openapi/workflows").status_code == 400
    flows = zadig.api.get("/openapi/workflows", params={"projectKey": "mall"}).json()["workflows"]
    # The build-and-deploy workflows, then the deploy-only rollback ones seeded next to them.
    assert [(w["workflow_key"], w["type"]) for w in flows] == [
        ("mall-dev", "custom"),
        ("mall-test", "custom"),
        ("mall-prod", "custom"),
        ("mall-dev-rollback", "custom"),
        ("mall-test-rollback", "custom"),
        ("mall-prod-rollback", "custom"),
    ]
    assert zadig.api.get("/openapi/workflows", params={"projectKey": "shop"}).json() == {
        "workflows": []
    }

    detail = zadig.api.get(
        "/openapi/workflows/custom/mall-prod/detail", params={"projectKey": "mall"}
    ).json()
    assert detail["workflow_key"] == "mall-prod"
    assert detail["project_key"] == "mall"
    jobs = {s["name"]: s["jobs"] for s in detail["stages"]}
    assert [(j["name"], j["type"]) for j in jobs["build"]] == [("build", "zadig-build")]
    assert [(j["name"], j["type"]) for j in jobs["deploy"]] == [("deploy", "zadig-deploy")]
    assert jobs["deploy"][0]["spec"]["env"] == "prod"
    assert jobs["deploy"][0]["spec"]["production"] is True
    builds = jobs["build"][0]["spec"]["service_and_builds"]
    assert {(b["service_name"], b["service_module"]) for b in builds} == {
        ("user-service", "user-service"),
        ("order-service", "order"),
    }

    missing = zadig.api.get("/openapi/workflows/custom/nope/detail", params={"projectKey": "mall"})
    assert missing.status_code == 500 and missing.json() == MONGO_500


def test_projects(zadig):
    projects = zadig.api.get(
        "/openapi/projects/project", params={"pageNum": 1, "pageSize": 20}
    ).json()
    assert projects == {
        "total": 1,
        "projects": [
            {"project_name": "商城", "project_key": "mall", "description": "", "deploy_type": "k8s"}
        ],
    }
    detail = zadig.api.get("/openapi/projects/project/detail", params={"projectKey": "mall"})
    assert detail.json()["project_key"] == "mall" and detail.json()["project_name"] == "商城"
    other = zadig.api.get("/openapi/projects/project/detail", params={"projectKey": "shop"})
    assert other.status_code == 403 and other.content == b""


def test_environments_list_detail_and_production(zadig):
    envs = zadig.api.get("/openapi/environments", params={"projectKey": "mall"}).json()
    assert isinstance(envs, list)
    # Like Zadig, this list holds the non-production envs; production ones have their own.
    assert [(e["env_key"], e["envName"], e["production"]) for e in envs] == [
        ("dev", "开发", False),
        ("test", "测试", False),
    ]
    prod = zadig.api.get("/openapi/environments/production", params={"projectKey": "mall"}).json()
    assert [(e["env_key"], e["production"]) for e in prod] == [("prod", True)]
    assert zadig.api.get("/openapi/environments").status_code == 400

    detail = zadig.api.get("/openapi/environments/dev", params={"projectKey": "mall"}).json()
    assert detail["env_key"] == "dev"
    assert detail["env_name"] == "开发"
    assert "envName" not in detail
    containers = {s["service_name"]: s["containers"][0]["name"] for s in detail["services"]}
    assert containers == {"user-service": "user-service", "order-service": "order"}

    unknown = zadig.api.get("/openapi/environments/staging", params={"projectKey": "mall"})
    assert unknown.status_code == 500 and unknown.json() == MONGO_500
    prod_detail = zadig.api.get(
        "/openapi/environments/production/prod", params={"projectKey": "mall"}
    )
    assert prod_detail.status_code == 200 and prod_detail.json()["env_key"] == "prod"


def test_env_detail_shows_the_image_a_passed_deploy_rolled_out(zadig):
    task_id = started(zadig)
    task = zadig.wait_status("mall-dev", task_id, {"passed"})
    image = stage(task, "build")["jobs"][0]["spec"]["image"]
    detail = zadig.api.get("/openapi/environments/dev", params={"projectKey": "mall"}).json()
    running = {s["service_name"]: s["containers"][0]["image"] for s in detail["services"]}
    assert running["user-service"] == image


def test_services_and_registry(zadig):
    services = zadig.api.get("/openapi/service/yaml/services", params={"projectKey": "mall"}).json()
    assert isinstance(services, list)
    assert {s["service_name"]: [c["name"] for c in s["containers"]] for s in services} == {
        "user-service": ["user-service"],
        "order-service": ["order"],
    }

    registries = zadig.api.get("/openapi/system/registry").json()
    assert len(registries) == 1
    reg = registries[0]
    assert set(reg) == {"registry_id", "address", "provider", "region", "namespace", "is_default"}
    assert reg["address"] + "/" + reg["namespace"] == REGISTRY
    assert reg["address"] == "https://harbor.example.com" and reg["namespace"] == "mall"


# -- outbound webhook --------------------------------------------------------------------------


def test_webhook_is_posted_once_when_a_task_finishes(zadig, webhook_receiver):
    zadig.control(
        "POST", "/config", {"webhook_url": webhook_receiver.url, "webhook_token": "hook-secret"}
    )
    task_id = started(zadig)
    zadig.wait_status("mall-dev", task_id, {"passed"})
    [hook] = webhook_receiver.wait_for(1)
    time.sleep(0.4)  # a second delivery would arrive by now
    assert len(webhook_receiver.received) == 1

    headers = {k.lower(): v for k, v in hook["headers"].items()}
    assert hook["path"] == "/zadig/webhook"
    assert headers["x-zadig-token"] == "hook-secret"
    assert headers["x-zadig-event"] == "workflow"
    assert headers["x-zadig-instance"] == "http://zadig.example.com"
    assert headers["x-zadig-event-uuid"] and headers["x-zadig-webhook-uuid"]

    body = hook["body"]
    assert body["object_kind"] == "workflow" and body["event"] == "workflow"
    assert body["release_plan"] is None
    wf = body["workflow"]
    assert {
        k: wf[k]
        for k in (
            "task_id",
            "project_name",
            "workflow_name",
            "status",
            "error",
            "task_creator",
            "task_type",
        )
    } == {
        "task_id": task_id,
        "project_name": "mall",
        "workflow_name": "mall-dev",
        "status": "passed",
        "error": "",
        "task_creator": "chatops-bot",
        "task_type": "workflow",
    }
    assert wf["project_display_name"] == "商城"
    assert wf["detail_url"].startswith(
        "http://zadig.example.com/v1/projects/detail/mall/pipelines/custom/mall-dev"
    )
    assert wf["end_time"] >= wf["start_time"] >= wf["create_time"] > 0
    stages = {s["name"]: s for s in wf["stages"]}
    build_job = stages["build"]["jobs"][0]
    assert build_job["type"] == "zadig-build" and build_job["status"] == "passed"
    assert build_job["spec"]["repositories"][0]["branch"] == "feature-x"
    deploy_job = stages["deploy"]["jobs"][0]
    assert deploy_job["spec"]["env"] == "dev"
    assert deploy_job["spec"]["service_modules"][0]["service_module"] == "user-service"

    deliveries = zadig.control("GET", "/webhooks")
    assert [(d["task_id"], d["status"], d["status_code"]) for d in deliveries] == [
        (task_id, "passed", 200)
    ]


def test_webhook_reports_cancel_once_even_if_cancelled_again(zadig, webhook_receiver):
    zadig.control(
        "POST", "/config", {"webhook_url": webhook_receiver.url, "webhook_token": "hook-secret"}
    )
    zadig.control("POST", "/outcome", {"status": "failed", "stage": "build", "error": "exit 2"})
    task_id = started(zadig)
    zadig.wait_status("mall-dev", task_id, {"failed"})
    [hook] = webhook_receiver.wait_for(1)
    assert hook["body"]["workflow"]["status"] == "failed"
    assert hook["body"]["workflow"]["error"] == "exit 2"
    zadig.api.delete(TASK, params={"taskId": task_id, "workflowKey": "mall-dev"})
    time.sleep(0.4)
    assert len(webhook_receiver.received) == 1


def test_unreachable_webhook_is_logged_not_retried(zadig):
    dead = f"http://127.0.0.1:{_closed_port()}/hook"
    zadig.control("POST", "/config", {"webhook_url": dead})
    task_id = started(zadig)
    zadig.wait_status("mall-dev", task_id, {"passed"})
    deadline = time.monotonic() + 3
    while not zadig.control("GET", "/webhooks") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    deliveries = zadig.control("GET", "/webhooks")
    assert len(deliveries) == 1 and "error" in deliveries[0]


def _closed_port() -> int:
    return free_port()


# -- faults ------------------------------------------------------------------------------------


def test_fault_error500_and_slow(zadig):
    zadig.control("POST", "/fault", {"mode": "error500"})
    resp = zadig.api.get("/openapi/system/registry")
    assert resp.status_code == 500
    assert resp.json()["message"] == "Internal Error: "
    assert zadig.raw.get("/openapi/system/registry").status_code == 401  # gateway still up

    zadig.control("POST", "/fault", {"mode": "slow", "seconds": 0.5})
    with pytest.raises(httpx.ReadTimeout):
        zadig.api.get("/openapi/system/registry", timeout=0.2)
    began = time.monotonic()
    assert zadig.api.get("/openapi/system/registry").status_code == 200
    assert time.monotonic() - began >= 0.45

    zadig.control("POST", "/fault", {"mode": "ok"})
    assert zadig.api.get("/openapi/system/registry").status_code == 200


def test_control_api_rejects_bad_input(zadig):
    assert zadig.raw.post("/_sim/outcome", json={"status": "exploded"}).status_code == 400
    assert (
        zadig.raw.post("/_sim/outcome", json={"status": "failed", "stage": "test"}).status_code
        == 400
    )
    assert (
        zadig.raw.post("/_sim/tasks/mall-dev/9/finish", json={"status": "passed"}).status_code
        == 404
    )
    assert zadig.raw.post("/_sim/workflows/nope/disable").status_code == 404


# -- the clock, exactly (no HTTP) ------------------------------------------------------------------


def test_world_timeline_by_the_clock(zadig_catalog_yaml):
    clock = FakeClock()
    world = make_world(zadig_catalog_yaml, clock)
    world.trigger(json.dumps(trigger_body()).encode())
    t0 = clock.now
    expected = [
        (0.5, "waiting", "", ""),
        (1.5, "running", "running", ""),
        (4.5, "running", "passed", "running"),
        (7.5, "passed", "passed", "passed"),
    ]
    for offset, status, build, deploy in expected:
        clock.now = t0 + offset
        task = world.get_task("mall-dev", 1)
        assert (
            task["status"],
            stage(task, "build")["status"],
            stage(task, "deploy")["status"],
        ) == (status, build, deploy), offset
    assert task["end_time"] == int(t0 + 7)  # scheduled end, not the moment it was looked at
    assert [t.task_id for t in world.take_completed()] == [1]
    assert world.take_completed() == []


def test_world_reset_restores_the_start_up_config(zadig_catalog_yaml):
    world = make_world(zadig_catalog_yaml, FakeClock())
    world.configure({"running_seconds": 1, "webhook_url": "http://x"})
    world.reset()
    assert world.config.running_seconds == 6.0 and world.config.webhook_url == ""


def test_world_errors_are_zadig_errors(zadig_catalog_yaml):
    world = make_world(zadig_catalog_yaml, FakeClock())
    with pytest.raises(ZadigError) as info:
        world.get_task("mall-dev", 1)
    assert (info.value.status, info.value.body) == (500, MONGO_500)
