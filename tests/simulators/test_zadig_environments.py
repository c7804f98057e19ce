"""What runs in an environment and how it changes: rollback workflows, previous images, extra
jobs in a workflow, image update and restart (docs/zadig-task-operations.md §4, §5, §6;
docs/zadig-openapi.md §3.7, §4), over HTTP against conftest's simulator process."""

from __future__ import annotations

import json

from tests.simulators.zadig_helpers import (
    ORDER,
    USER,
    all_jobs,
    build_input,
    deploy_input,
    error_body,
    rollback_input,
    running_images,
    stage,
    started,
    trigger_body,
)

OLD = "harbor.example.com/mall/user-service:20240601000000-7-master"
IMAGE = "/openapi/environments/image"
ADMIN = {"user": {"system_admin": True}}


def image_body(**overrides):
    body = {
        "product_name": "mall",
        "env_name": "dev",
        "service_name": "user-service",
        "name": "user-service",
        "container_name": "user-service",
        "image": OLD,
    }
    return json.dumps({**body, **overrides}).encode()


def rollback(zadig, env="prod", service=USER, image=OLD, workflow="mall-prod-rollback"):
    body = trigger_body(workflow, inputs=[rollback_input(env, service, image)])
    return zadig.trigger(body)


def test_rollback_workflow_definition(zadig):
    detail = zadig.api.get(
        "/openapi/workflows/custom/mall-prod-rollback/detail", params={"projectKey": "mall"}
    ).json()
    [only] = detail["stages"]
    [job] = only["jobs"]
    assert (only["name"], job["name"], job["type"]) == ("deploy", "deploy", "zadig-deploy")
    assert (job["spec"]["source"], job["spec"]["env"], job["spec"]["production"]) == (
        "runtime",
        "prod",
        True,
    )


def test_rollback_deploys_exactly_the_given_image(zadig):
    resp = rollback(zadig)
    assert resp.status_code == 200
    task_id = resp.json()["task_id"]
    task = zadig.wait_status("mall-prod-rollback", task_id, {"passed", "failed"})
    assert task["status"] == "passed"
    [job] = all_jobs(task)
    assert (job["name"], job["status"], job["spec"]["env"]) == (
        "job-0-0-0-deploy",
        "passed",
        "prod",
    )
    assert job["spec"]["service_and_images"] == [
        {"service_name": "user-service", "service_module": "user-service", "image": OLD}
    ]
    assert running_images(zadig, "prod", production=True)["user-service"] == OLD
    # Deploying a production env from a rollback workflow of a non-production one is refused.
    assert rollback(zadig, workflow="mall-dev-rollback").json()["code"] == 6160


def test_a_failed_rollback_changes_nothing(zadig):
    before = running_images(zadig, "prod", production=True)
    zadig.control("POST", "/outcome", {"status": "failed", "stage": "deploy"})
    task_id = rollback(zadig).json()["task_id"]
    zadig.wait_status("mall-prod-rollback", task_id, {"failed"})
    assert running_images(zadig, "prod", production=True) == before


def test_removing_a_rollback_workflow_and_reset(zadig):
    assert zadig.control("DELETE", "/workflows/mall-prod-rollback")["removed"] is True
    resp = rollback(zadig)
    assert resp.status_code == 400 and resp.json() == error_body(
        6542, "查询workflow失败", "mongo: no documents in result"
    )
    flows = zadig.api.get("/openapi/workflows", params={"projectKey": "mall"}).json()
    assert "mall-prod-rollback" not in [w["workflow_key"] for w in flows["workflows"]]
    assert zadig.raw.delete("/_sim/workflows/mall-prod-rollback").status_code == 404
    zadig.control("POST", "/reset")
    assert rollback(zadig).status_code == 200


