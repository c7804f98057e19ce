"""Job logs, retry, remark and several services in one task, against
docs/zadig-task-operations.md §2.1, §3, §7 and §5, over HTTP (conftest's simulator process:
0.2 s waiting, 0.6 s running) and on `World` with a fake clock where timing matters.
"""

from __future__ import annotations

import time

import pytest

from tests.simulators.zadig_helpers import (
    ORDER,
    TASK,
    USER,
    FakeClock,
    all_jobs,
    build_input,
    deploy_input,
    error_body,
    job_named,
    make_world,
    running_images,
    stage,
    started,
    trigger_body,
    world_trigger,
)

BOTH = trigger_body(inputs=[build_input([USER, ORDER]), deploy_input("dev", [USER, ORDER])])


def log_path(task_id, job, workflow="mall-dev"):
    return f"/openapi/logs/log/v4/workflow/{workflow}/{task_id}/{job}"


def retry_path(task_id, workflow="mall-dev"):
    return f"/openapi/workflows/custom/{workflow}/task/{task_id}"


# -- job logs ------------------------------------------------------------------------------------


def test_logs_of_finished_jobs_are_plain_text(zadig):
    task_id = started(zadig)
    task = zadig.wait_status("mall-dev", task_id, {"passed"})
    image = stage(task, "build")["jobs"][0]["spec"]["image"]
    resp = zadig.api.get(log_path(task_id, "job-0-0-0-build"))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    lines = resp.text.splitlines()
    assert len(lines) >= 20
    assert any("git clone https://gitlab.example.com/mall/user-service.git" in ln for ln in lines)
    assert any(f"Successfully tagged {image}" in ln for ln in lines)
    deploy_log = zadig.api.get(log_path(task_id, "job-1-0-0-deploy")).text
    assert 'deployment "user-service" successfully rolled out' in deploy_log
    # The key is lower-cased before the lookup; "_" reads as "-" in the job name.
    assert zadig.api.get(log_path(task_id, "job_0_0_0_build", "MALL-DEV")).text == resp.text


def test_logs_are_empty_for_running_unknown_and_bad_ids(zadig):
    zadig.control("POST", "/outcome", {"status": "hang", "stage": "build"})
    task_id = started(zadig)
    zadig.wait_status("mall-dev", task_id, {"running"})
    for path in (
        log_path(task_id, "job-0-0-0-build"),  # running
        log_path(task_id, "job-1-0-0-deploy"),  # not started
        log_path(task_id, "job-9-9-9-nope"),
        log_path(99, "job-0-0-0-build"),
    ):
        resp = zadig.api.get(path)
        assert (resp.status_code, resp.text) == (200, ""), path
    bad = zadig.api.get(log_path("abc", "job-0-0-0-build"))
    assert bad.status_code == 400
    assert bad.json() == error_body(400, "Bad Request", "invalid task id")


def test_a_failed_jobs_log_ends_with_the_injected_lines_and_its_error_stays_empty(zadig):
    tail = "npm ERR! code ELIFECYCLE\nnpm ERR! errno 1"
    zadig.control("POST", "/outcome", {"status": "failed", "stage": "build", "log": tail})
    task_id = started(zadig)
    task = zadig.wait_status("mall-dev", task_id, {"failed"})
    build = stage(task, "build")["jobs"][0]
    assert (build["status"], build["error"], task.get("error", "")) == ("failed", "", "")
    text = zadig.api.get(log_path(task_id, build["name"])).text
    assert [ln.split("] ", 1)[1] for ln in text.splitlines()[-2:]] == tail.splitlines()
    assert "Successfully tagged" not in text

    zadig.control("POST", "/outcome", {"status": "failed", "stage": "deploy"})
    task_id = started(zadig)
    zadig.wait_status("mall-dev", task_id, {"failed"})
    text = zadig.api.get(log_path(task_id, "job-1-0-0-deploy")).text
    assert text.splitlines()[-1].endswith("did not become ready")


# -- several services in one task ----------------------------------------------------------------


