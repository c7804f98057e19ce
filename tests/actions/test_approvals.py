"""Two-person approval in the chat: request, approve, reject, expire, who may, what reaches
Zadig."""

from __future__ import annotations

import pytest

from actions.approvals import ActionApprove, ActionReject
from actions.deploy import ActionSubmitDeploy
from actions.history import ActionDeployHistory
from chatops.plans import fingerprint
from tests.actions.conftest import said as texts

TASK_PATH = "/openapi/workflows/custom/task"


def mentioned(dispatcher):
    return [(m.get("custom") or {}).get("at", {}).get("atUserIds", []) for m in dispatcher.messages]


@pytest.fixture
def ask(rt, make_tracker):
    """``ask(user="u1", services=[...])``: that user confirms a production plan; the request."""

    async def run(user="u1", nick="张三", services=("order-service",), conversation="cid1"):
        plan = rt.catalog.plan(list(services), "prod")
        tracker = make_tracker(
            intent="affirm",
            text="确认",
            user=user,
            nick=nick,
            conversation=conversation,
            active_loop="deploy_form",
            slots={
                "service": list(services),
                "environment": "prod",
                "confirmed": True,
                "plan_shown": fingerprint(plan),
            },
        )
        from rasa_sdk.executor import CollectingDispatcher

        await ActionSubmitDeploy().run(CollectingDispatcher(), tracker, {})
        return rt.approvals.pending(conversation)[-1]

    return run


def answer(make_tracker, intent, text, user, nick, request_id=None, **kw):
    entities = {"request_id": str(request_id)} if request_id is not None else None
    return make_tracker(intent=intent, text=text, user=user, nick=nick, entities=entities, **kw)


async def test_a_release_manager_approves_and_the_deploy_starts_naming_both_people(
    rt, fake, ask, make_tracker, dispatcher
):
    request = await ask()
    assert fake.writes == []  # reads only: what runs now, for the change summary
    fake.next_id["mall-prod"] = 12

    tracker = answer(make_tracker, "approve", f"批准 {request.id}", "lead01", "李四", request.id)
    await ActionApprove().run(dispatcher, tracker, {})

    assert [c.json["workflow_key"] for c in fake.calls_to("POST")] == ["mall-prod"]
    [text] = texts(dispatcher)
    assert f"李四 批准了审批 #{request.id}（张三 申请）" in text
    assert "🚀 已开始发布 order-service → prod（分支 master）" in text
    assert "u1" in mentioned(dispatcher)[0]  # the requester hears it
    remark = fake.tasks[("mall-prod", 12)]["remark"]
    assert "张三（u1）申请" in remark and "李四（lead01）批准" in remark
    assert rt.approvals.get(request.id).state == "triggered"
    followup = rt.store.get("mall-prod", 12)
    assert (followup.requester, followup.target["user_id"]) == ("u1", "u1")
    decisions = [e.decision for e in rt.audit.events()]
    assert decisions == ["confirmed", "approval_requested", "approved", "triggered"]


async def test_approving_ones_own_request_is_refused(rt, fake, ask, make_tracker, dispatcher):
    request = await ask(user="lead01", nick="李四")

    tracker = answer(make_tracker, "approve", "批准", "lead01", "李四")
    await ActionApprove().run(dispatcher, tracker, {})

    assert fake.writes == []  # reads only: what runs now, for the change summary
    [text] = texts(dispatcher)
    assert text == "不能批准或驳回自己的申请。请 @lead02 批准。"
    assert rt.approvals.get(request.id).state == "pending"
    assert rt.audit.events()[-1].decision == "refused"