def test_previous_images_from_every_kind_of_task(zadig):
    """§5: the deploy jobs of the task history tell which image went where."""
    built = started(zadig, trigger_body(inputs=[build_input([USER, ORDER]), deploy_input("dev")]))
    zadig.control("POST", "/outcome", {"status": "failed", "stage": "deploy"})
    retried = started(zadig)
    zadig.wait_status("mall-dev", retried, {"failed"})
    zadig.api.post(f"/openapi/workflows/custom/mall-dev/task/{retried}")
    rolled = rollback(zadig, "dev", workflow="mall-dev-rollback").json()["task_id"]
    zadig.wait_status("mall-dev", built, {"passed"})
    zadig.wait_status("mall-dev", retried, {"passed"})
    zadig.wait_status("mall-dev-rollback", rolled, {"passed"})

    deployed = {}
    for workflow in ("mall-dev", "mall-dev-rollback"):
        page = zadig.api.get(
            f"/openapi/workflows/custom/{workflow}/tasks", params={"projectKey": "mall"}
        ).json()["workflow_tasks"]
        assert [t["task_id"] for t in page] == sorted((t["task_id"] for t in page), reverse=True)
        for row in page:
            assert row["task_creator"] == "chatops-bot"
            task = zadig.task(workflow, row["task_id"])
            for job in all_jobs(task):
                if job["type"] == "zadig-deploy" and job["status"] == "passed":
                    [image] = job["spec"]["service_and_images"]
                    deployed[(workflow, row["task_id"])] = (job["spec"]["env"], image["image"])
    assert deployed[("mall-dev-rollback", rolled)] == ("dev", OLD)
    retried_image = deployed[("mall-dev", retried)][1]
    assert retried_image.endswith(f"-{retried}-feature-x")
    assert deployed[("mall-dev", built)][1].endswith(f"-{built}-feature-x")
    # The rollback finished last (it started last and ran no build): dev runs its image.
    assert running_images(zadig, "dev")["user-service"] == OLD


def test_an_extra_job_the_bot_cannot_fill_is_skipped(zadig):
    view = zadig.control(
        "POST",
        "/workflows/mall-dev/jobs",
        {"stage": "test", "name": "unit-test", "type": "zadig-test"},
    )
    assert [s["name"] for s in view["stages"]] == ["build", "test", "deploy"]
    detail = zadig.api.get(
        "/openapi/workflows/custom/mall-dev/detail", params={"projectKey": "mall"}
    ).json()
    assert stage(detail, "test")["jobs"][0]["type"] == "zadig-test"
    task = zadig.wait_status("mall-dev", started(zadig), {"passed", "failed"})
    assert task["status"] == "passed"
    assert [(j["name"], j["status"]) for j in stage(task, "test")["jobs"]] == [
        ("job-1-0-0-unit-test", "skipped")
    ]
    # Listed, it runs (and an outcome can now name its stage).
    zadig.control("POST", "/outcome", {"status": "failed", "stage": "test"})
    body = trigger_body()
    body["inputs"].append({"job_name": "unit-test", "job_type": "zadig-test", "parameters": {}})
    task = zadig.wait_status("mall-dev", started(zadig, body), {"passed", "failed"})
    assert (task["status"], stage(task, "test")["status"]) == ("failed", "failed")
    log = zadig.api.get(
        f"/openapi/logs/log/v4/workflow/mall-dev/{task['task_id']}/job-1-0-0-unit-test"
    )
    assert "--- FAIL" in log.text
    zadig.control("DELETE", "/workflows/mall-dev/jobs/unit-test")
    assert [s["name"] for s in zadig.control("GET", "/workflows/mall-dev")["stages"]] == [
        "build",
        "deploy",
    ]


def test_a_job_type_without_input_is_undefined(zadig):
    zadig.control(
        "POST", "/workflows/mall-dev/jobs", {"stage": "jira", "name": "jira", "type": "jira"}
    )
    body = trigger_body()
    body["inputs"].append({"job_name": "jira", "job_type": "jira", "parameters": {}})
    resp = zadig.trigger(body)
    assert resp.status_code == 500
    assert resp.json()["description"] == "undefined job type of type:jira"


