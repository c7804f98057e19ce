"""Approval jobs in the Zadig simulator (docs/zadig-task-operations.md §1, §10 "Approvals").

Exact timing on `World` with a fake clock (waiting 1 s, running 6 s: build 1-4, then the
approval, then deploy for 3 s); the wire (approve API, control vote, webhooks) over HTTP against
the simulator process of conftest.
"""

from __future__ import annotations

import json
import time

import pytest

from simulators.zadig.errors import ZadigError
from tests.simulators.zadig_helpers import (
    ALICE,
    APPROVE,
    BOT,
    WITH_APPROVAL,
    FakeClock,
    all_jobs,
    approval_config,
    make_world,
    running_images,
    stage,
    started,
    trigger_body,
    world_trigger,
)


def approve_body(task_id: int, stage_name: str = "job-1-0-0-approve", **extra):
    body = {"workflow_key": "mall-dev", "task_id": task_id, "stage_name": stage_name}
    return json.dumps({"approve": True, "comment": "LGTM", **body, **extra}).encode()


def approval_job(task):
    return stage(task, "approval")["jobs"][0]


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def world(zadig_catalog_yaml, clock):
    return make_world(zadig_catalog_yaml, clock)


def zadig_error(call, *args):
    with pytest.raises(ZadigError) as info:
        call(*args)
    return info.value.status, info.value.body


# -- the clock -----------------------------------------------------------------------------------


def test_approval_job_waits_then_passes_with_enough_votes(world, clock):
    world.set_approval("mall-dev", approval_config([BOT, ALICE], needed=2, description="prod"))
    t0 = clock.now
    task_id = world_trigger(world, WITH_APPROVAL)
    clock.now = t0 + 4.5
    task = world.get_task("mall-dev", task_id)
    assert [s["name"] for s in task["stages"]] == ["build", "approval", "deploy"]
    assert (task["status"], stage(task, "build")["status"]) == ("running", "passed")
    assert stage(task, "approval")["status"] == "running"  # the stage, like the task
    assert stage(task, "deploy")["status"] == ""
    job = approval_job(task)
    assert {k: job[k] for k in ("name", "key", "display_name", "origin_name", "type")} == {
        "name": "job-1-0-0-approve",
        "key": "approve",
        "display_name": "approve",
        "origin_name": "approve",
        "type": "approval",
    }
    assert (job["status"], job["start_time"], job["job_info"]) == (
        "wait_for_approval",
        int(t0 + 4),
        {"job_name": "approve"},
    )
    assert job["spec"] == {
        "timeout": 60,
        "type": "native",
        "description": "prod",
        "approval_message": "",
        "approval_title": "",
        "native_approval": {
            "timeout": 0,
            "approve_users": [
                {"type": "user", "user_id": "uid-chatops-bot", "user_name": "chatops-bot"},
                {"type": "user", "user_id": "uid-alice", "user_name": "alice"},
            ],
            "needed_approvers": 2,
            "reject_or_approve": "",
            "instance_code": "",
        },
        "lark_approval": None,
        "dingtalk_approval": None,
        "workwx_approval": None,
    }

    clock.now = t0 + 6
    assert world.approve(approve_body(task_id)) == {"message": "success"}
    task = world.get_task("mall-dev", task_id)
    voted = approval_job(task)["spec"]["native_approval"]["approve_users"][0]
    assert voted == {
        "type": "user",
        "user_id": "uid-chatops-bot",
        "user_name": "chatops-bot",
        "reject_or_approve": "approve",
        "comment": "LGTM",
        "operation_time": int(t0 + 6),
    }
    assert approval_job(task)["status"] == "wait_for_approval"  # one of two

    clock.now = t0 + 10
    world.sim_vote("mall-dev", task_id, {**ALICE, "approve": True, "comment": "ok"})
    task = world.get_task("mall-dev", task_id)
    assert approval_job(task)["status"] == "passed"
    assert approval_job(task)["end_time"] == int(t0 + 10)
    assert approval_job(task)["spec"]["native_approval"]["reject_or_approve"] == "approve"
    assert stage(task, "deploy")["status"] == "running"
    clock.now = t0 + 13.5
    task = world.get_task("mall-dev", task_id)
    assert (task["status"], task["end_time"]) == ("passed", int(t0 + 13))


