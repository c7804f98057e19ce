"""Two replicas of the bot sharing PostgreSQL and Redis, as deploy/ runs them: one conversation
spread over both, and a replica killed with ``kill -9`` in the middle of a conversation and of a
deploy.

The cluster (`devstack.cluster`): the two simulators, two Rasa servers each with its own action
server, Rasa's tracker store and the bot's state in fresh schemas of the real PostgreSQL, the
atomic lock store on the real Redis (`scripts/services.sh`; CHATOPS_TEST_PG_URL and
CHATOPS_TEST_REDIS_URL; with CHATOPS_REQUIRE_SERVICES=1 a missing one fails the module). The
bot's own defaults hold (DingTalk pacing 20 a minute per conversation, burst 5) except three
waits shortened so the module runs in about 90 s on 2 CPUs (start-up about 35 s):
the Zadig task times, INBOUND_LOST_SECONDS (120 s -> 20 s: when the sweeper calls an unanswered
message lost) and TICKET_LOCK_LIFETIME (Rasa's 60 s -> 12 s: how long the conversation lock
of a replica that died stays taken).
"""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List

import httpx
import pytest
from sqlalchemy import text

from devstack.cluster import Cluster, ClusterChat
from devstack.stack import newest_model
from tests.services import postgres_url, redis_url

pytestmark = pytest.mark.e2e

# A message waiting for the lock of a dead replica is not lost: the sweeper must wait longer
# than that lock lives (120 s and 60 s by default), or it says "没有处理完" about a message that
# is answered a moment later.
TICKET_LOCK_LIFETIME = 12
INBOUND_LOST_SECONDS = 20.0
# (what people say, catalog name): services and environments a conversation deploys to.
SERVICES = [
    ("订单服务", "order-service"),
    ("支付服务", "payment-service"),
    ("库存服务", "inventory-service"),
    ("用户服务", "user-service"),
    ("通知服务", "notification-service"),
]
ENVIRONMENTS = [("测试环境", "test"), ("开发环境", "dev"), ("预发", "uat")]
RESULT = re.compile(r"发布(成功|失败|超时|已取消|被拒绝)：")


def model_under_test() -> Path:
    chosen = os.environ.get("CHATOPS_MODEL")
    model = Path(chosen) if chosen else newest_model()
    if model is None:
        pytest.fail("no trained model in models/: run `make model` (make e2e does) first")
    return model


def zadig_triggers(zadig: httpx.Client) -> List[Dict]:
    requests = zadig.get("/_sim/requests").json()
    requests = requests.get("requests", requests) if isinstance(requests, dict) else requests
    return [
        r
        for r in requests
        if r["method"] == "POST" and r["path"] == "/openapi/workflows/custom/task"
    ]


@pytest.fixture(scope="module")
def cluster():
    pg, redis = postgres_url(), redis_url()
    c = Cluster(
        model=model_under_test(),
        pg_url=pg,
        redis_url=redis,
        rasa_db=os.environ.get("CHATOPS_TEST_PG_RASA_DB", "rasa"),
        stack_options=dict(
            waiting_seconds=0.3,
            running_seconds=1.5,
            followup_interval=0.5,
            # The simulator's limit counts the whole robot; the bot paces each conversation.
            dingtalk_rate_limit=0,
            extra_env={
                "INBOUND_LOST_SECONDS": str(INBOUND_LOST_SECONDS),
                "TICKET_LOCK_LIFETIME": str(TICKET_LOCK_LIFETIME),
            },
        ),
    )
    c.start()
    yield c
    c.stop()


@pytest.fixture
def zadig_sim(cluster):
    with httpx.Client(base_url=cluster.zadig_url, timeout=10) as client:
        client.post("/_sim/fault", json={"mode": "ok"})
        client.delete("/_sim/requests")
        client.post("/_sim/config", json={"waiting_seconds": 0.3, "running_seconds": 1.5})
        yield client
        client.post("/_sim/fault", json={"mode": "ok"})


