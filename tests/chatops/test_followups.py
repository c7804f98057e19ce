"""chatops/followups.py: FollowupWorker with a fake Zadig, a fake notify and a settable clock."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any, Dict, List, Tuple

import httpx
import pytest

from chatops.followups import FollowupWorker
from chatops.state import DELIVERED, FAILED, PENDING, Database, FollowupStore, Outbox
from chatops.zadig.client import ZadigClient
from tests.fakes.zadig import FakeZadig, no_documents, ok

WEB = "https://zadig.example.com"
LINK = f"{WEB}/v1/projects/detail/mall/pipelines/custom/mall-dev/7?display_name=mall-dev"
# A 1:1 chat: results mention nobody, so the texts below are exactly what is posted.
TARGET = {"conversation_id": "cid-1", "is_group": False, "user_id": "u1", "robot_code": "r"}


def task_json(status: str, **changes: Any) -> Dict[str, Any]:
    """GET /openapi/workflows/custom/task (docs/zadig-openapi.md §3.2), for mall-dev #7."""
    data: Dict[str, Any] = {
        "task_id": 7,
        "workflow_key": "mall-dev",
        "workflow_name": "商城-开发-构建部署",
        "params": [],
        "status": status,
        "reverted": False,
        "remark": "",
        "task_creator": "bot",
        "create_time": 1724300000,
        "start_time": 1724300001,
        "stages": [
            {
                "name": "build",
                "status": "passed",
                "start_time": 1724300001,
                "end_time": 1724300100,
                "parallel": True,
                "error": "",
                "jobs": [
                    {
                        "name": "a-mall-dev-7-build-order",
                        "origin_name": "build",
                        "type": "zadig-build",
                        "status": "passed",
                    }
                ],
            },
            {
                "name": "deploy",
                "status": "running" if status not in ("passed", "failed") else status,
                "start_time": 1724300100,
                "parallel": False,
                "error": "",
                "jobs": [
                    {"name": "a-mall-dev-7-deploy", "type": "zadig-deploy", "status": "running"}
                ],
            },
        ],
        "project_key": "mall",
        "is_restart": False,
        "debug": False,
    }
    if status in ("passed", "failed", "timeout", "cancelled", "reject"):
        data["end_time"] = 1724300230
        data["stages"][1]["end_time"] = 1724300230
    data.update(changes)
    return data


def failed_json() -> Dict[str, Any]:
    data = task_json("failed")
    data["stages"][1]["error"] = "image pull backoff"
    return data


WEBHOOK = {
    "object_kind": "workflow",
    "event": "workflow",
    "workflow": {
        "task_id": 7,
        "project_name": "mall",
        "project_display_name": "商城",
        "workflow_name": "mall-dev",
        "workflow_display_name": "商城-开发-构建部署",
        "status": "passed",
        "remark": "",
        "detail_url": f"{WEB}/v1/projects/detail/mall/pipelines/custom/mall-dev?display_name=x",
        "error": "",
        "create_time": 1724300000,
        "start_time": 1724300001,
        "end_time": 1724300200,
        "stages": [
            {
                "name": "build",
                "status": "passed",
                "start_time": 1724300001,
                "end_time": 1724300100,
                "error": "",
                "jobs": [
                    {
                        "name": "build",
                        "display_name": "build",
                        "type": "zadig-build",
                        "status": "passed",
                        "start_time": 1724300001,
                        "end_time": 1724300100,
                        "error": "",
                        "spec": {"repositories": [], "image": "harbor/x:1"},
                    }
                ],
            },
            {
                "name": "deploy",
                "status": "passed",
                "start_time": 1724300100,
                "end_time": 1724300200,
                "error": "",
                "jobs": [
                    {
                        "name": "deploy",
                        "display_name": "deploy",
                        "type": "zadig-deploy",
                        "status": "passed",
                        "start_time": 1724300100,
                        "end_time": 1724300200,
                        "error": "",
                        "spec": {
                            "env": "dev",
                            "service_name": "order-service",
                            "service_modules": [],
                        },
                    }
                ],
            },
        ],
        "task_creator": "bot",
        "task_creator_id": "",
        "task_creator_email": "",
        "task_type": "workflow",
    },
    "release_plan": None,
}
PASSED_TEXT = f"✅ 发布成功：order-service → dev（mall-dev #7）\n用时：3分19秒\n详情：{LINK}"
FAILED_TEXT = (
    f"❌ 发布失败：order-service → dev（mall-dev #7）\n用时：3分49秒\n"
    f"失败阶段：deploy（image pull backoff）\n详情：{LINK}"
)