def test_one_reject_rejects_job_stage_and_task(world, clock):
    world.set_approval("mall-dev", approval_config([BOT, ALICE], needed=2))
    t0 = clock.now
    task_id = world_trigger(world, WITH_APPROVAL)
    before = dict(world.deployed["dev"])
    clock.now = t0 + 5
    world.approve(approve_body(task_id, approve=False, comment="not now"))
    task = world.get_task("mall-dev", task_id)
    assert task["status"] == "reject"
    assert stage(task, "approval")["status"] == "reject"
    assert approval_job(task)["status"] == "reject"
    assert approval_job(task)["error"] == ""
    assert stage(task, "deploy")["status"] == ""
    assert world.deployed["dev"] == before  # nothing deployed
    assert [t.task_id for t in world.take_completed()] == [task_id]


def test_approval_times_out_by_the_clock(world, clock):
    world.set_approval("mall-dev", approval_config(timeout=2))
    t0 = clock.now
    task_id = world_trigger(world, WITH_APPROVAL)
    clock.now = t0 + 4 + 119
    assert world.get_task("mall-dev", task_id)["status"] == "running"
    clock.now = t0 + 4 + 121
    task = world.get_task("mall-dev", task_id)
    assert (task["status"], stage(task, "approval")["status"]) == ("timeout", "timeout")
    job = approval_job(task)
    assert (job["status"], job["error"], job["end_time"]) == (
        "timeout",
        "workflow timeout",
        int(t0 + 4 + 120),
    )
    assert job["spec"]["timeout"] == 2
    assert stage(task, "deploy")["status"] == ""


def test_timeout_zero_means_sixty_minutes(world, clock):
    world.set_approval("mall-dev", approval_config(timeout=0))
    t0 = clock.now
    task_id = world_trigger(world, WITH_APPROVAL)
    clock.now = t0 + 4 + 3599
    task = world.get_task("mall-dev", task_id)
    assert approval_job(task)["status"] == "wait_for_approval"
    assert approval_job(task)["spec"]["timeout"] == 0  # stored as configured
    clock.now = t0 + 4 + 3600
    assert world.get_task("mall-dev", task_id)["status"] == "timeout"


def test_cancelling_a_waiting_approval(world, clock):
    world.set_approval("mall-dev", approval_config())
    t0 = clock.now
    task_id = world_trigger(world, WITH_APPROVAL)
    clock.now = t0 + 5
    world.cancel("mall-dev", task_id)
    task = world.get_task("mall-dev", task_id)
    assert (task["status"], stage(task, "approval")["status"]) == ("cancelled", "cancelled")
    assert (approval_job(task)["status"], approval_job(task)["error"]) == (
        "cancelled",
        "workflow was canceled",
    )


def test_approve_errors_are_6169_and_bad_bodies_500(world, clock):
    world.set_approval("mall-dev", approval_config())
    t0 = clock.now
    task_id = world_trigger(world, WITH_APPROVAL)

    def error(raw: bytes):
        status, body = zadig_error(world.approve, raw)
        assert (status, body["code"], body["message"]) == (400, 6169, "批准工作流任务失败")
        return body["description"]

    assert error(approve_body(0)) == (
        "can not find approved workflow: mall-dev, taskID: 0,jobName: job-1-0-0-approve"
    )
    assert error(approve_body(task_id, stage_name="")).endswith(",jobName: ")
    clock.now = t0 + 2  # still building: nothing waits yet
    assert error(approve_body(task_id)) == "not found approval"
    clock.now = t0 + 5
    assert error(approve_body(task_id, stage_name="approval")) == "not found approval"  # stage
    assert error(approve_body(task_id, stage_name="approve")) == "not found approval"  # origin
    assert error(approve_body(task_id + 1)) == "not found approval"
    world.configure({"user": {"user_id": "uid-mallory", "user_name": "mallory"}})
    assert error(approve_body(task_id)) == "user mallory has no authority to Approve"
    world.configure({"user": BOT})
    # "approve" left out is a reject; the task ends, the approval is gone from the store.
    world.approve(approve_body(task_id, approve=None))
    assert world.get_task("mall-dev", task_id)["status"] == "reject"
    assert error(approve_body(task_id)) == "not found approval"

    status, body = zadig_error(world.approve, b"{not json")
    assert (status, body) == (
        500,
        {
            "message": "Internal Error: ",
            "code": 500,
            "description": "failed to unmarshal request data, error: "
            "invalid character 'n' looking for beginning of value",
        },
    )
    as_text = json.dumps({"workflow_key": "mall-dev", "task_id": str(task_id), "approve": True})
    status, body = zadig_error(world.approve, as_text.encode())
    assert status == 500
    assert body["description"] == (
        "failed to unmarshal request data, error: json: cannot unmarshal string into Go "
        "struct field OpenAPIApproveRequest.task_id of type int64"
    )