class Chatroom:
    """Every message the bot posted (the DingTalk simulator's record), by conversation."""

    def __init__(self, cluster: Cluster) -> None:
        self.http = httpx.Client(base_url=cluster.dingtalk_url, timeout=10)
        self.seen = self.http.get("/_sim/messages", params={"since": 10**9}).json()["next"]
        self.by_conversation: Dict[str, List[Dict]] = {}

    def poll(self) -> None:
        data = self.http.get("/_sim/messages", params={"since": self.seen}).json()
        self.seen = data["next"]
        for message in data["messages"]:
            self.by_conversation.setdefault(message["conversation"], []).append(message)

    def of(self, conversation: str) -> List[Dict]:
        return self.by_conversation.get(conversation, [])

    def wait(self, until: Callable[["Chatroom"], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if until(self):
                return True
            time.sleep(0.25)
        self.poll()
        return until(self)

    def close(self) -> None:
        self.http.close()


def replies(messages: List[Dict]) -> List[str]:
    """Answers to what people said (everything but the unprompted task results)."""
    return [m["text"] for m in messages if not RESULT.search(m["text"])]


def results(messages: List[Dict]) -> List[str]:
    return [m["text"] for m in messages if RESULT.search(m["text"])]


def show(messages: List[Dict]) -> str:
    return "\n---\n".join(m["text"] for m in messages)


def rows(cluster: Cluster, sql: str, **params) -> List:
    with cluster.engine("bot").connect() as conn:
        return conn.execute(text(sql), params).all()


def interleaved_turns(cluster: Cluster, sender_id: str) -> List[str]:
    """Where Rasa's tracker shows a user message arriving before the previous turn ended
    (its ``action_listen``): the mark of two replicas running one conversation at once."""
    with cluster.engine("rasa").connect() as conn:
        events = conn.execute(
            text("SELECT type_name, action_name FROM events WHERE sender_id = :s ORDER BY id"),
            {"s": sender_id},
        ).all()
    problems, in_turn = [], False
    for index, (kind, action) in enumerate(events):
        if kind == "user":
            if in_turn:
                problems.append(f"user event #{index} inside an unfinished turn")
            in_turn = True
        elif kind == "action" and action == "action_listen":
            in_turn = False
    return problems


def deploy_conversations(cluster: Cluster, label: str, n: int) -> List[Dict]:
    stamp = time.time_ns()
    conversations = []
    for i in range(n):
        said, service = SERVICES[i % len(SERVICES)]
        env_said, env = ENVIRONMENTS[i % len(ENVIRONMENTS)]
        chat = ClusterChat(
            cluster, conversation=f"cid-rep-{label}-{i}-{stamp}", user=f"rep{i}", nick=f"副本{i}"
        )
        conversations.append(
            dict(
                chat=chat,
                service=service,
                env=env,
                turns=[f"把{said}发到{env_said}", "刚才的发布怎么样了", "有哪些服务"],
            )
        )
    return conversations


def check_round(
    cluster: Cluster, zadig: httpx.Client, room: Chatroom, conversations: List[Dict], ordered: bool
):
    try:
        ids = [c["chat"].conversation for c in conversations]
        complete = room.wait(
            lambda r: all(len(r.of(i)) >= 4 for i in ids), timeout=60
        )  # three answers and the result
        time.sleep(2.0)  # the follow-up worker runs every 0.5 s: a double would show by now
        room.poll()
        for conv in conversations:
            got = room.of(conv["chat"].conversation)
            answers, done = replies(got), results(got)
            subject = f"{conv['service']} → {conv['env']}"
            assert complete and len(answers) == 3, show(got)
            assert done == [d for d in done if f"发布成功：{subject}" in d] and len(done) == 1, (
                show(got)
            )
            assert sum("已开始发布" in a for a in answers) == 1, show(got)
            assert sum("的服务：" in a for a in answers) == 1, show(got)
            if ordered:
                assert f"已开始发布 {subject}" in answers[0], show(got)
                assert f"{subject}（" in answers[1] and "详情" in answers[1], show(got)
                assert "的服务：" in answers[2], show(got)
            sender = f"{conv['chat'].conversation}:{conv['chat'].user}"
            assert interleaved_turns(cluster, sender) == [], sender
        # One deploy per conversation: one follow-up row each, one trigger each in Zadig.
        counts = dict(
            rows(
                cluster,
                "SELECT conversation_id, count(*) FROM followups "
                "WHERE conversation_id = ANY(:ids) GROUP BY conversation_id",
                ids=ids,
            )
        )
        assert counts == {i: 1 for i in ids}
        assert len(zadig_triggers(zadig)) == len(conversations)
        # Every message answered once; every reply queued was sent once.
        states = rows(
            cluster,
            "SELECT state, count(*) FROM inbound WHERE conversation_id = ANY(:ids) GROUP BY state",
            ids=ids,
        )
        assert dict(states) == {"answered": 3 * len(conversations)}
        sent = dict(
            rows(
                cluster,
                "SELECT conversation_id, count(*) FROM outbox "
                "WHERE conversation_id = ANY(:ids) AND state = 'sent' GROUP BY conversation_id",
                ids=ids,
            )
        )
        assert sent == {i: len(room.of(i)) for i in ids}
    finally:
        room.close()
        for conv in conversations:
            conv["chat"].close()


def test_one_conversation_over_both_replicas_spaced(cluster, zadig_sim):
    """10 conversations at once, each message to the other replica than the one before, half a
    second apart (less than a turn takes under this load, so turns of one conversation overlap
    on the two replicas): every message answered once and in order, one deploy each, each
    result posted once, and no turn interleaved in Rasa's tracker."""
    conversations = deploy_conversations(cluster, "spaced", 10)
    room = Chatroom(cluster)

    def talk(index: int, conv: Dict) -> None:
        for k, said in enumerate(conv["turns"]):
            conv["chat"].say_to((index + k) % 2, said)
            time.sleep(0.5)

    with ThreadPoolExecutor(len(conversations)) as pool:
        list(pool.map(talk, range(len(conversations)), conversations))
    check_round(cluster, zadig_sim, room, conversations, ordered=True)


def test_one_conversation_over_both_replicas_at_once(cluster, zadig_sim):
    """The lock race itself: each conversation's three messages arrive at the same moment, on
    both replicas. Which turn runs first is then up to the lock; each must still run alone
    (no interleaved tracker), be answered once, and deploy once."""
    conversations = deploy_conversations(cluster, "burst", 10)
    room = Chatroom(cluster)
    start = threading.Barrier(len(conversations) * 3)

    def say(index: int, conv: Dict, k: int) -> None:
        start.wait()
        conv["chat"].say_to((index + k) % 2, conv["turns"][k])

    with ThreadPoolExecutor(len(conversations) * 3) as pool:
        jobs = [
            pool.submit(say, i, conv, k) for i, conv in enumerate(conversations) for k in range(3)
        ]
        for job in jobs:
            job.result()
    check_round(cluster, zadig_sim, room, conversations, ordered=False)


def test_a_replica_killed_mid_conversation_and_mid_deploy(cluster, zadig_sim):
    """kill -9 replica 1 after it started a deploy and while it runs a turn: the conversation
    goes on through replica 0, the result is posted once, replies replica 1 had queued are
    delivered, and the message it never answered gets the "没有处理完" notice from replica
    0's sweeper. Replica 1 then comes back and answers again."""
    stamp = time.time_ns()
    deployer = ClusterChat(cluster, conversation=f"cid-kill-{stamp}", user="killer", nick="甲")
    helper = ClusterChat(cluster, conversation=f"cid-kill-paced-{stamp}", user="pacer", nick="乙")
    room = Chatroom(cluster)
    restarter = None
    try:
        zadig_sim.post("/_sim/config", json={"running_seconds": 15})
        deployer.say_to(1, "把支付服务发到测试环境")
        assert room.wait(
            lambda r: any("已开始发布" in t for t in replies(r.of(deployer.conversation))), 20
        )
        # Seven answers for one conversation: five go out at once (the burst), the rest wait
        # for the pacing, in replica 1's outbox lane.
        for _ in range(7):
            helper.say_to(1, "帮助")
            time.sleep(0.2)

        def queued_behind_pacing() -> bool:
            states = dict(
                rows(
                    cluster,
                    "SELECT state, count(*) FROM outbox WHERE conversation_id = :c GROUP BY state",
                    c=helper.conversation,
                )
            )
            return states.get("queued", 0) > 0 and sum(states.values()) == 7

        deadline = time.monotonic() + 20
        while not queued_behind_pacing() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert queued_behind_pacing()

        # A status question that replica 1 accepts and is still working on (Zadig answers
        # slowly) when it dies.
        zadig_sim.post("/_sim/fault", json={"mode": "slow", "seconds": 10})
        lost = deployer.say_to(1, "刚才的发布怎么样了")
        assert lost["status"] == 200
        time.sleep(1.0)
        [(state,)] = rows(cluster, "SELECT state FROM inbound WHERE msg_id = :m", m=lost["msg_id"])
        assert state == "received"
        cluster.kill(1)
        zadig_sim.post("/_sim/fault", json={"mode": "ok"})
        restarter = threading.Thread(target=cluster.restart, args=(1,))
        restarter.start()

        # The conversation goes on through replica 0 (after the dead replica's ticket expires).
        deployer.say_to(0, "有哪些环境")
        mine = deployer.conversation

        def settled(r: Chatroom) -> bool:
            got = r.of(mine)
            return (
                any("可以发布的环境" in t for t in replies(got))
                and any("没有处理完" in t for t in replies(got))
                and len(results(got)) >= 1
                and len(r.of(helper.conversation)) >= 7
            )

        assert room.wait(settled, timeout=INBOUND_LOST_SECONDS + 40), show(room.of(mine))
        restarter.join(timeout=120)
        assert cluster.replica(1).alive
        deployer.say_to(1, "帮助")  # the restarted replica answers again
        assert room.wait(lambda r: any("我能做这些事" in t for t in replies(r.of(mine))), 30)
        time.sleep(2.0)
        room.poll()

        got = room.of(mine)
        notice = [t for t in replies(got) if "没有处理完" in t]
        assert len(notice) == 1 and "刚才的发布怎么样了" in notice[0], show(got)
        assert results(got) == [t for t in results(got) if "发布成功：payment-service → test" in t]
        assert len(results(got)) == 1, show(got)
        helped = room.of(helper.conversation)
        assert len(helped) == 7 and all("我能做这些事" in m["text"] for m in helped), show(helped)

        ids = [mine, helper.conversation]
        states = dict(
            rows(
                cluster,
                "SELECT state, count(*) FROM inbound WHERE conversation_id = ANY(:ids) "
                "GROUP BY state",
                ids=ids,
            )
        )
        assert states == {"answered": 1 + 7 + 2, "lost": 1}
        outbox = rows(
            cluster,
            "SELECT conversation_id, state, count(*) FROM outbox WHERE conversation_id = ANY(:ids) "
            "GROUP BY conversation_id, state",
            ids=ids,
        )
        assert {(c, s): n for c, s, n in outbox} == {
            (mine, "sent"): len(got),
            (helper.conversation, "sent"): 7,
        }
        [(followups, followup_state)] = rows(
            cluster,
            "SELECT count(*), min(state) FROM followups WHERE conversation_id = :c",
            c=mine,
        )
        assert (followups, followup_state) == (1, "delivered")
        assert len(zadig_triggers(zadig_sim)) == 1
    finally:
        if restarter is not None:
            restarter.join(timeout=120)
        room.close()
        deployer.close()
        helper.close()
