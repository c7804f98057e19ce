"""chatops/state/followups.py: rows, due polls, leases, and ending a row exactly once."""

from __future__ import annotations

from typing import Any

from chatops.state import (
    DELIVERED,
    FAILED,
    PENDING,
    AuditLog,
    Database,
    FollowupStore,
    Outbox,
)

T0 = 1_700_000_000.0
TARGET = {"conversation_id": "cid-1", "is_group": True, "user_id": "u1", "robot_code": "r"}
MESSAGE = {"msgtype": "text", "text": {"content": "✅ 发布成功"}}


def add(store: FollowupStore, task_id: int, **kw: Any):
    args = dict(
        project_key="mall",
        workflow_key="mall-dev",
        task_id=task_id,
        service="order-service",
        environment="dev",
        sender_id="cid-1:u1",
        conversation_id="cid-1",
        target=TARGET,
        now=T0,
        first_poll_in=2.0,
    )
    args.update(kw)
    return store.add(**args)


def test_add_records_everything(db: Database):
    store = FollowupStore(db)
    f = add(store, 7)
    assert (f.project_key, f.workflow_key, f.task_id, f.service, f.environment) == (
        "mall",
        "mall-dev",
        7,
        "order-service",
        "dev",
    )
    assert (f.sender_id, f.conversation_id, f.target) == ("cid-1:u1", "cid-1", TARGET)
    assert (f.created_at, f.next_poll_at, f.polls, f.state) == (T0, T0 + 2.0, 0, PENDING)


def test_add_is_idempotent_per_workflow_and_task(db: Database):
    store = FollowupStore(db)
    first = add(store, 7)
    again = add(store, 7, service="user-service", now=T0 + 100)
    assert again == first
    assert add(store, 7, workflow_key="mall-test").id != first.id


def test_add_without_target_stores_none(db: Database):
    assert add(FollowupStore(db), 7, target=None).target is None


def test_due_is_ordered_by_next_poll_and_respects_time_and_limit(db: Database):
    store = FollowupStore(db)
    add(store, 1, first_poll_in=30)
    add(store, 2, first_poll_in=10)
    add(store, 3, first_poll_in=20)
    assert store.due(now=T0) == []
    assert [f.task_id for f in store.due(now=T0 + 25)] == [2, 3]
    assert [f.task_id for f in store.due(now=T0 + 60, limit=2)] == [2, 3]


def test_a_leased_row_is_not_due_for_another_replica(db: Database, other: Database):
    mine, theirs = FollowupStore(db), FollowupStore(other)
    f = add(mine, 7)
    assert mine.lease(f.id, 60, now=T0 + 5)
    assert theirs.lease(f.id, 60, now=T0 + 5) is False
    assert theirs.due(now=T0 + 30) == []
    # A replica that died holding the lease loses it when it runs out.
    assert [x.task_id for x in theirs.due(now=T0 + 66)] == [7]
    assert theirs.lease(f.id, 60, now=T0 + 66)


def test_reschedule_counts_polls_frees_the_lease_and_counts_row_errors(db: Database):
    store = FollowupStore(db)
    f = add(store, 7)
    store.lease(f.id, 60, now=T0 + 2)
    store.reschedule(f.id, T0 + 10)
    again = store.get("mall-dev", 7)
    assert (again.next_poll_at, again.polls, again.attempts) == (T0 + 10, 1, 0)
    assert [x.task_id for x in store.due(now=T0 + 10)] == [7]
    store.reschedule(f.id, T0 + 20, error="KeyError: 'x'")
    again = store.get("mall-dev", 7)
    assert (again.polls, again.attempts, again.last_error) == (2, 1, "KeyError: 'x'")


def test_complete_ends_the_row_and_queues_its_message_once(db: Database, other: Database):
    """The poller and Zadig's webhook (or two replicas) race: one wins, one message is queued."""
    store, outbox = FollowupStore(db), Outbox(db)
    f = add(store, 7)
    assert store.complete(f, "passed", outbox, MESSAGE, now=T0 + 9)
    assert FollowupStore(other).complete(f, "passed", Outbox(other), MESSAGE) is False
    assert store.complete(f, "failed", outbox, MESSAGE) is False
    ended = store.get("mall-dev", 7)
    assert (ended.state, ended.result_status) == (DELIVERED, "passed")
    [queued] = outbox.messages()
    assert (queued.conversation_id, queued.target, queued.message, queued.kind) == (
        "cid-1",
        TARGET,
        MESSAGE,
        "result",
    )
    assert store.due(now=T0 + 1000) == []


def test_the_result_is_recorded_in_the_audit_trail_once_with_the_row(db: Database, other: Database):
    store, audit = FollowupStore(db), AuditLog(db)
    f = add(store, 8, service="order-service、gateway", requester="u1", requester_nick="张三")
    assert store.complete(f, "failed", Outbox(db), MESSAGE, now=T0 + 9, audit=audit)
    assert not FollowupStore(other).complete(
        f, "failed", Outbox(other), MESSAGE, audit=AuditLog(other)
    )
    [event] = audit.events()
    assert (event.decision, event.detail, event.actor_id, event.services, event.task_id) == (
        "result",
        "failed",
        "u1",
        ["order-service", "gateway"],
        8,
    )
    assert audit.result_of("mall-dev", 8) == event


def test_a_row_without_target_ends_without_a_message(db: Database):
    store, outbox = FollowupStore(db), Outbox(db)
    f = add(store, 7, target=None)
    assert store.complete(f, "passed", outbox, MESSAGE)
    assert outbox.messages() == []


def test_give_up_is_final_and_visible(db: Database):
    store = FollowupStore(db)
    f = add(store, 7)
    assert store.give_up(f.id, "ValueError: bad task id")
    gone = store.get("mall-dev", 7)
    assert (gone.state, gone.last_error) == (FAILED, "ValueError: bad task id")
    assert store.due(now=T0 + 1000) == [] and store.pending() == []
    assert store.counts() == {FAILED: 1}


def test_latest_for_conversation_and_for_sender(db: Database):
    store = FollowupStore(db)
    add(store, 1, now=T0)
    add(store, 2, now=T0 + 10, sender_id="cid-1:u2")
    add(store, 3, now=T0 + 5, conversation_id="cid-2", sender_id="cid-2:u1")
    assert store.latest_for_conversation("cid-1").task_id == 2
    assert store.latest_for_sender("cid-1:u1").task_id == 1
    assert store.latest_for_conversation("nope") is None


def test_prune_forgets_old_ended_rows_only(db: Database):
    store, outbox = FollowupStore(db), Outbox(db)
    old_done = add(store, 1, now=T0)
    add(store, 2, now=T0)  # old but still pending: kept
    store.complete(old_done, "passed", outbox, MESSAGE)
    assert store.prune(older_than=T0 + 1) == 1
    assert [f.task_id for f in store.pending()] == [2]
