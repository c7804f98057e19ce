"""chatops/images.py: what runs in an environment, and what ran before, from Zadig's tasks."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest

from chatops import images
from chatops.catalog import DEFAULT_PATH, parse_catalog
from chatops.images import Deployed, ImageHistory
from chatops.state import Database, FollowupStore
from chatops.zadig import ZadigAuthError
from chatops.zadig.client import ZadigClient
from tests.fakes.zadig import FakeZadig, add_deploy_task

CATALOG = parse_catalog(DEFAULT_PATH.read_text(encoding="utf-8"))
TEST = CATALOG.environments["test"]  # workflow mall-test, rollback mall-test-rollback
REG = "harbor.example.com/mall"
T = 1_724_300_000


def image(tag: str, service: str = "order-service") -> str:
    return f"{REG}/{service}:{tag}"


@pytest.fixture
async def zadig():
    fake = FakeZadig()
    client = ZadigClient("http://zadig.test", "tok", transport=fake.transport, retry_delay=0)
    yield fake, client
    await client.aclose()


@pytest.fixture
def history(zadig, db: Database):
    fake, client = zadig
    return ImageHistory(client, CATALOG, FollowupStore(db))


@pytest.fixture
def world(zadig, db: Database):
    """mall-test #11..#17 and mall-test-rollback #1..#2, only some of which put order-service
    into the test environment."""
    fake, _ = zadig
    deploy = dict(env="test", start_time=T)

    def add(workflow, task_id, imgs, end, **kw):
        args = {**deploy, "end_time": T + end, **kw}
        if workflow.endswith("rollback"):
            args.setdefault("build", False)
        return add_deploy_task(fake, workflow, task_id, imgs, **args)

    add("mall-test", 11, {"order-service": image("20240820-1")}, 1000, creator="zhangsan")
    # The task failed later (a test stage), but its deploy job had passed: it deployed.
    add(
        "mall-test",
        12,
        {"order-service": image("20240821-2")},
        2000,
        status="failed",
        deploy_status="passed",
    )
    add("mall-test", 13, {"order-service": image("broken-3")}, 2100, status="failed")
    add("mall-test", 14, {"order-service": image("uat-4")}, 2200, env="uat")  # another env
    add(
        "mall-test",
        15,
        {"order-service": "{{.job.build.order-service.order-service.output.IMAGE}}"},
        2300,
    )
    add("mall-test", 16, {"gateway": image("gw-6", "gateway")}, 4000)
    add(
        "mall-test",
        17,
        {"order-service": image("queued-7")},
        5000,
        status="waiting",
        deploy_status="waiting",
    )
    add("mall-test-rollback", 1, {"order-service": image("20240819-0")}, 500, creator="admin")
    add("mall-test-rollback", 2, {"order-service": image("20240820-1")}, 3000, creator="admin")
    FollowupStore(db).add(
        project_key="mall",
        workflow_key="mall-test-rollback",
        task_id=2,
        requester="lead01",
        requester_nick="李四",
    )
    return fake


@pytest.mark.parametrize(
    "name, tag",
    [
        ("harbor.example.com/mall/order-service:20240822-42", "20240822-42"),
        ("harbor.example.com:5000/mall/order-service", "latest"),
        ("order-service", "latest"),
        ("harbor.example.com:5000/mall/order-service:v1.2", "v1.2"),
        ("harbor/x/order@sha256:0123456789abcdef0123456789abcdef", "sha256:0123456789ab"),
        ("harbor/x/order:v3@sha256:0123456789abcdef0123456789abcdef", "v3"),
    ],
)
def test_the_tag_of_an_image(name: str, tag: str):
    assert Deployed("s", "s", name, "wf", 1, None, "").tag == tag


async def test_history_merges_both_workflows_newest_first_one_entry_per_task(history, world):
    found = await history.history("order-service", TEST)
    assert [(d.workflow_key, d.task_id, d.tag, d.at) for d in found] == [
        ("mall-test-rollback", 2, "20240820-1", T + 3000),
        ("mall-test", 12, "20240821-2", T + 2000),
        ("mall-test", 11, "20240820-1", T + 1000),
        ("mall-test-rollback", 1, "20240819-0", T + 500),
    ]
    assert found[0] == Deployed(
        "order-service",
        "order-service",
        image("20240820-1"),
        "mall-test-rollback",
        2,
        T + 3000,
        "李四",
    )


async def test_who_asked_is_the_bots_requester_else_zadigs_task_creator(history, world, db):
    FollowupStore(db).add(
        project_key="mall", workflow_key="mall-test", task_id=12, requester="u7", requester_nick=""
    )
    found = {(d.workflow_key, d.task_id): d.by for d in await history.history("订单服务", TEST)}
    assert found == {
        ("mall-test-rollback", 2): "李四",  # a follow-up row with the nick
        ("mall-test", 12): "u7",  # a row without a nick: the staff id
        ("mall-test", 11): "zhangsan",  # not started by the bot
        ("mall-test-rollback", 1): "admin",
    }


async def test_tasks_still_queued_are_not_read(history, world):
    await history.history("order-service", TEST)
    lookups = world.task_lookups()
    assert ("mall-test", 17) not in lookups
    assert len(lookups) == len(set(lookups)) == 8


async def test_current_and_previous(history, world):
    current = await history.current("order-service", TEST)
    previous = await history.previous("order-service", TEST)
    assert (current.workflow_key, current.task_id) == ("mall-test-rollback", 2)
    # The newest image that differs from what runs now: #11 deployed the same image again.
    assert (previous.workflow_key, previous.task_id, previous.tag) == (
        "mall-test",
        12,
        "20240821-2",
    )


async def test_previous_skips_redeploys_of_the_image_running_now(history, world):
    add_deploy_task(
        world,
        "mall-test",
        18,
        {"order-service": image("20240820-1")},
        env="test",
        end_time=T + 6000,
    )
    current = await history.current("order-service", TEST)
    previous = await history.previous("order-service", TEST)
    assert (current.task_id, current.tag) == (18, "20240820-1")
    assert (previous.workflow_key, previous.task_id) == ("mall-test", 12)


async def test_another_service_of_the_same_tasks(history, world):
    found = await history.history("gateway", TEST)
    assert [(d.task_id, d.tag) for d in found] == [(16, "gw-6")]
    assert await history.previous("gateway", TEST) is None


async def test_nothing_deployed_yet(history, world):
    assert await history.history("payment-service", TEST) == []
    assert await history.current("payment-service", TEST) is None
    assert await history.previous("payment-service", TEST) is None


async def test_of_task_in_either_workflow(history, world):
    rolled = await history.of_task("order-service", TEST, 2)  # only the rollback workflow has #2
    assert (rolled.workflow_key, rolled.tag, rolled.by) == (
        "mall-test-rollback",
        "20240820-1",
        "李四",
    )
    deployed = await history.of_task("order-service", TEST, 12)
    assert (deployed.workflow_key, deployed.tag) == ("mall-test", "20240821-2")
    assert await history.of_task("order-service", TEST, 13) is None  # its deploy job failed
    assert await history.of_task("order-service", TEST, 14) is None  # deployed into uat
    assert await history.of_task("order-service", TEST, 99) is None  # no such task


async def test_of_task_when_both_workflows_have_that_number(history, world):
    add_deploy_task(world, "mall-test", 1, {"order-service": image("a")}, env="test")
    first = await history.of_task("order-service", TEST, 1)
    assert (first.workflow_key, first.tag) == ("mall-test", "a")  # the deploy workflow first
    chosen = await history.of_task("order-service", TEST, 1, workflow_key="mall-test-rollback")
    assert (chosen.workflow_key, chosen.tag) == ("mall-test-rollback", "20240819-0")


async def test_the_catalogs_module_is_preferred_for_a_service_with_several(history, zadig):
    fake, _ = zadig
    task = add_deploy_task(fake, "mall-test", 1, {"order-service": image("main")}, env="test")
    pairs = task["stages"][1]["jobs"][0]["spec"]["service_and_images"]
    pairs.insert(0, {"service_name": "order-service", "service_module": "sidecar", "image": "x:1"})
    found = await history.current("order-service", TEST)
    assert (found.module, found.tag) == ("order-service", "main")


async def test_depth_bounds_the_zadig_calls(zadig, db):
    fake, client = zadig
    for task_id in range(1, 11):
        add_deploy_task(
            fake,
            "mall-test",
            task_id,
            {"order-service": image(f"v{task_id}")},
            env="test",
            start_time=T + task_id,
        )
    found = await ImageHistory(client, CATALOG, FollowupStore(db), depth=3).history(
        "order-service", TEST
    )
    assert [d.task_id for d in found] == [10, 9, 8]
    assert sorted(fake.task_lookups()) == [("mall-test", 8), ("mall-test", 9), ("mall-test", 10)]
    lists = [c for c in fake.calls if c.path.endswith("/tasks")]
    assert [(c.path.split("/")[-2], c.params["pageSize"]) for c in lists] == [
        ("mall-test", "3"),
        ("mall-test-rollback", "3"),
    ]


async def test_deeper_than_a_page_reads_more_pages(zadig, db, monkeypatch):
    fake, client = zadig
    monkeypatch.setattr(images, "PAGE_SIZE", 2)
    for task_id in range(1, 7):
        add_deploy_task(
            fake,
            "mall-test",
            task_id,
            {"order-service": image(f"v{task_id}")},
            env="test",
            start_time=T + task_id,
        )
    found = await ImageHistory(client, CATALOG, FollowupStore(db), depth=5).history(
        "order-service", TEST
    )
    assert [d.task_id for d in found] == [6, 5, 4, 3, 2]
    pages = [c.params["pageNum"] for c in fake.calls if c.path.endswith("mall-test/tasks")]
    assert pages == ["1", "2", "3"]


async def test_zadig_errors_propagate(history, world):
    world.fail("GET", "*", httpx.Response(401))
    with pytest.raises(ZadigAuthError):
        await history.history("order-service", TEST)
    with pytest.raises(ZadigAuthError):
        await history.of_task("order-service", TEST, 12)


async def test_an_environment_without_a_rollback_workflow(zadig, db):
    fake, client = zadig
    add_deploy_task(fake, "mall-test", 1, {"order-service": image("only")}, env="test")
    plain = replace(TEST, rollback_workflow=None)
    found = await ImageHistory(client, CATALOG, FollowupStore(db)).history("order-service", plain)
    assert [d.tag for d in found] == ["only"]
    assert not [c for c in fake.calls if "rollback" in c.path]


# -- what runs now, for the change summary before production ----------------------------------


async def test_running_now_names_each_service_and_none_for_one_never_deployed(
    history, world, zadig
):
    fake, _ = zadig
    running = await history.running_now(["order-service", "web-frontend"], TEST)
    reads = len(fake.calls)

    assert running is not None
    assert running["web-frontend"] is None
    assert running["order-service"] == await history.current("order-service", TEST)
    # The tasks are read once for both services: as many reads as for one.
    assert len(fake.calls) - reads == reads


async def test_running_now_gives_up_on_a_slow_zadig_instead_of_holding_the_turn(
    history, monkeypatch
):
    async def slow(services, env):
        await asyncio.sleep(10)

    monkeypatch.setattr(images, "SUMMARY_SECONDS", 0.05)
    monkeypatch.setattr(history, "histories", slow)

    assert await history.running_now(["order-service"], TEST) is None


async def test_running_now_survives_any_error(history, monkeypatch):
    async def broken(services, env):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(history, "histories", broken)

    assert await history.running_now(["order-service"], TEST) is None
