"""chatops/state/approvals.py: requests decided once, by compare-and-set, across replicas."""

from __future__ import annotations

import pytest

from chatops.state import ApprovalStore, Database

T0 = 1_700_000_000.0
PLAN = {"services": ["order-service"], "environment": "prod", "branch": "master"}


def make(store: ApprovalStore, required: int = 1, ttl: float = 1800):
    return store.create(
        kind="deploy",
        environment="prod",
        plan=PLAN,
        summary="order-service → prod（分支 master）",
        requester="user123",
        requester_nick="张三",
        requester_sender="cid-1:user123",
        conversation_id="cid-1",
        target={"conversation_id": "cid-1", "is_group": True, "user_id": "user123"},
        ttl=ttl,
        required=required,
        now=T0,
    )


def test_requests_are_numbered_and_kept(db: Database):
    store = ApprovalStore(db)
    first, second = make(store), make(store)
    assert second.id == first.id + 1
    again = store.get(first.id)
    assert (again.state, again.plan, again.requester_nick, again.expires_at) == (
        "pending",
        PLAN,
        "张三",
        T0 + 1800,
    )
    assert [r.id for r in store.pending("cid-1")] == [first.id, second.id]


def test_one_approval_decides_it_once_even_when_two_approvers_race(db: Database, other: Database):
    request = make(ApprovalStore(db))
    mine = ApprovalStore(db).approve(request, "lead01", "李四", now=T0 + 60)
    theirs = ApprovalStore(other).approve(request, "lead02", "王五", now=T0 + 61)
    assert mine is not None and mine.state == "approved"
    assert (mine.decided_by, mine.decided_nick, mine.approver_nicks) == ("lead01", "李四", ["李四"])
    assert theirs is None  # the version moved on: that vote did not count


def test_two_required_approvals(db: Database):
    store = ApprovalStore(db)
    request = make(store, required=2)
    first = store.approve(request, "lead01", "李四", now=T0 + 1)
    assert first.state == "pending" and first.approver_nicks == ["李四"]
    assert store.approve(first, "lead01", "李四", now=T0 + 2) is None  # no double vote
    second = store.approve(first, "lead02", "王五", now=T0 + 3)
    assert second.state == "approved" and second.approver_nicks == ["李四", "王五"]


def test_reject_and_a_late_approval(db: Database):
    store = ApprovalStore(db)
    request = make(store)
    rejected = store.reject(request, "lead01", "李四", "版本号不对", now=T0 + 5)
    assert (rejected.state, rejected.reason, rejected.decided_nick) == (
        "rejected",
        "版本号不对",
        "李四",
    )
    assert store.approve(request, "lead02", "王五", now=T0 + 6) is None


def test_expiry_is_claimed_once_and_beats_a_late_approval(db: Database, other: Database):
    request = make(ApprovalStore(db), ttl=60)
    assert ApprovalStore(db).expire_due(now=T0 + 59) == []
    [expired] = ApprovalStore(db).expire_due(now=T0 + 60)
    assert expired.state == "expired"
    assert ApprovalStore(other).expire_due(now=T0 + 61) == []
    assert ApprovalStore(db).approve(request, "lead01", "李四", now=T0 + 30) is None


def test_an_approval_after_its_time_does_not_count_before_the_sweep(db: Database):
    store = ApprovalStore(db)
    request = make(store, ttl=60)
    assert store.approve(request, "lead01", "李四", now=T0 + 61) is None


@pytest.mark.parametrize("outcome", ["triggered", "failed"])
def test_what_happened_after_the_approval_is_recorded(db: Database, outcome):
    store = ApprovalStore(db)
    approved = store.approve(make(store), "lead01", "李四", now=T0 + 1)
    if outcome == "triggered":
        store.triggered(approved, "mall-prod", 12)
        assert (store.get(approved.id).workflow_key, store.get(approved.id).task_id) == (
            "mall-prod",
            12,
        )
    else:
        store.failed(approved, "Zadig timed out")
        assert store.get(approved.id).reason == "Zadig timed out"
    assert store.get(approved.id).state == outcome
