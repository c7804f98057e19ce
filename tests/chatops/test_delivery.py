"""chatops/delivery.py: the outbox sender against the fake DingTalk, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import List

import httpx
import pytest

from chatops.delivery import OutboxSender
from chatops.dingtalk.messages import text_message
from chatops.dingtalk.sender import DingTalkSender
from chatops.state import Database, Outbox
from tests.fakes.dingtalk import TOO_FAST, WEBHOOK_PATH, FakeDingTalk, ok_json

API = "https://api.dingtalk.com"
T0 = 1_700_000_000.0


def target(cid: str) -> dict:
    return {
        "conversation_id": cid,
        "is_group": True,
        "user_id": "u1",
        "session_webhook": f"https://oapi.dingtalk.com/robot/sendBySession?session={cid}",
        "session_webhook_expires_ms": 32_503_680_000_000,
    }


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dingtalk() -> FakeDingTalk:
    return FakeDingTalk()


@pytest.fixture
def sleeps(clock: Clock) -> List[float]:
    return []


def make_sender(db: Database, dingtalk: FakeDingTalk, clock: Clock, sleeps: List[float], **kw):
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += seconds

    http = DingTalkSender(
        API, "key", "secret", "robot", transport=dingtalk.transport, max_attempts=1, clock=clock
    )
    options = dict(per_minute=20, burst=5, clock=clock, sleep=sleep, owner="replica-a")
    options.update(kw)
    return OutboxSender(Outbox(db, clock=clock), http, **options)


def queue(db: Database, clock: Clock, cid: str, *texts: str) -> List[int]:
    outbox = Outbox(db, clock=clock)
    return [outbox.enqueue(None, cid, target(cid), text_message(t)) for t in texts]


def posted(dingtalk: FakeDingTalk, cid: str) -> List[str]:
    return [
        json.loads(r.content)["text"]["content"]
        for r in dingtalk.calls(WEBHOOK_PATH)
        if r.url.params.get("session") == cid
    ]


async def test_a_conversation_gets_its_messages_in_order(db, dingtalk, clock, sleeps):
    queue(db, clock, "cid-1", "一", "二", "三")
    sender = make_sender(db, dingtalk, clock, sleeps)

    assert await sender.run_once() == 3

    assert posted(dingtalk, "cid-1") == ["一", "二", "三"]
    assert Outbox(db).counts() == {"sent": 3}
    assert await sender.run_once() == 0  # nothing is sent twice


async def test_pacing_is_per_conversation_not_global(db, dingtalk, clock, sleeps):
    """Ten groups each get a burst at once; none waits for the others (the 59 s p95)."""
    for n in range(10):
        queue(db, clock, f"cid-{n}", "a", "b", "c")
    sender = make_sender(db, dingtalk, clock, sleeps, lanes_at_once=10)

    assert await sender.run_once() == 30

    assert sleeps == []  # within every conversation's burst: no waiting at all
    assert all(posted(dingtalk, f"cid-{n}") == ["a", "b", "c"] for n in range(10))


async def test_a_conversation_never_gets_more_than_its_limit_in_a_minute(
    db, dingtalk, clock, sleeps
):
    queue(db, clock, "cid-1", *[f"m{n}" for n in range(45)])
    sent_at: List[float] = []
    sender = make_sender(
        db,
        dingtalk,
        clock,
        sleeps,
        per_minute=20,
        burst=5,
        on_sent=lambda message, now: sent_at.append(now),
    )

    while len(sent_at) < 45:
        await sender.run_once()
        clock.now += 1

    assert posted(dingtalk, "cid-1") == [f"m{n}" for n in range(45)]
    assert sent_at[:5] == [T0] * 5  # the burst goes at once
    for start in sent_at:  # at most 20 in any 60 seconds
        assert sum(1 for t in sent_at if start <= t < start + 60) <= 20


async def test_a_throttled_conversation_waits_ten_minutes_alone(db, dingtalk, clock, sleeps):
    queue(db, clock, "cid-hot", "x", "y")
    queue(db, clock, "cid-calm", "z")
    dingtalk.script(WEBHOOK_PATH, ok_json(TOO_FAST))  # DingTalk: 130101 for the first post
    sender = make_sender(db, dingtalk, clock, sleeps, lanes_at_once=1)

    await sender.run_once()  # cid-hot: throttled
    await sender.run_once()  # cid-calm is not held up
    assert posted(dingtalk, "cid-calm") == ["z"]
    outbox = Outbox(db, clock=clock)
    [first, second] = [m for m in outbox.messages() if m.conversation_id == "cid-hot"]
    assert (first.state, first.attempts) == ("queued", 0)  # a throttle is not its fault
    assert second.state == "queued"

    clock.now += 599
    assert await sender.run_once() == 0  # still inside DingTalk's 10 minutes
    clock.now += 1
    assert await sender.run_once() == 2
    assert posted(dingtalk, "cid-hot") == ["x", "x", "y"]  # the first post was refused


async def test_a_failure_is_retried_with_back_off_and_keeps_the_order(db, dingtalk, clock, sleeps):
    queue(db, clock, "cid-1", "first", "second")
    dingtalk.script(WEBHOOK_PATH, lambda: httpx.Response(502), lambda: httpx.Response(502))
    sender = make_sender(db, dingtalk, clock, sleeps, retry_base=2.0)

    await sender.run_once()
    assert await sender.run_once() == 0  # not again before its back-off
    clock.now += 2
    await sender.run_once()
    assert Outbox(db).counts() == {"queued": 2}  # "second" waits behind "first"
    clock.now += 4
    assert await sender.run_once() == 2
    # Three tries of "first" (two answered 502), then "second": the order held.
    assert posted(dingtalk, "cid-1") == ["first", "first", "first", "second"]


async def test_an_undeliverable_message_stops_after_the_limit_and_the_next_goes(
    db, dingtalk, clock, sleeps
):
    queue(db, clock, "cid-1", "doomed", "next")
    dingtalk.script(WEBHOOK_PATH, *[lambda: httpx.Response(502)] * 3)
    sender = make_sender(db, dingtalk, clock, sleeps, max_attempts=3, retry_base=1.0)

    for _ in range(4):
        await sender.run_once()
        clock.now += 10

    outbox = Outbox(db)
    [doomed, nxt] = outbox.messages()
    assert (doomed.state, doomed.attempts) == ("undeliverable", 3)
    assert "502" in doomed.last_error
    assert nxt.state == "sent"


async def test_a_refusal_for_good_is_undeliverable_at_once(db, dingtalk, clock, sleeps):
    """The robot was removed from the group: no retry every 2 s forever."""
    queue(db, clock, "cid-1", "result")
    dingtalk.webhook_answer = {"errcode": 300001, "errmsg": "session 不存在"}
    dingtalk.send_answer = (403, {"code": "Forbidden.AccessDenied", "message": "not in group"})
    sender = make_sender(db, dingtalk, clock, sleeps)

    await sender.run_once()
    await sender.run_once()

    [message] = Outbox(db).messages()
    assert (message.state, message.attempts) == ("undeliverable", 1)
    assert len(dingtalk.calls("/v1.0/robot/groupMessages/send")) == 1


async def test_two_replicas_send_each_message_once(db, dingtalk, clock, sleeps):
    for n in range(6):
        queue(db, clock, f"cid-{n}", "a", "b")
    one = make_sender(db, dingtalk, clock, sleeps, owner="replica-a")
    two = make_sender(db, dingtalk, clock, sleeps, owner="replica-b")

    results = await asyncio.gather(one.run_once(), two.run_once(), one.run_once())

    assert sum(results) == 12
    assert len(dingtalk.calls(WEBHOOK_PATH)) == 12
    assert all(posted(dingtalk, f"cid-{n}") == ["a", "b"] for n in range(6))


async def test_a_lane_that_fails_is_logged_not_swallowed(db, dingtalk, clock, sleeps, caplog):
    sender = make_sender(db, dingtalk, clock, sleeps)
    queue(db, clock, "cidX", "hello")

    def broken(conversation_id):
        raise RuntimeError("row cannot be read")

    sender.outbox.next_message = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="chatops.delivery"):
        await sender.run_once()

    assert "outbox lane for cidX failed" in caplog.text
    assert "row cannot be read" in caplog.text


async def test_a_send_the_global_cap_refuses_costs_the_conversation_nothing(
    db, dingtalk, clock, sleeps
):
    sender = make_sender(db, dingtalk, clock, sleeps, global_per_minute=1)
    queue(db, clock, "cidA", "first")
    await sender.run_once()
    queue(db, clock, "cidB", "second")

    await sender.run_once()  # the robot-wide bucket is empty for a minute

    assert posted(dingtalk, "cidA") == ["first"] and posted(dingtalk, "cidB") == []
    # cidB's own bucket is still full: the refused send spent none of its burst of 5.
    waits = [sender.outbox.take_token("cidB", 15, 5) for _ in range(6)]
    assert waits[:5] == [0.0] * 5 and waits[5] > 0
