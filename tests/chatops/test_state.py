"""chatops/state.py: follow-up rows and msgId de-duplication, also from two "processes"."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from chatops.state import DELIVERED, DELIVERING, PENDING, FollowupStore, SeenMessages

T0 = 1_700_000_000.0
TARGET = {"conversation_id": "cid-1", "robot_code": "ding-robot", "webhook": "https://x/y"}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "var" / "state.db"  # the folder does not exist yet


@pytest.fixture
def store(db: Path) -> Iterator[FollowupStore]:
    s = FollowupStore(db)
    yield s
    s.close()


@pytest.fixture
def other(db: Path, store: FollowupStore) -> Iterator[FollowupStore]:
    """A second connection to the same file: what a second process sees."""
    s = FollowupStore(db)
    yield s
    s.close()


def add(store: FollowupStore, task_id: int, **kw: Any):
    args = dict(
        project_key="mall",
        workflow_key="mall-dev",
        task_id=task_id,
        service="order-service",
        environment="dev",
        sender_id="u1",
        conversation_id="cid-1",
        target=TARGET,
        now=T0,
        first_poll_in=2.0,
    )
    args.update(kw)
    return store.add(**args)


def test_add_records_everything_and_creates_the_folder(store: FollowupStore, db: Path):
    f = add(store, 7)
    assert db.exists()
    assert (
        f.project_key,
        f.workflow_key,
        f.task_id,
        f.service,
        f.environment,
        f.sender_id,
        f.conversation_id,
        f.target,
    ) == ("mall", "mall-dev", 7, "order-service", "dev", "u1", "cid-1", TARGET)
    assert (f.created_at, f.next_poll_at, f.polls, f.state, f.result_status) == (
        T0,
        T0 + 2.0,
        0,
        PENDING,
        None,
    )
    assert store.get("mall-dev", 7) == f
    assert store.get("mall-dev", 8) is None


def test_add_is_idempotent_per_workflow_and_task(store: FollowupStore):
    first = add(store, 7)
    again = add(store, 7, service="other", target={"x": 1}, now=T0 + 100)
    assert again == first
    assert len(store.pending()) == 1
    # The same task number in another workflow is another row.
    assert add(store, 7, workflow_key="mall-test").id != first.id
    assert len(store.pending()) == 2


def test_add_without_target_stores_none(store: FollowupStore):
    assert add(store, 1, target=None).target is None


def test_due_is_ordered_by_next_poll_and_respects_time_and_limit(store: FollowupStore):
    a = add(store, 1, first_poll_in=5)
    b = add(store, 2, first_poll_in=1)
    c = add(store, 3, first_poll_in=3)
    assert store.due(T0) == []
    assert [f.id for f in store.due(T0 + 3)] == [b.id, c.id]
    assert [f.id for f in store.due(T0 + 10)] == [b.id, c.id, a.id]
    assert [f.id for f in store.due(T0 + 10, limit=2)] == [b.id, c.id]

    store.reschedule(b.id, T0 + 20)
    assert [f.id for f in store.due(T0 + 10)] == [c.id, a.id]
    moved = store.get("mall-dev", 2)
    assert (moved.next_poll_at, moved.polls) == (T0 + 20, 1)
    store.reschedule(b.id, T0 + 30)
    assert store.get("mall-dev", 2).polls == 2


def test_claimed_rows_are_neither_due_nor_rescheduled(store: FollowupStore):
    f = add(store, 1)
    assert store.claim(f.id) is True
    assert store.due(T0 + 100) == []
    store.reschedule(f.id, T0 + 5)
    row = store.get("mall-dev", 1)
    assert (row.state, row.polls, row.next_poll_at) == (DELIVERING, 0, T0 + 2)


def test_claim_succeeds_only_once(store: FollowupStore):
    f = add(store, 1)
    assert store.claim(f.id) is True
    assert store.claim(f.id) is False
    assert store.claim(9999) is False


def test_claim_only_once_across_two_processes(store: FollowupStore, other: FollowupStore):
    f = add(store, 1)
    assert other.get("mall-dev", 1) == f  # the other process sees the row
    results = [other.claim(f.id), store.claim(f.id), other.claim(f.id)]
    assert results == [True, False, False]


def test_release_makes_a_claimed_row_due_again(store: FollowupStore, other: FollowupStore):
    f = add(store, 1)
    store.release(f.id, T0 + 50)  # not claimed: nothing happens
    assert store.get("mall-dev", 1).next_poll_at == T0 + 2
    assert store.claim(f.id)
    store.release(f.id, T0 + 50)
    row = other.get("mall-dev", 1)
    assert (row.state, row.next_poll_at) == (PENDING, T0 + 50)
    assert [r.id for r in other.due(T0 + 50)] == [f.id]
    assert other.claim(f.id) is True


def test_mark_delivered_is_final(store: FollowupStore):
    f = add(store, 1)
    g = add(store, 2)
    assert store.claim(f.id)
    store.mark_delivered(f.id, "passed")
    row = store.get("mall-dev", 1)
    assert (row.state, row.result_status) == (DELIVERED, "passed")
    assert store.claim(f.id) is False
    store.release(f.id, T0)
    assert store.get("mall-dev", 1).state == DELIVERED
    assert [r.id for r in store.pending()] == [g.id]
    assert [r.id for r in store.due(T0 + 100)] == [g.id]


def test_recover_interrupted_returns_delivering_rows_to_pending(db: Path):
    crashed = FollowupStore(db)
    a, b, c = add(crashed, 1), add(crashed, 2), add(crashed, 3)
    assert crashed.claim(a.id) and crashed.claim(b.id)
    crashed.mark_delivered(b.id, "failed")
    crashed.close()  # the process dies between claim(a) and its delivery

    restarted = FollowupStore(db)
    try:
        assert restarted.recover_interrupted() == 1
        assert restarted.get("mall-dev", 1).state == PENDING
        assert restarted.get("mall-dev", 2).state == DELIVERED
        assert {r.id for r in restarted.due()} == {a.id, c.id}
        assert restarted.recover_interrupted() == 0
    finally:
        restarted.close()


def test_latest_for_conversation(store: FollowupStore):
    assert store.latest_for_conversation("cid-1") is None
    add(store, 1, now=T0)
    newest = add(store, 2, now=T0 + 10)
    add(store, 3, now=T0 + 5)
    add(store, 4, now=T0 + 50, conversation_id="cid-2")
    assert store.latest_for_conversation("cid-1") == newest
    # Same created_at: the later row wins.
    same = add(store, 5, now=T0 + 10)
    assert store.latest_for_conversation("cid-1") == same
    assert store.latest_for_conversation("cid-2").task_id == 4


# -- SeenMessages --------------------------------------------------------------------------------


def test_first_time_is_true_once(db: Path):
    seen = SeenMessages(db)
    try:
        assert seen.first_time("msg-1", now=T0) is True
        assert seen.first_time("msg-1", now=T0 + 1) is False
        assert seen.first_time("msg-2", now=T0 + 1) is True
    finally:
        seen.close()


def test_first_time_across_two_processes_and_a_restart(db: Path):
    a, b = SeenMessages(db), SeenMessages(db)
    try:
        assert a.first_time("msg-1", now=T0) is True
        assert b.first_time("msg-1", now=T0) is False
        assert b.first_time("msg-2", now=T0) is True
        assert a.first_time("msg-2", now=T0) is False
    finally:
        a.close()
        b.close()
    restarted = SeenMessages(db)
    try:
        assert restarted.first_time("msg-1") is False
    finally:
        restarted.close()


def test_old_message_ids_are_pruned_eventually(db: Path):
    seen = SeenMessages(db, keep_seconds=100)
    try:
        assert seen.first_time("old", now=T0)
        prune_at = T0 + 100 + 10  # past keep_seconds and the pruning interval (keep/10)
        assert seen.first_time("new", now=prune_at)
        assert seen.first_time("old", now=prune_at + 1) is True
        assert seen.first_time("new", now=prune_at + 1) is False
    finally:
        seen.close()


def test_message_ids_are_remembered_for_the_whole_retention_window(db: Path):
    """A re-delivery inside the window is refused even when pruning ran in between (the
    double-deploy path: DingTalk re-sends a message it thinks was lost)."""
    seen = SeenMessages(db, keep_seconds=100)
    try:
        assert seen.first_time("deploy-prod", now=T0)
        # Later traffic triggers pruning several times while "deploy-prod" is 10-90 s old.
        for offset in (10, 30, 50, 70, 90):
            assert seen.first_time(f"other-{offset}", now=T0 + offset)
        assert seen.first_time("deploy-prod", now=T0 + 95) is False
    finally:
        seen.close()