# -- image update (§4) -------------------------------------------------------------------------


def test_image_update_on_the_statefulset_route_and_as_admin(zadig):
    assert zadig.api.post(f"{IMAGE}/deployment/ignored", content=image_body()).status_code == 403
    zadig.control("POST", "/config", ADMIN)
    resp = zadig.api.post(f"{IMAGE}/deployment/ignored", content=image_body())
    assert (resp.status_code, resp.json()) == (200, {"message": "success"})
    assert running_images(zadig, "dev")["user-service"] == OLD
    # env_name empty: the project's first non-production env.
    newer = OLD.replace("-7-", "-8-")
    zadig.api.post(f"{IMAGE}/deployment/x", content=image_body(env_name="", image=newer))
    assert running_images(zadig, "dev")["user-service"] == newer


def test_image_update_errors(zadig):
    zadig.control("POST", "/config", ADMIN)

    def error(kind, raw):
        resp = zadig.api.post(f"{IMAGE}/{kind}/dev", content=raw)
        assert (resp.status_code, resp.json()["code"]) == (400, 6082)
        assert resp.json()["message"] == "更新服务镜像失败"
        return resp.json()["description"]

    assert error("deployment", image_body(env_name="prod")) == "mongo: no documents in result"
    assert error("deployment", image_body(name="ghost")) == "更新 Deployment 容器镜像失败"
    assert error("statefulset", image_body()) == "更新 StatefulSet 容器镜像失败"
    assert error("deployment", image_body(service_name="ghost")) == "服务 ghost 不存在"
    assert error("deployment", image_body(product_name="shop")).startswith(
        "failed to find template project shop"
    )
    bad = zadig.api.post(f"{IMAGE}/deployment/dev", content=b"{not json")
    assert (bad.status_code, bad.content) == (400, b"")
    ok = zadig.api.post(f"{IMAGE}/statefulset/dev", content=b"{not json")
    assert (ok.status_code, ok.json()) == (200, {"message": "success"})
    assert zadig.api.post(f"{IMAGE}/job/dev", content=image_body()).status_code == 404
    zadig.control("POST", "/config", {"version": "5.0.1"})
    assert zadig.api.post(f"{IMAGE}/job/dev", content=b"{not json").status_code == 200


# -- restart (§6) ------------------------------------------------------------------------------


def test_restart(zadig):
    path = "/openapi/environments/dev/service/user-service/restart"
    resp = zadig.api.post(path, params={"projectKey": "mall"})
    assert (resp.status_code, resp.json()) == (200, {"message": "success"})
    ghost = "/openapi/environments/dev/service/ghost/restart"
    assert zadig.api.post(ghost, params={"projectKey": "mall"}).status_code == 200
    assert [(r["service_name"], r["restarted"]) for r in zadig.control("GET", "/restarts")] == [
        ("user-service", True),
        ("ghost", False),
    ]
    missing = zadig.api.post(path)
    assert missing.json() == error_body(400, "Bad Request", "projectKey can't be empty")
    unknown = zadig.api.post(
        "/openapi/environments/staging/service/user-service/restart", params={"projectKey": "mall"}
    )
    assert unknown.status_code == 500
    prod = "/openapi/environments/production/prod/service/user-service/restart"
    assert zadig.api.post(prod, params={"projectKey": "mall"}).status_code == 200
    not_prod = "/openapi/environments/production/dev/service/user-service/restart"
    assert zadig.api.post(not_prod, params={"projectKey": "mall"}).status_code == 500
    zadig.control("POST", "/config", {"licensed": False})
    unlicensed = zadig.api.post(prod, params={"projectKey": "mall"})
    assert (unlicensed.status_code, unlicensed.json()["code"]) == (400, 7050)