def test_a_second_vote_by_the_same_user_is_refused(world, clock):
    world.set_approval("mall-dev", approval_config([BOT, ALICE], needed=2))
    task_id = world_trigger(world, WITH_APPROVAL)
    clock.now += 5
    world.approve(approve_body(task_id))
    status, body = zadig_error(world.approve, approve_body(task_id, approve=False))
    assert body["description"] == "chatops-bot have approve already"
    world.sim_vote("mall-dev", task_id, {**ALICE, "approve": True})
    assert world.get_task("mall-dev", task_id)["status"] == "running"  # deploying now


@pytest.mark.parametrize("kind", ["lark", "dingtalk", "workwx"])
def test_approvals_decided_outside_zadig_are_never_found(world, clock, kind):
    world.set_approval("mall-dev", approval_config(type=kind))
    task_id = world_trigger(world, WITH_APPROVAL)
    clock.now += 5
    task = world.get_task("mall-dev", task_id)
    spec = approval_job(task)["spec"]
    assert approval_job(task)["status"] == "wait_for_approval"
    assert spec["type"] == kind and spec["native_approval"] is None
    assert spec[f"{kind}_approval"] is not None
    status, body = zadig_error(world.approve, approve_body(task_id))
    assert (status, body["description"]) == (400, "not found approval")


def test_approval_left_out_of_inputs_is_skipped(world, clock):
    world.set_approval("mall-dev", approval_config())
    task_id = world_trigger(world, trigger_body())
    clock.now += 8
    task = world.get_task("mall-dev", task_id)
    assert task["status"] == "passed"
    assert stage(task, "approval")["status"] == "skipped"
    assert approval_job(task)["status"] == "skipped"
    notes = world.sim_task(world.find_task("mall-dev", task_id))["notes"]
    assert any("approval job approve skipped" in note for note in notes)


def test_waiting_approval_is_announced_once_when_subscribed(world, clock):
    world.configure({"webhook_notify_types": ["passed", "wait_for_approval"]})
    world.set_approval("mall-dev", approval_config())
    task_id = world_trigger(world, WITH_APPROVAL)
    clock.now += 5
    world.refresh()
    [hook] = world.take_webhooks()
    assert hook.notify_type == "wait_for_approval"
    wf = hook.payload["workflow"]
    assert (wf["status"], wf["stages"], wf["task_type"], wf["task_id"]) == (
        "running",
        None,
        "",
        task_id,
    )
    clock.now += 1
    world.refresh()
    assert world.take_webhooks() == []
    world.approve(approve_body(task_id))
    clock.now += 4
    world.refresh()
    assert [h.notify_type for h in world.take_webhooks()] == ["passed"]


# -- over HTTP -----------------------------------------------------------------------------------