def test_several_services_make_one_job_each_and_one_can_fail(zadig):
    zadig.control(
        "POST", "/outcome", {"status": "failed", "stage": "deploy", "service": "order-service"}
    )
    before = running_images(zadig, "dev")
    task_id = started(zadig, BOTH)
    task = zadig.wait_status("mall-dev", task_id, {"passed", "failed"})
    assert task["status"] == "failed"
    assert [(j["name"], j["status"]) for j in all_jobs(task)] == [
        ("job-0-0-0-build", "passed"),
        ("job-0-0-1-build", "passed"),
        ("job-1-0-0-deploy", "passed"),
        ("job-1-0-1-deploy", "failed"),
    ]
    assert [j["display_name"] for j in stage(task, "deploy")["jobs"]] == [
        "deploy-user-service",
        "deploy-order-service",
    ]
    assert stage(task, "deploy")["status"] == "failed"
    now = running_images(zadig, "dev")
    user_image = stage(task, "build")["jobs"][0]["spec"]["image"]
    assert now["user-service"] == user_image != before["user-service"]
    assert now["order-service"] == before["order-service"]


def test_a_build_failure_for_one_service_stops_the_task_before_deploy(zadig):
    zadig.control("POST", "/outcome", {"status": "failed", "service": "user-service"})
    task = zadig.wait_status("mall-dev", started(zadig, BOTH), {"passed", "failed"})
    assert [j["status"] for j in stage(task, "build")["jobs"]] == ["failed", "passed"]
    assert [j["status"] for j in stage(task, "deploy")["jobs"]] == ["", ""]


# -- retry ---------------------------------------------------------------------------------------


def test_retry_runs_the_same_task_again_and_keeps_what_passed(zadig_catalog_yaml):
    clock = FakeClock()
    world = make_world(zadig_catalog_yaml, clock)
    world.add_outcome({"status": "failed", "stage": "deploy"})
    t0 = clock.now
    task_id = world_trigger(world, trigger_body())
    clock.now = t0 + 8
    failed = world.get_task("mall-dev", task_id)
    assert failed["status"] == "failed"
    build_before = stage(failed, "build")

    clock.now = t0 + 20
    assert world.retry("mall-dev", str(task_id)) == {"message": "success"}
    task = world.get_task("mall-dev", task_id)
    assert task["status"] == "waiting"
    assert "end_time" not in task and "error" not in task
    assert task["start_time"] == int(t0 + 20)
    assert task["create_time"] == int(t0)
    assert stage(task, "build") == build_before  # kept, times and all
    assert stage(task, "deploy")["status"] == ""
    assert stage(task, "deploy")["jobs"][0]["status"] == ""
    clock.now = t0 + 21.5
    assert stage(world.get_task("mall-dev", task_id), "deploy")["status"] == "running"
    clock.now = t0 + 30
    task = world.get_task("mall-dev", task_id)
    assert task["status"] == "passed"
    image = stage(task, "deploy")["jobs"][0]["spec"]["service_and_images"][0]["image"]
    assert world.deployed["dev"]["user-service"] == image
    assert world.list_tasks("mall-dev", "mall", 1, 10)["total"] == 1


def test_retry_over_http_with_an_outcome_for_the_retry(zadig):
    zadig.control("POST", "/outcome", {"status": "failed", "stage": "build", "times": 2})
    task_id = started(zadig)
    zadig.wait_status("mall-dev", task_id, {"failed"})
    first_log = zadig.api.get(log_path(task_id, "job-0-0-0-build")).text
    resp = zadig.api.post(retry_path(task_id), params={"projectKey": "mall"})
    assert (resp.status_code, resp.json()) == (200, {"message": "success"})
    assert zadig.task("mall-dev", task_id)["status"] in ("waiting", "running")
    # Until the job ends again, its stored log is the previous run's.
    assert zadig.api.get(log_path(task_id, "job-0-0-0-build")).text == first_log
    assert zadig.wait_status("mall-dev", task_id, {"passed", "failed"})["status"] == "failed"
    zadig.api.post(retry_path(task_id))
    task = zadig.wait_status("mall-dev", task_id, {"passed", "failed"})
    assert task["status"] == "passed"
    assert zadig.control("GET", f"/tasks/mall-dev/{task_id}")["retries"] == 2


def test_retry_refusals(zadig):
    task_id = started(zadig)
    running = zadig.api.post(retry_path(task_id))
    assert running.status_code == 500
    assert running.json() == {
        "message": "Internal Error: ",
        "code": 500,
        "description": "工作流任务状态无法重试",
    }
    zadig.wait_status("mall-dev", task_id, {"passed"})
    assert zadig.api.post(retry_path(task_id)).status_code == 500
    missing = zadig.api.post(retry_path(42))
    assert missing.status_code == 400
    assert missing.json() == error_body(6161, "获取工作流任务失败", "mongo: no documents in result")
    bad = zadig.api.post(retry_path("x"))
    assert (bad.status_code, bad.json()["description"]) == (400, "taksID is invalid")


