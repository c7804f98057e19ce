"""Locks and freeze windows in the chat: lock, a deploy refused, unlock, the deploy accepted."""

from __future__ import annotations

from datetime import datetime, timedelta

from actions.deploy import ActionSubmitDeploy
from actions.locks import ActionLockEnvironment, ActionUnlockEnvironment
from chatops.catalog import DEFAULT_PATH, parse_catalog


def texts(dispatcher):
    return [m.get("text") or "" for m in dispatcher.messages]


def deploy_to(make_tracker, env, **kw):
    return make_tracker(
        intent="inform",
        slots={"service": ["order-service"], "environment": env},
        active_loop="deploy_form",
        **kw,
    )


async def test_a_locked_environment_refuses_deploys_until_unlocked(
    rt, fake, make_tracker, dispatcher
):
    lock = make_tracker(
        intent="lock_environment",
        text="锁定测试环境，今晚压测",
        entities={"environment": "测试环境"},
    )
    await ActionLockEnvironment().run(dispatcher, lock, {})
    assert "张三 锁定了 test（测试）环境" in texts(dispatcher)[0]
    assert "原因：今晚压测" in texts(dispatcher)[0]

    await ActionSubmitDeploy().run(dispatcher, deploy_to(make_tracker, "test", user="u2"), {})
    refusal = texts(dispatcher)[1]
    assert "张三" in refusal and "今晚压测" in refusal
    assert fake.calls_to("POST") == []
    assert rt.audit.events()[-1].decision == "refused"

    unlock = make_tracker(
        intent="unlock_environment", text="解锁测试", entities={"environment": "测试"}
    )
    await ActionUnlockEnvironment().run(dispatcher, unlock, {})
    assert "张三 解除了 test（测试）环境的锁定" in texts(dispatcher)[2]

    await ActionSubmitDeploy().run(dispatcher, deploy_to(make_tracker, "test"), {})
    assert len(fake.calls_to("POST")) == 1


async def test_only_release_managers_lock_production(rt, fake, make_tracker, dispatcher):
    tracker = make_tracker(
        intent="lock_environment", text="锁定生产", entities={"environment": "生产"}
    )

    await ActionLockEnvironment().run(dispatcher, tracker, {})

    assert "release-managers" in texts(dispatcher)[0]
    assert rt.locks.get("prod") is None


async def test_unlocking_what_is_not_locked(rt, make_tracker, dispatcher):
    tracker = make_tracker(intent="unlock_environment", entities={"environment": "dev"})

    await ActionUnlockEnvironment().run(dispatcher, tracker, {})

    assert texts(dispatcher) == ["dev（开发）环境现在没有锁定，不用解锁。"]


async def test_a_lock_without_an_environment_asks_which(rt, make_tracker, dispatcher):
    await ActionLockEnvironment().run(
        dispatcher, make_tracker(intent="lock_environment", text="锁一下"), {}
    )

    [message] = dispatcher.messages
    assert message["text"] == "锁定哪个环境？"
    assert [b["payload"] for b in message["buttons"]] == [
        "锁定dev",
        "锁定test",
        "锁定uat",
        "锁定prod",
    ]


async def test_a_freeze_window_refuses_deploys_but_not_the_exempt(
    rt, fake, make_tracker, dispatcher, clock
):
    now = datetime.fromtimestamp(clock.value, rt.catalog.timezone)
    start = (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    end = (now + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
    text = DEFAULT_PATH.read_text(encoding="utf-8") + (
        "freeze_windows:\n"
        "  - name: 大促封网\n"
        "    environments: [uat]\n"
        f'    from: "{start}"\n'
        f'    to: "{end}"\n'
    )
    rt.catalog = parse_catalog(text)

    await ActionSubmitDeploy().run(dispatcher, deploy_to(make_tracker, "uat"), {})
    assert "大促封网" in texts(dispatcher)[0]
    assert fake.calls_to("POST") == []