def test_approval_control_endpoints_and_workflow_detail(zadig):
    view = zadig.control(
        "POST", "/workflows/mall-prod/approval", approval_config([BOT, ALICE], timeout=30)
    )
    assert [(s["name"], [j["type"] for j in s["jobs"]]) for s in view["stages"]] == [
        ("build", ["zadig-build"]),
        ("approval", ["approval"]),
        ("deploy", ["zadig-deploy"]),
    ]
    detail = zadig.api.get(
        "/openapi/workflows/custom/mall-prod/detail", params={"projectKey": "mall"}
    ).json()
    job = stage(detail, "approval")["jobs"][0]
    assert (job["name"], job["type"]) == ("approve", "approval")
    spec = job["spec"]
    assert (spec["timeout"], spec["type"], spec["source"]) == (30, "native", "")
    assert spec["native_approval"]["needed_approvers"] == 1
    assert [u["user_name"] for u in spec["native_approval"]["approve_users"]] == [
        "chatops-bot",
        "alice",
    ]
    assert spec["lark_approval"] is None
    bad = zadig.raw.post("/_sim/workflows/mall-prod/approval", json={"type": "email"})
    assert bad.status_code == 400
    zadig.control("DELETE", "/workflows/mall-prod/approval")
    assert [s["name"] for s in zadig.control("GET", "/workflows/mall-prod")["stages"]] == [
        "build",
        "deploy",
    ]


def test_approve_over_http_with_the_waiting_webhook(zadig, webhook_receiver):
    zadig.control(
        "POST",
        "/config",
        {
            "webhook_url": webhook_receiver.url,
            "webhook_notify_types": ["passed", "failed", "wait_for_approval"],
        },
    )
    zadig.control("POST", "/workflows/mall-dev/approval", approval_config())
    task_id = started(zadig, WITH_APPROVAL)
    [hook] = webhook_receiver.wait_for(1)
    wf = hook["body"]["workflow"]
    assert (wf["status"], wf["stages"], wf["task_type"]) == ("running", None, "")
    task = zadig.task("mall-dev", task_id)
    [waiting] = [j for j in all_jobs(task) if j["status"] == "wait_for_approval"]
    assert task["status"] == "running"

    body = {"workflow_key": "mall-dev", "task_id": task_id, "stage_name": waiting["name"]}
    resp = zadig.api.post(APPROVE, content=json.dumps({**body, "approve": True}))
    assert (resp.status_code, resp.json()) == (200, {"message": "success"})
    again = zadig.api.post(APPROVE, content=json.dumps({**body, "approve": True}))
    assert again.status_code == 400 and again.json()["code"] == 6169
    assert zadig.wait_status("mall-dev", task_id, {"passed", "reject"})["status"] == "passed"
    hooks = webhook_receiver.wait_for(2)
    assert [h["body"]["workflow"]["status"] for h in hooks] == ["running", "passed"]
    deliveries = zadig.control("GET", "/webhooks")
    assert [d["notify_type"] for d in deliveries] == ["wait_for_approval", "passed"]

    not_json = zadig.api.post(APPROVE, content=b"approve please")
    assert not_json.status_code == 500
    assert not_json.json()["description"].startswith("failed to unmarshal request data, error: ")


def test_control_vote_rejects_and_approval_timeout_over_http(zadig):
    zadig.control("POST", "/config", {"approval_minute_seconds": 0.2})
    zadig.control("POST", "/workflows/mall-dev/approval", approval_config([ALICE], timeout=1))
    first = started(zadig, WITH_APPROVAL)
    deadline = time.monotonic() + 5
    while zadig.control("GET", f"/tasks/mall-dev/{first}")["status"] != "running" or not any(
        j["status"] == "wait_for_approval" for j in all_jobs(zadig.task("mall-dev", first))
    ):
        assert time.monotonic() < deadline
        time.sleep(0.03)
    refused = zadig.raw.post(f"/_sim/tasks/mall-dev/{first}/approve", json={**BOT, "approve": True})
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "user chatops-bot has no authority to Approve",
        "code": 6169,
    }
    view = zadig.control(
        "POST", f"/tasks/mall-dev/{first}/approve", {**ALICE, "approve": False, "comment": "no"}
    )
    assert view["status"] == "reject"
    assert zadig.task("mall-dev", first)["status"] == "reject"

    second = started(zadig, WITH_APPROVAL)
    task = zadig.wait_status("mall-dev", second, {"timeout", "passed"})
    assert task["status"] == "timeout"
    assert stage(task, "approval")["jobs"][0]["error"] == "workflow timeout"
    assert running_images(zadig, "dev")["user-service"].endswith("-0-dev")  # never deployed