def test_retry_of_a_cancelled_task(zadig):
    zadig.control("POST", "/outcome", {"status": "hang", "stage": "deploy"})
    task_id = started(zadig)
    zadig.wait_status("mall-dev", task_id, {"running"})
    zadig.api.delete(TASK, params={"taskId": task_id, "workflowKey": "mall-dev"})
    assert zadig.api.post(retry_path(task_id)).status_code == 200
    task = zadig.wait_status("mall-dev", task_id, {"passed", "failed", "cancelled"})
    assert task["status"] == "passed"


def test_retry_after_a_reject_is_a_new_approval_round(zadig_catalog_yaml):
    clock = FakeClock()
    world = make_world(zadig_catalog_yaml, clock)
    approver = {"user_id": "uid-alice", "user_name": "alice"}
    world.set_approval("mall-dev", {"approvers": [approver]})
    inputs = [build_input(), {"job_name": "approve", "parameters": {}}, deploy_input()]
    task_id = world_trigger(world, trigger_body(inputs=inputs))
    clock.now += 5
    world.sim_vote("mall-dev", task_id, {**approver, "approve": False})
    assert world.get_task("mall-dev", task_id)["status"] == "reject"
    world.retry("mall-dev", str(task_id))
    clock.now += 1.5
    task = world.get_task("mall-dev", task_id)
    job = stage(task, "approval")["jobs"][0]
    assert job["status"] == "wait_for_approval"
    assert "reject_or_approve" not in job["spec"]["native_approval"]["approve_users"][0]
    world.sim_vote("mall-dev", task_id, {**approver, "approve": True})
    clock.now += 4
    assert world.get_task("mall-dev", task_id)["status"] == "passed"


# -- remark --------------------------------------------------------------------------------------


def test_remark_is_set_shown_and_not_cleared_by_empty(zadig, webhook_receiver):
    zadig.control("POST", "/config", {"webhook_url": webhook_receiver.url})
    task_id = started(zadig)
    put = zadig.api.put(retry_path(task_id), content=b'{"remark":"hotfix for #42"}')
    assert (put.status_code, put.json()) == (200, {"message": "success"})
    assert zadig.api.put(retry_path(task_id), content=b'{"remark":""}').status_code == 200
    task = zadig.wait_status("mall-dev", task_id, {"passed"})
    assert task["remark"] == "hotfix for #42"
    [hook] = webhook_receiver.wait_for(1)
    assert hook["body"]["workflow"]["remark"] == ""  # the controller blanks it (v3.3+)


def test_remark_checks_in_order(zadig):
    unknown = zadig.api.put(retry_path(1, "mall-nope"), content=b"{not json")
    assert unknown.status_code == 400
    assert unknown.json() == error_body(
        400, "Bad Request", "查询workflow失败: mongo: no documents in result"
    )
    bad_json = zadig.api.put(retry_path("x"), content=b"{not json")
    assert bad_json.json()["description"] == "invalid character 'n' looking for beginning of value"
    assert zadig.api.put(retry_path(1), content=b"").json()["description"] == (
        "unexpected end of JSON input"
    )
    bad_id = zadig.api.put(retry_path("x"), content=b'{"remark":"a"}')
    assert (bad_id.status_code, bad_id.json()["description"]) == (400, "invalid task id")
    missing = zadig.api.put(retry_path(9), content=b'{"remark":"a"}')
    assert missing.status_code == 500
    assert missing.json()["description"] == (
        "cannot find workflow task, workflow name: mall-dev, task id: 9"
    )


@pytest.mark.parametrize("status", ["failed", "timeout"])
def test_history_lists_retried_tasks_once(zadig, status):
    zadig.control("POST", "/outcome", {"status": status})
    first = started(zadig)
    zadig.wait_status("mall-dev", first, {status})
    second = started(zadig)
    zadig.api.post(retry_path(first))
    time.sleep(0.05)
    page = zadig.api.get(
        "/openapi/workflows/custom/mall-dev/tasks", params={"projectKey": "mall"}
    ).json()
    assert [t["task_id"] for t in page["workflow_tasks"]] == [second, first]
    assert {t["task_creator"] for t in page["workflow_tasks"]} == {"chatops-bot"}
    assert job_named(zadig.task("mall-dev", first), "job-0-0-0-build")["status"] in ("", "running")
