"""Deployments: what must hold before anything reaches Zadig, on both databases."""

from __future__ import annotations

import time
from typing import Any, Optional, Tuple

import httpx
import pytest

from chatops.access import Actor
from chatops.catalog import DEFAULT_PATH, Catalog, parse_catalog
from chatops.deploys import Deployments, Refused, Started, Voted
from chatops.images import ImageHistory
from chatops.operations import NeedsApproval, Operations
from chatops.plans import Requester
from chatops.state import ApprovalStore, AuditLog, Database, FollowupStore, LockStore
from chatops.zadig.client import ZadigClient
from tests.fakes.zadig import FakeZadig

SHIPPED = DEFAULT_PATH.read_text(encoding="utf-8")


def person(staff_id: str, nick: str = "") -> Requester:
    actor = Actor(staff_id=staff_id, nick=nick or staff_id, member=True, conversation_id="cid1")
    return Requester(actor=actor, sender_id=f"cid1:{staff_id}", target=None, message="…")


@pytest.fixture
def fake() -> FakeZadig:
    zadig = FakeZadig()
    for env in ("dev", "test", "uat", "prod"):
        zadig.define_workflow(f"mall-{env}")
    return zadig


@pytest.fixture
async def make(db: Database, fake: FakeZadig):
    clients = []

    def build(
        catalog: Optional[Catalog] = None, version: Optional[Tuple[int, ...]] = (5, 0, 0)
    ) -> Deployments:
        zadig = ZadigClient("http://zadig.test", "tok", transport=fake.transport, retry_delay=0)
        clients.append(zadig)
        catalog = catalog or parse_catalog(SHIPPED)

        async def workflow(key: str) -> Any:
            return await zadig.get_workflow(key, catalog.project_key)

        followups, approvals, audit, locks = (
            FollowupStore(db),
            ApprovalStore(db),
            AuditLog(db),
            LockStore(db),
        )
        link = lambda key, task_id: f"http://zadig/{key}/{task_id}"  # noqa: E731
        operations = Operations(
            catalog=catalog,
            zadig=zadig,
            followups=followups,
            approvals=approvals,
            audit=audit,
            locks=locks,
            images=ImageHistory(zadig, catalog, followups),
            approval_ttl=1800,
            task_link=link,
            clock=time.time,
        )
        return Deployments(
            catalog=catalog,
            zadig=zadig,
            followups=followups,
            approvals=approvals,
            audit=audit,
            approval_ttl=1800,
            zadig_version=version,
            task_link=link,
            workflow=workflow,
            locks=locks,
            operations=operations,
            clock=time.time,
        )

    yield build
    for client in clients:
        await client.aclose()


async def test_an_old_zadig_would_drop_the_workflows_approval_so_nothing_starts(make, fake):
    fake.define_workflow(
        "mall-test", [("build", "zadig-build"), ("ok", "approval"), ("deploy", "zadig-deploy")]
    )
    deployments = make(version=(4, 0, 2))
    plan = deployments.catalog.plan("order-service", "test")

    outcome = await deployments.request(plan, person("u1"))

    assert isinstance(outcome, Refused)
    assert "4.1.0 起才保留" in outcome.reply and "allow_skipping_zadig_approval" in outcome.reply
    assert fake.calls_to("POST") == []
    assert deployments.audit.events()[-1].decision == "trigger_failed"


async def test_a_team_may_choose_to_skip_the_zadig_approval_on_an_old_server(make, fake):
    fake.define_workflow(
        "mall-test", [("build", "zadig-build"), ("ok", "approval"), ("deploy", "zadig-deploy")]
    )
    text = SHIPPED.replace(
        "    workflow: mall-test\n",
        "    workflow: mall-test\n    allow_skipping_zadig_approval: true\n",
    )
    assert text != SHIPPED
    deployments = make(parse_catalog(text), version=(4, 0, 2))

    outcome = await deployments.request(deployments.catalog.plan("gateway", "test"), person("u1"))

    assert isinstance(outcome, Started)
    [trigger] = fake.calls_to("POST")
    assert [i["job_type"] for i in trigger.json["inputs"]] == ["zadig-build", "zadig-deploy"]


async def test_an_approval_is_not_carried_out_when_the_catalog_changed_meanwhile(make, fake):
    before = make()
    asked = await before.request(before.catalog.plan("order-service", "prod"), person("u1"))
    assert isinstance(asked, NeedsApproval)
    after = make(parse_catalog(SHIPPED.replace("workflow: mall-prod", "workflow: mall-prod-v2")))

    outcome = await after.decide(asked.request, person("lead01"), approve=True)

    assert isinstance(outcome, Refused) and "对不上" in outcome.reply
    assert fake.calls_to("POST") == []
    assert after.approvals.get(asked.request.id).state == "failed"


async def test_two_required_approvals_count_each_person_once(make, fake):
    text = SHIPPED.replace("required: 1}", "required: 2}")
    assert text != SHIPPED
    deployments = make(parse_catalog(text))
    asked = await deployments.request(
        deployments.catalog.plan("order-service", "prod"), person("u1")
    )
    assert isinstance(asked, NeedsApproval) and "需要 2 位审批人批准" in asked.reply

    first = await deployments.decide(asked.request, person("lead01", "李四"), approve=True)
    assert isinstance(first, Voted) and "（1/2）" in first.reply
    again = await deployments.decide(
        deployments.approvals.get(asked.request.id), person("lead01", "李四"), approve=True
    )
    assert isinstance(again, Refused)
    assert fake.calls_to("POST") == []

    second = await deployments.decide(
        deployments.approvals.get(asked.request.id), person("lead02", "赵六"), approve=True
    )
    assert isinstance(second, Started)
    assert len(fake.calls_to("POST")) == 1


async def test_zadig_down_when_approved_leaves_nothing_half_done(make, fake):
    deployments = make()
    asked = await deployments.request(
        deployments.catalog.plan("order-service", "prod"), person("u1")
    )
    fake.fail("*", "*", httpx.ConnectError("connection refused"))

    outcome = await deployments.decide(asked.request, person("lead01"), approve=True)

    assert isinstance(outcome, Refused) and "Zadig" in outcome.reply
    assert deployments.approvals.get(asked.request.id).state == "failed"
    assert deployments.followups.pending() == []
