"""chatops/state/audit.py: the append-only audit trail and its export."""

from __future__ import annotations

import json

from chatops.state import AuditLog, Database
from chatops.state import audit as events

T0 = 1_700_000_000.0


def test_events_are_kept_in_order_with_everything_said(db: Database):
    log = AuditLog(db)
    log.record(
        "deploy",
        events.APPROVAL_REQUESTED,
        actor_id="user123",
        actor_nick="张三",
        conversation_id="cid-1",
        message="把订单服务发到生产环境",
        environment="prod",
        services=["order-service"],
        plan={"branch": "master", "workflow_key": "mall-prod"},
        approval_id=1,
        now=T0,
    )
    log.record(
        "deploy",
        events.TRIGGERED,
        actor_id="lead01",
        actor_nick="李四",
        environment="prod",
        services=["order-service"],
        workflow_key="mall-prod",
        task_id=12,
        approval_id=1,
        now=T0 + 60,
    )
    first, second = log.events()
    assert (first.decision, first.message, first.services, first.plan["branch"]) == (
        "approval_requested",
        "把订单服务发到生产环境",
        ["order-service"],
        "master",
    )
    assert (second.actor_nick, second.workflow_key, second.task_id) == ("李四", "mall-prod", 12)
    assert [e.id for e in log.events(decisions=[events.TRIGGERED])] == [second.id]
    assert log.events(since=T0 + 30, environment="prod") == [second]


def test_export_is_one_json_object_per_line_oldest_first(db: Database):
    log = AuditLog(db)
    for n in range(3):
        log.record("cancel", events.CANCELLED, actor_nick=f"用户{n}", now=T0 + n)
    lines = list(log.export())
    assert [json.loads(line)["actor_nick"] for line in lines] == ["用户0", "用户1", "用户2"]


def test_the_result_of_a_task(db: Database):
    log = AuditLog(db)
    log.record("deploy", events.RESULT, workflow_key="mall-prod", task_id=12, detail="passed")
    assert log.result_of("mall-prod", 12).detail == "passed"
    assert log.result_of("mall-prod", 13) is None
