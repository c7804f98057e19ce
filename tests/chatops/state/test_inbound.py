"""chatops/state/inbound.py: msgIds accepted once, and messages a crash left unanswered."""

from __future__ import annotations

from chatops.state import Database, InboundLog, Outbox

T0 = 1_700_000_000.0
TARGET = {"conversation_id": "cid-1", "is_group": True, "user_id": "u1"}


def test_accept_is_true_once(db: Database):
    log = InboundLog(db)
    assert log.accept("msgA==", now=T0)
    assert log.accept("msgA==", now=T0 + 1) is False
    assert log.accept("msgB==", now=T0 + 2)


def test_accept_once_across_two_replicas_and_a_restart(db: Database, other: Database):
    assert InboundLog(db).accept("msgA==", now=T0)
    assert InboundLog(other).accept("msgA==", now=T0 + 1) is False
    restarted = InboundLog(Database.open(str(db.engine.url)))
    assert restarted.accept("msgA==", now=T0 + 2) is False


def test_old_message_ids_are_pruned_eventually(db: Database):
    log = InboundLog(db, keep_seconds=100)
    assert log.accept("old", now=T0)
    prune_at = T0 + 100 + 10  # past keep_seconds and the pruning interval (keep/10)
    assert log.accept("new", now=prune_at)
    assert log.accept("old", now=prune_at + 1) is True
    assert log.accept("new", now=prune_at + 1) is False


def test_message_ids_are_remembered_for_the_whole_retention_window(db: Database):
    """A re-delivery inside the window is refused even when pruning ran in between (the
    double-deploy path: DingTalk re-sends a message it thinks was lost)."""
    log = InboundLog(db, keep_seconds=100)
    assert log.accept("deploy-prod", now=T0)
    # Later traffic triggers pruning several times while "deploy-prod" is 10-90 s old.
    for offset in (10, 30, 50, 70, 90):
        assert log.accept(f"other-{offset}", now=T0 + offset)
    assert log.accept("deploy-prod", now=T0 + 95) is False


def test_a_finished_message_is_never_reported_lost(db: Database):
    log, outbox = InboundLog(db), Outbox(db)
    log.accept("msgA==", conversation_id="cid-1", text="把订单服务发到测试环境", now=T0)
    with db.begin() as conn:
        outbox.enqueue(conn, "cid-1", TARGET, {"msgtype": "text", "text": {"content": "好"}})
        log.finish(conn, "msgA==", now=T0 + 1)
    assert log.claim_lost(older_than=T0 + 1000) == []
    assert log.get("msgA==").state == "answered"


def test_an_unanswered_message_is_handed_out_once_as_lost(db: Database, other: Database):
    log = InboundLog(db)
    log.accept(
        "msgA==",
        conversation_id="cid-1",
        sender_key="cid-1:u1",
        text="把订单服务发到生产环境",
        target=TARGET,
        now=T0,
    )
    log.accept("msgB==", conversation_id="cid-1", now=T0 + 100)
    assert log.claim_lost(older_than=T0) == []  # not old enough yet
    [lost] = log.claim_lost(older_than=T0 + 50)
    assert (lost.msg_id, lost.text, lost.target, lost.sender_key) == (
        "msgA==",
        "把订单服务发到生产环境",
        TARGET,
        "cid-1:u1",
    )
    assert InboundLog(other).claim_lost(older_than=T0 + 50) == []  # another replica: nothing
    assert log.unanswered() == 1  # msgB is still being worked on
