"""Who may cancel: the catalog's policy per environment, the requester of the task, the record."""

from __future__ import annotations

import pytest

from actions.tasks import ActionCancelTask
from tests.actions.conftest import texts


def started_by(rt, fake, workflow, task_id, requester):
    fake.add_task(workflow, task_id, "running", services=["order-service"])
    rt.store.add(
        project_key="mall",
        workflow_key=workflow,
        task_id=task_id,
        service="order-service",
        environment=workflow.rsplit("-", 1)[-1],
        sender_id=f"cid1:{requester}",
        conversation_id="cid1",
        target=None,
        requester=requester,
        requester_nick=requester,
    )


async def test_someone_else_cannot_cancel_a_production_task(rt, fake, make_tracker, dispatcher):
    # Alice (u1) started it; Bob (u2) says "取消刚才的发布".
    started_by(rt, fake, "mall-prod", 12, "u1")
    tracker = make_tracker(intent="cancel", entities={"task_id": "12"}, user="u2", nick="Bob")

    events = await ActionCancelTask().run(dispatcher, tracker, {})

    assert events == []
    assert fake.calls_to("DELETE") == []
    [text] = texts(dispatcher)
    assert text == "prod（生产）环境的取消发布需要 release-managers，可以 @lead01 @lead02。"
    [event] = rt.audit.events()
    assert (event.action, event.decision, event.actor_id, event.task_id) == (
        "cancel",
        "refused",
        "u2",
        12,
    )


@pytest.mark.parametrize("user", ["u1", "lead02"], ids=["the-requester", "a-release-manager"])
async def test_the_requester_or_a_release_manager_may_cancel_in_production(
    rt, fake, make_tracker, dispatcher, user
):
    started_by(rt, fake, "mall-prod", 12, "u1")
    tracker = make_tracker(intent="cancel", entities={"task_id": "12"}, user=user)

    events = await ActionCancelTask().run(dispatcher, tracker, {})

    # Allowed: production still asks for a "确认" first.
    assert [e["name"] for e in events] == ["pending_cancel"]
    assert "确定要取消吗" in texts(dispatcher)[0]


async def test_any_member_may_cancel_in_test_and_it_is_recorded(rt, fake, make_tracker, dispatcher):
    started_by(rt, fake, "mall-test", 7, "u1")
    tracker = make_tracker(intent="cancel", text="取消任务 7", entities={"task_id": "7"}, user="u2")

    await ActionCancelTask().run(dispatcher, tracker, {})

    assert len(fake.calls_to("DELETE")) == 1
    assert fake.tasks[("mall-test", 7)]["status"] == "cancelled"
    [event] = rt.audit.events()
    assert (event.decision, event.actor_id, event.message) == ("cancelled", "u2", "取消任务 7")


async def test_someone_outside_the_organisation_cannot_cancel(rt, fake, make_tracker, dispatcher):
    started_by(rt, fake, "mall-dev", 3, "u1")
    tracker = make_tracker(intent="cancel", entities={"task_id": "3"}, external=True)

    await ActionCancelTask().run(dispatcher, tracker, {})

    assert fake.calls_to("DELETE") == []
    assert "不在机器人所在的组织里" in texts(dispatcher)[0]