@pytest.mark.parametrize(
    "user, external, words",
    [
        ("u2", False, "需要 release-managers，可以 @lead01 @lead02"),
        ("someone", True, "不在机器人所在的组织里"),
    ],
    ids=["member-without-the-role", "outside-the-organisation"],
)
async def test_an_approval_by_someone_not_allowed_is_refused(
    rt, fake, ask, make_tracker, dispatcher, user, external, words
):
    request = await ask()

    tracker = answer(make_tracker, "approve", "批准", user, "王五", request.id, external=external)
    await ActionApprove().run(dispatcher, tracker, {})

    assert fake.writes == []  # reads only: what runs now, for the change summary
    assert words in texts(dispatcher)[0]
    assert rt.approvals.get(request.id).state == "pending"


async def test_a_rejection_tells_the_requester_why_and_deploys_nothing(
    rt, fake, ask, make_tracker, dispatcher
):
    request = await ask()

    text = f"驳回 {request.id} 周五不发生产"
    await ActionReject().run(
        dispatcher, answer(make_tracker, "reject", text, "lead02", "赵六", request.id), {}
    )

    assert fake.writes == []  # reads only: what runs now, for the change summary
    [reply] = texts(dispatcher)
    assert f"赵六 驳回了审批 #{request.id}（张三 申请 order-service → prod）：周五不发生产" in reply
    assert "u1" in mentioned(dispatcher)[0]
    assert rt.approvals.get(request.id).state == "rejected"
    assert rt.audit.events()[-1].detail == "周五不发生产"


async def test_an_expired_request_cannot_be_approved(
    rt, fake, ask, make_tracker, dispatcher, clock
):
    request = await ask()
    clock.value += rt.settings.approval_ttl_seconds + 1

    await ActionApprove().run(
        dispatcher, answer(make_tracker, "approve", "批准", "lead01", "李四", request.id), {}
    )

    assert fake.writes == []  # reads only: what runs now, for the change summary
    assert "已过期，没有发布" in texts(dispatcher)[0]
    assert rt.approvals.get(request.id).state == "expired"


async def test_a_decided_request_cannot_be_approved_again(rt, fake, ask, make_tracker, dispatcher):
    request = await ask()
    first = answer(make_tracker, "approve", "批准", "lead01", "李四", request.id)
    await ActionApprove().run(dispatcher, first, {})

    second = answer(make_tracker, "approve", "批准", "lead02", "赵六", request.id)
    await ActionApprove().run(dispatcher, second, {})

    assert len(fake.calls_to("POST")) == 1
    assert (
        f"审批 #{request.id} 已批准并开始发布（李四），不能再批准或驳回。" == texts(dispatcher)[1]
    )


async def test_without_a_number_and_two_pending_the_bot_asks_which(
    rt, fake, ask, make_tracker, dispatcher
):
    first = await ask()
    second = await ask(services=("gateway",))

    await ActionApprove().run(
        dispatcher, answer(make_tracker, "approve", "批准", "lead01", "李四"), {}
    )

    assert fake.writes == []  # reads only: what runs now, for the change summary
    [text] = texts(dispatcher)
    assert "有 2 个待审批的申请，要批准哪一个？" in text
    assert f"#{first.id} 张三：order-service → prod" in text
    assert f"#{second.id} 张三：gateway → prod" in text


@pytest.mark.parametrize("conversation", ["cid1", "another-group"])
async def test_an_unknown_number_or_one_from_another_chat_is_not_found(
    rt, fake, ask, make_tracker, dispatcher, conversation
):
    request = await ask(conversation="cid1")
    number = request.id if conversation != "cid1" else request.id + 40

    tracker = answer(
        make_tracker, "approve", "批准", "lead01", "李四", number, conversation=conversation
    )
    await ActionApprove().run(dispatcher, tracker, {})

    assert fake.writes == []  # reads only: what runs now, for the change summary
    assert texts(dispatcher) == [f"没有找到审批 #{number}。"]


async def test_nothing_pending(rt, fake, make_tracker, dispatcher):
    await ActionApprove().run(
        dispatcher, answer(make_tracker, "approve", "批准", "lead01", "李四"), {}
    )

    assert texts(dispatcher) == ["现在没有待审批的申请。"]