def zadig_answering(*answers: Any) -> ZadigClient:
    """A real client on the shared fake Zadig, answering each request with the next answer.

    Reads are not retried here (read_retries=0): one poll is one request. ``zadig.fake`` is the
    fake, for what was asked.
    """
    fake = FakeZadig()
    fake.reply(*[_as_reply(a) for a in answers])
    client = ZadigClient("http://zadig.test", "tok", read_retries=0, transport=fake.transport)
    client.fake = fake  # type: ignore[attr-defined]
    return client


def _as_reply(answer: Any) -> Any:
    if isinstance(answer, dict):
        return ok(answer)
    if callable(answer) and not isinstance(answer, httpx.Response):

        async def reply(request: httpx.Request) -> httpx.Response:
            return ok(await answer())

        return reply
    return answer


def body(message: Dict[str, Any]) -> str:
    """The text of a queued text or markdown message."""
    if message["msgtype"] == "text":
        return message["text"]["content"]
    return message["markdown"]["text"]


class Sent:
    """What the worker queued in the outbox, as (target, text) pairs."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    @property
    def sent(self) -> List[Tuple[Dict[str, Any], str]]:
        return [(m.target, body(m.message)) for m in self.outbox.messages()]

    @property
    def texts(self) -> List[str]:
        return [text for _, text in self.sent]


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db: Database, clock: Clock) -> FollowupStore:
    return FollowupStore(db, clock=clock)


@pytest.fixture
def notify(db: Database, clock: Clock) -> Sent:
    return Sent(Outbox(db, clock=clock))


def make_worker(
    store: FollowupStore, zadig: ZadigClient, notify: Sent, clock: Clock, **kw: Any
) -> FollowupWorker:
    options = dict(
        web_url=WEB, min_interval=2.0, max_interval=10.0, tick=0.01, max_age=6 * 3600, clock=clock
    )
    options.update(kw)
    return FollowupWorker(store, zadig, notify.outbox, **options)  # type: ignore[arg-type]


def add(store: FollowupStore, clock: Clock, **kw: Any):
    args = dict(
        project_key="mall",
        workflow_key="mall-dev",
        task_id=7,
        service="order-service",
        environment="dev",
        sender_id="u1",
        conversation_id="cid-1",
        target=TARGET,
        now=clock.now,
        first_poll_in=2.0,
    )
    args.update(kw)
    return store.add(**args)


def row(store: FollowupStore):
    return store.get("mall-dev", 7)


# -- polling ---------------------------------------------------------------------------------------


async def test_running_task_is_rescheduled_with_capped_exponential_backoff(store, clock, notify):
    zadig = zadig_answering(task_json("running"))
    worker = make_worker(store, zadig, notify, clock)
    add(store, clock)
    start = clock.now

    assert await worker.run_once() == 0  # not due yet
    assert zadig.fake.task_lookups() == []

    expected = []
    clock.now = start + 2
    for _ in range(5):
        assert await worker.run_once() == 0
        expected.append(row(store).next_poll_at - clock.now)
        clock.now = row(store).next_poll_at
    assert expected == [2.0, 4.0, 8.0, 10.0, 10.0]
    assert row(store).polls == 5
    assert row(store).state == PENDING
    assert zadig.fake.task_lookups() == [("mall-dev", 7)] * 5
    assert notify.sent == []


async def test_waiting_and_empty_status_are_not_terminal(store, clock, notify):
    zadig = zadig_answering(task_json("waiting"), task_json("", end_time=0))
    worker = make_worker(store, zadig, notify, clock)
    add(store, clock)
    for _ in range(2):
        clock.now += 100
        assert await worker.run_once() == 0
    assert notify.sent == [] and row(store).state == PENDING


async def test_terminal_task_is_announced_exactly_once(store, clock, notify):
    zadig = zadig_answering(task_json("running"), failed_json())
    worker = make_worker(store, zadig, notify, clock)
    add(store, clock)

    clock.now += 2
    assert await worker.run_once() == 0
    clock.now += 2
    assert await worker.run_once() == 1

    [(target, text)] = notify.sent
    assert target == TARGET and text.startswith(FAILED_TEXT)
    # One tap to retry (sends "重试任务 7"), roll back, or read the whole log.
    assert "（或回复：重试任务 7）" in text and "（或回复：看任务 7 的日志）" in text
    assert (row(store).state, row(store).result_status) == (DELIVERED, "failed")
    clock.now += 3600
    assert await worker.run_once() == 0
    assert len(notify.sent) == 1
    assert len(zadig.fake.task_lookups()) == 2


@pytest.mark.parametrize(
    "status, head",
    [
        ("passed", "✅ 发布成功"),
        ("timeout", "⏰ 发布超时"),
        ("cancelled", "🚫 发布已取消"),
        ("reject", "⛔ 发布被拒绝"),
    ],
)
async def test_each_terminal_status_has_its_headline(store, clock, notify, status, head):
    worker = make_worker(store, zadig_answering(task_json(status)), notify, clock)
    add(store, clock)
    clock.now += 2
    assert await worker.run_once() == 1
    assert notify.texts[0].startswith(f"{head}：order-service → dev（mall-dev #7）\n用时：")
    assert notify.texts[0].endswith(f"详情：{LINK}")
    assert row(store).result_status == status


# -- webhook ---------------------------------------------------------------------------------------


async def test_webhook_completes_the_followup_and_a_later_poll_stays_quiet(store, clock, notify):
    zadig = zadig_answering(task_json("passed"))
    worker = make_worker(store, zadig, notify, clock)
    add(store, clock)

    assert await worker.on_webhook(copy.deepcopy(WEBHOOK)) is True

    assert notify.sent == [(TARGET, PASSED_TEXT)]
    assert (row(store).state, row(store).result_status) == (DELIVERED, "passed")
    clock.now += 100
    assert await worker.run_once() == 0
    assert await worker.on_webhook(copy.deepcopy(WEBHOOK)) is False  # Zadig re-sent it
    assert len(notify.sent) == 1
    assert zadig.fake.task_lookups() == []


async def test_webhook_for_unknown_unfinished_or_malformed_tasks_is_ignored(store, clock, notify):
    worker = make_worker(store, zadig_answering(task_json("running")), notify, clock)
    add(store, clock)
    other = copy.deepcopy(WEBHOOK)
    other["workflow"]["task_id"] = 8
    running = copy.deepcopy(WEBHOOK)
    running["workflow"]["status"] = "running"

    assert await worker.on_webhook(other) is False
    assert await worker.on_webhook(running) is False
    assert await worker.on_webhook({"object_kind": "workflow"}) is False
    assert await worker.on_webhook({"workflow": {"workflow_name": "mall-dev"}}) is False
    assert notify.sent == [] and row(store).state == PENDING


async def test_webhook_arriving_while_a_poll_is_in_flight_posts_once(store, clock, notify):
    worker = make_worker(store, zadig_answering(), notify, clock)

    async def poll_answer():
        # Zadig's webhook lands between the poll's request and its answer.
        assert await worker.on_webhook(copy.deepcopy(WEBHOOK)) is True
        return task_json("passed")

    worker.zadig = zadig_answering(poll_answer)
    add(store, clock)
    clock.now += 2

    assert await worker.run_once() == 0
    assert notify.texts == [PASSED_TEXT]
    assert row(store).state == DELIVERED


@pytest.mark.parametrize(
    "outage", [httpx.ConnectError("connection refused"), httpx.ReadTimeout("no answer in time")]
)
async def test_zadig_down_reschedules_and_loses_nothing(store, clock, notify, outage):
    zadig = zadig_answering(outage, outage, outage, failed_json())
    worker = make_worker(store, zadig, notify, clock)
    add(store, clock)
    clock.now += 2
    waits = []
    for _ in range(3):
        assert await worker.run_once() == 0
        assert row(store).state == PENDING
        waits.append(row(store).next_poll_at - clock.now)
        clock.now = row(store).next_poll_at
    assert waits == [2.0, 4.0, 8.0]
    assert await worker.run_once() == 1
    [text] = notify.texts
    assert text.startswith(FAILED_TEXT)


async def test_task_gone_from_zadig_is_polled_slowly(store, clock, notify):
    gone = no_documents()
    worker = make_worker(store, zadig_answering(gone), notify, clock)
    add(store, clock)
    clock.now += 2
    assert await worker.run_once() == 0
    assert row(store).next_poll_at == clock.now + 10.0  # max_interval
    assert row(store).state == PENDING and notify.sent == []


async def test_after_max_age_the_bot_stops_tracking_and_says_so(store, clock, notify):
    worker = make_worker(store, zadig_answering(task_json("running")), notify, clock)
    add(store, clock)
    clock.now += 6 * 3600 + 1

    assert await worker.run_once() == 1

    assert notify.sent == [
        (
            TARGET,
            (
                "ℹ️ mall-dev #7 已经运行超过 6小时00分 还没有结束，我不再自动跟踪，"
                f"可以随时问我“任务 7 怎么样了”。\n详情：{LINK}"
            ),
        )
    ]
    assert (row(store).state, row(store).result_status) == (DELIVERED, "abandoned")
    clock.now += 100
    assert await worker.run_once() == 0 and len(notify.sent) == 1


async def test_a_task_that_finished_by_max_age_gets_its_result_not_a_give_up(store, clock, notify):
    worker = make_worker(store, zadig_answering(failed_json()), notify, clock)
    add(store, clock)
    clock.now += 6 * 3600 + 1

    await worker.run_once()

    [text] = notify.texts
    assert text.startswith(FAILED_TEXT)


async def test_no_target_is_marked_delivered_without_posting(store, clock, notify):
    worker = make_worker(store, zadig_answering(task_json("passed")), notify, clock)
    add(store, clock, target=None)
    clock.now += 2

    assert await worker.run_once() == 0

    assert notify.sent == []
    assert (row(store).state, row(store).result_status) == (DELIVERED, "passed")


# -- one row's trouble stays that row's ----------------------------------------------------------


async def test_a_poison_row_does_not_stop_the_others(store, clock, notify):
    """Zadig answers one task with a non-integer task id: that row errors, the other is posted."""
    fake = FakeZadig(token="tok")
    fake.add_task("mall-dev", 7, "passed", end_time=1724300230)
    fake.add_task("mall-dev", 8, "passed", end_time=1724300230)
    fake.tasks[("mall-dev", 7)]["task_id"] = "seven"
    zadig = ZadigClient("http://zadig.test", "tok", read_retries=0, transport=fake.transport)
    worker = make_worker(store, zadig, notify, clock, max_errors=3)
    add(store, clock)
    add(store, clock, task_id=8)
    clock.now += 2

    assert await worker.run_once() == 1

    assert [t.split("（")[1].split("）")[0] for t in notify.texts] == ["mall-dev #8"]
    broken = row(store)
    assert (broken.state, broken.attempts) == (PENDING, 1)
    assert "ValueError" in broken.last_error
    for _ in range(2):
        clock.now += 60
        await worker.run_once()
    gone = row(store)
    assert (gone.state, gone.attempts) == (FAILED, 2)  # given up after max_errors, visibly
    assert "ValueError" in gone.last_error
    clock.now += 3600
    assert await worker.run_once() == 0


async def test_the_loop_survives_a_failing_round(store, clock, notify):
    calls = {"n": 0}

    async def explode():
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("unexpected")
        return task_json("passed")

    worker = make_worker(store, zadig_answering(explode), notify, clock)
    add(store, clock)
    clock.now += 2
    assert await worker.run_once() == 0
    assert row(store).attempts == 1
    clock.now += 2
    assert await worker.run_once() == 1
    assert calls["n"] == 2
    [text] = notify.texts
    assert text.startswith("✅ 发布成功：order-service → dev（mall-dev #7）")


async def test_a_cancelled_poll_lets_its_row_go_at_once(store, clock, notify):
    """Shutdown in the middle of a poll: the lease is given back, so the next start (or another
    replica) polls the row at once instead of waiting for the lease to run out."""
    gate = asyncio.Event()

    async def never():
        await gate.wait()
        return task_json("passed")

    worker = make_worker(store, zadig_answering(never), notify, clock)
    add(store, clock)
    clock.now += 2
    poll = asyncio.ensure_future(worker.run_once())
    await asyncio.sleep(0.05)
    assert store.due(clock.now) == []  # leased while the poll waits for Zadig
    poll.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll
    assert [f.task_id for f in store.due(clock.now)] == [7]


# -- restarts --------------------------------------------------------------------------------------


async def test_a_replica_that_died_mid_poll_is_replaced_after_its_lease(db, store, clock, notify):
    first = make_worker(store, zadig_answering(task_json("running")), notify, clock)
    add(store, clock)
    add(store, clock, task_id=8, service="user-service")
    clock.now += 2
    assert store.lease(row(store).id, 60, clock.now)  # the first replica dies holding it

    second_store = FollowupStore(Database.open(str(db.engine.url)), clock=clock)
    second = make_worker(second_store, zadig_answering(task_json("passed")), notify, clock)
    assert await second.run_once() == 1  # #8 now; #7 is still leased by the dead replica
    clock.now += 61
    assert await second.run_once() == 1
    assert sorted(t.split("（")[0] for t in notify.texts) == [
        "✅ 发布成功：order-service → dev",
        "✅ 发布成功：user-service → dev",
    ]
    assert second_store.pending() == []
    assert first.store.pending() == []


# -- failures with their log; Zadig approvals ----------------------------------------------------


async def test_a_failed_build_quotes_its_log_tail_and_offers_retry_rollback_and_the_log(
    store, clock, notify
):
    fake = FakeZadig()
    task = fake.add_task(
        "mall-dev", 7, "failed", [("build", "failed"), ("deploy", "")], services=["order-service"]
    )
    task["end_time"] = task["start_time"] + 75
    job = task["stages"][0]["jobs"][0]["name"]
    fake.logs[("mall-dev", 7, job)] = "Step 1/9\n...\nnpm ERR! missing script: build\n"
    zadig = ZadigClient("http://zadig.test", "tok", read_retries=0, transport=fake.transport)
    worker = make_worker(store, zadig, notify, clock)
    add(store, clock)
    clock.now += 2

    assert await worker.run_once() == 1

    [text] = notify.texts
    assert text.startswith("❌ 发布失败：order-service → dev（mall-dev #7）")
    assert "失败阶段：build，job 构建 build-order-service-order-service" in text
    assert "日志最后 3 行：\n> Step 1/9\n> ...\n> npm ERR! missing script: build" in text
    for answer in ("重试任务 7", "把order-service在dev回滚到上一个版本", "看任务 7 的日志"):
        assert f"（或回复：{answer}）" in text
    await zadig.aclose()


async def test_a_server_without_the_logs_api_gets_the_link_only(store, clock, notify):
    fake = FakeZadig()
    fake.add_task("mall-dev", 7, "failed", [("build", "failed")], services=["order-service"])
    fake.fail("GET", "/openapi/logs/log/v4/workflow/mall-dev/7/job-0-0-0-build", no_documents())
    zadig = ZadigClient("http://zadig.test", "tok", read_retries=0, transport=fake.transport)
    worker = make_worker(store, zadig, notify, clock)
    add(store, clock)
    clock.now += 2

    assert await worker.run_once() == 1

    assert "这台 Zadig 不提供日志接口（3.4.0 起才有）" in notify.texts[0]
    await zadig.aclose()


async def test_a_waiting_zadig_approval_is_announced_once_with_its_approvers(store, clock, notify):
    fake = FakeZadig()
    task = fake.add_task(
        "mall-dev", 7, "running", [("build", "passed")], services=["order-service"]
    )
    task["stages"].append(
        {
            "name": "approve",
            "status": "running",
            "jobs": [
                {
                    "name": "job-1-0-0-approve",
                    "display_name": "approve",
                    "type": "approval",
                    "status": "wait_for_approval",
                    "spec": {
                        "type": "native",
                        "timeout": 30,
                        "native_approval": {
                            "approve_users": [
                                {"user_id": "a", "user_name": "alice"},
                                {"user_id": "b", "user_name": "bob"},
                            ],
                            "needed_approvers": 1,
                        },
                    },
                }
            ],
        }
    )
    zadig = ZadigClient("http://zadig.test", "tok", read_retries=0, transport=fake.transport)
    worker = make_worker(store, zadig, notify, clock)
    add(store, clock)

    for _ in range(3):
        clock.now += 60
        assert await worker.run_once() == 0

    [text] = notify.texts
    assert "在等 Zadig 的审批（approve）" in text
    assert "审批人：alice、bob，需要 1 人同意，30 分钟内有效" in text
    assert "（或回复：批准任务 7）" in text
    assert row(store).state == PENDING
    await zadig.aclose()
