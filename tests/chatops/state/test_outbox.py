"""chatops/state/outbox.py: durable messages, one lane per conversation, token buckets."""

from __future__ import annotations

from chatops.state import Database, Outbox

T0 = 1_700_000_000.0


def target(cid: str) -> dict:
    return {"conversation_id": cid, "is_group": True, "user_id": "u1"}


def text(content: str) -> dict:
    return {"msgtype": "text", "text": {"content": content}}


def test_messages_of_a_conversation_come_out_in_order(db: Database):
    outbox = Outbox(db)
    for n in range(3):
        outbox.enqueue(None, "cid-1", target("cid-1"), text(f"m{n}"), now=T0 + n)
    seen = []
    while (message := outbox.next_message("cid-1", now=T0 + 10)) is not None:
        seen.append(message.message["text"]["content"])
        outbox.mark_sent(message.id, "session_webhook", now=T0 + 10)
    assert seen == ["m0", "m1", "m2"]
    assert outbox.counts() == {"sent": 3}


def test_a_message_waiting_for_a_retry_holds_back_the_ones_after_it(db: Database):
    outbox = Outbox(db)
    first = outbox.enqueue(None, "cid-1", target("cid-1"), text("first"), now=T0)
    outbox.enqueue(None, "cid-1", target("cid-1"), text("second"), now=T0)
    outbox.retry_later(first, "HTTP 502", at=T0 + 30)
    assert outbox.next_message("cid-1", now=T0 + 1) is None
    assert outbox.due_conversations(now=T0 + 1) == []
    assert outbox.next_message("cid-1", now=T0 + 30).id == first
    assert outbox.get(first).attempts == 1


def test_one_replica_at_a_time_holds_a_conversations_lane(db: Database, other: Database):
    mine, theirs = Outbox(db), Outbox(other)
    mine.enqueue(None, "cid-1", target("cid-1"), text("x"), now=T0)
    mine.enqueue(None, "cid-2", target("cid-2"), text("y"), now=T0)
    assert mine.lease("cid-1", "replica-a", 30, 5, now=T0)
    assert theirs.lease("cid-1", "replica-b", 30, 5, now=T0 + 1) is False
    assert theirs.due_conversations(now=T0 + 1) == ["cid-2"]
    mine.release("cid-1", "replica-a")
    assert theirs.lease("cid-1", "replica-b", 30, 5, now=T0 + 2)
    # A replica that died holding a lane loses it when the lease runs out.
    assert mine.lease("cid-1", "replica-a", 30, 5, now=T0 + 33)


def test_a_blocked_conversation_waits_alone(db: Database):
    outbox = Outbox(db)
    outbox.enqueue(None, "cid-1", target("cid-1"), text("x"), now=T0)
    outbox.enqueue(None, "cid-2", target("cid-2"), text("y"), now=T0)
    outbox.lease("cid-1", "me", 30, 5, now=T0)
    outbox.block("cid-1", until=T0 + 600)
    assert outbox.due_conversations(now=T0 + 1) == ["cid-2"]
    assert outbox.lease("cid-1", "me", 30, 5, now=T0 + 1) is False
    assert outbox.due_conversations(now=T0 + 600) == ["cid-1", "cid-2"]


def test_token_bucket_allows_a_burst_then_the_refill_rate(db: Database):
    outbox = Outbox(db)
    waits = [outbox.take_token("cid-1", 15, 5, now=T0) for _ in range(6)]
    assert waits[:5] == [0.0] * 5
    assert waits[5] == 4.0  # 15 a minute: one every 4 s
    assert outbox.take_token("cid-1", 15, 5, now=T0 + 4) == 0.0
    # Another conversation has its own bucket.
    assert outbox.take_token("cid-2", 15, 5, now=T0) == 0.0


def test_an_undeliverable_message_is_kept_visibly(db: Database):
    outbox = Outbox(db)
    m = outbox.enqueue(None, "cid-1", target("cid-1"), text("x"), now=T0)
    outbox.undeliverable(m, "DingTalk refused the message (HTTP 400): robot not in group")
    assert outbox.get(m).state == "undeliverable"
    assert outbox.get(m).last_error.startswith("DingTalk refused")
    assert outbox.next_message("cid-1", now=T0 + 1) is None
    assert outbox.counts() == {"undeliverable": 1}


def test_prune_keeps_what_is_still_queued(db: Database):
    outbox = Outbox(db)
    sent = outbox.enqueue(None, "cid-1", target("cid-1"), text("old"), now=T0)
    outbox.mark_sent(sent, "session_webhook", now=T0)
    outbox.enqueue(None, "cid-1", target("cid-1"), text("waiting"), now=T0)
    assert outbox.prune(older_than=T0 + 10) == 1
    assert [m.message["text"]["content"] for m in outbox.messages()] == ["waiting"]


def test_a_message_queued_in_a_transaction_that_fails_is_not_sent(db: Database):
    outbox = Outbox(db)
    try:
        with db.begin() as conn:
            outbox.enqueue(conn, "cid-1", target("cid-1"), text("x"), now=T0)
            raise RuntimeError("the rest of the turn failed")
    except RuntimeError:
        pass
    assert outbox.messages() == []