async def test_the_history_names_requester_approver_and_result(
    rt, fake, ask, make_tracker, dispatcher
):
    request = await ask()
    fake.next_id["mall-prod"] = 12
    await ActionApprove().run(
        dispatcher, answer(make_tracker, "approve", "批准", "lead01", "李四", request.id), {}
    )
    followup = rt.store.get("mall-prod", 12)
    rt.store.complete(followup, "passed", audit=rt.audit)
    dispatcher.messages.clear()

    tracker = make_tracker(
        intent="deploy_history", text="今天谁发了生产", entities={"environment": "生产"}
    )
    await ActionDeployHistory().run(dispatcher, tracker, {})

    [text] = texts(dispatcher)
    assert text.startswith("📜 今天 prod 环境的发布记录（最新在前，共 1 条）：")
    assert "order-service → prod（master）：张三 申请，李四 批准，成功（mall-prod #12）" in text


async def test_the_history_says_when_there_is_nothing(rt, make_tracker, dispatcher):
    tracker = make_tracker(
        intent="deploy_history", text="订单服务最近几次发布", entities={"service": "订单服务"}
    )

    await ActionDeployHistory().run(dispatcher, tracker, {})

    assert texts(dispatcher) == ["order-service没有通过我发起的发布记录。"]


# -- Zadig's own approval stages ----------------------------------------------------------------


def waiting_for_approval(fake, workflow="mall-prod", task_id=45):
    task = fake.add_task(workflow, task_id, "running", [("build", "passed")], services=["gateway"])
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
                        "timeout": 60,
                        "native_approval": {
                            "approve_users": [{"user_id": "bot", "user_name": "chatops-bot"}],
                            "needed_approvers": 1,
                        },
                    },
                }
            ],
        }
    )
    return task


async def test_a_release_manager_approves_a_zadig_stage_from_the_chat(
    rt, fake, make_tracker, dispatcher
):
    waiting_for_approval(fake)
    tracker = make_tracker(
        intent="approve", text="批准任务 45", user="lead01", nick="李四", entities={"task_id": "45"}
    )

    await ActionApprove().run(dispatcher, tracker, {})

    assert fake.votes == [
        {
            "workflow_key": "mall-prod",
            "task_id": 45,
            "stage_name": "job-1-0-0-approve",
            "approve": True,
            "comment": "李四 在钉钉里批准",
        }
    ]
    assert "已按 李四 的意思在 Zadig 上批准了 mall-prod #45" in texts(dispatcher)[0]


async def test_a_zadig_stage_rejected_with_a_reason(rt, fake, make_tracker, dispatcher):
    waiting_for_approval(fake)
    tracker = make_tracker(
        intent="reject", text="驳回任务 45 回归没过", user="lead02", entities={"task_id": "45"}
    )

    await ActionReject().run(dispatcher, tracker, {})

    [vote] = fake.votes
    assert (vote["approve"], vote["comment"]) == (False, "回归没过")
    assert "任务会停止" in texts(dispatcher)[0]


async def test_a_zadig_stage_is_not_approved_by_someone_without_the_role(
    rt, fake, make_tracker, dispatcher
):
    waiting_for_approval(fake)
    tracker = make_tracker(intent="approve", user="u2", entities={"task_id": "45"})

    await ActionApprove().run(dispatcher, tracker, {})

    assert fake.votes == []
    assert "release-managers" in texts(dispatcher)[0]


async def test_zadig_refusing_the_bots_account_is_explained(rt, fake, make_tracker, dispatcher):
    waiting_for_approval(fake)
    fake.approve_error = "user chatops-bot has no authority to Approve"
    tracker = make_tracker(intent="approve", user="lead01", entities={"task_id": "45"})

    await ActionApprove().run(dispatcher, tracker, {})

    assert "机器人的 Zadig 账号不是 mall-prod #45 这个审批的审批人" in texts(dispatcher)[0]
