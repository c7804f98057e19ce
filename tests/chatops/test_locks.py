"""chatops/locks.py (the guard, the reading of a lock request) and chatops/replies/locks.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time
from typing import Optional
from zoneinfo import ZoneInfo

import pytest

from chatops.access import Actor
from chatops.catalog import DEFAULT_PATH, parse_catalog
from chatops.catalog.freeze import FreezeWindow
from chatops.locks import blocked, parse_lock_request
from chatops.replies.locks import (
    blocked_by_freeze,
    blocked_by_lock,
    locked,
    locks_overview,
    not_locked,
    unlocked,
)
from chatops.state import Database, Lock, LockStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
CATALOG = parse_catalog(DEFAULT_PATH.read_text(encoding="utf-8"))  # prod: freeze_exempt leads
PROD, UAT = CATALOG.environments["prod"], CATALOG.environments["uat"]
WEEKEND = FreezeWindow("周末封板", ("prod",), weekly_from=(4, time(20)), weekly_to=(0, time(8)))
FROZEN = replace(CATALOG, freeze_windows=(WEEKEND,))


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


FRIDAY = at("2026-08-21 14:30")  # a Friday afternoon, before the weekend freeze
SATURDAY = at("2026-08-22 10:00")  # inside it; it ends Monday 08-24 08:00
NAMES = [name for env in CATALOG.environments.values() for name in (env.key, *env.aliases)]


def person(staff_id: str, member: bool = True) -> Actor:
    return Actor(staff_id=staff_id, nick=staff_id, member=member, conversation_id="cid-1")


USER, LEAD, OUTSIDER = person("u1"), person("lead01"), person("x9", member=False)


def lock_prod(store: LockStore, until: Optional[float] = FRIDAY + 3600) -> Lock:
    return store.lock("prod", "lead02", "王五", "今晚有大促", until, "cid-1", now=FRIDAY)


# -- the guard -----------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["deploy", "retry"])
def test_a_lock_refuses_deploys_and_retries_for_everyone(db: Database, action: str):
    store = LockStore(db)
    lock_prod(store)
    for who in (USER, LEAD, person("lead02")):  # exempt people and the locker too
        reply = blocked(CATALOG, store, PROD, action, who, FRIDAY + 60)
        assert reply is not None
        assert "王五" in reply and "今晚有大促" in reply and "08-21 15:30" in reply
        assert ("发布" if action == "deploy" else "重试") in reply
        assert "解锁生产环境" in reply


def test_a_rollback_during_a_lock_is_for_the_freeze_exempt(db: Database):
    store = LockStore(db)
    lock_prod(store)
    reply = blocked(CATALOG, store, PROD, "rollback", USER, FRIDAY + 60)
    assert reply is not None and "回滚" in reply and "@lead01 @lead02" in reply
    assert blocked(CATALOG, store, PROD, "rollback", LEAD, FRIDAY + 60) is None
    assert blocked(CATALOG, store, PROD, "rollback", OUTSIDER, FRIDAY + 60) is not None


def test_an_expired_lock_or_another_environments_lock_blocks_nothing(db: Database):
    store = LockStore(db)
    lock_prod(store, until=FRIDAY + 60)
    store.lock("uat", "u2", "赵六", "联调", None, "cid-2", now=FRIDAY)
    assert blocked(CATALOG, store, PROD, "deploy", USER, FRIDAY + 61) is None
    assert blocked(CATALOG, store, UAT, "deploy", USER, FRIDAY + 61) is not None


@pytest.mark.parametrize("action", ["cancel", "approve", "lock", "unlock"])
def test_other_actions_are_not_blocked(db: Database, action: str):
    store = LockStore(db)
    lock_prod(store)
    assert blocked(FROZEN, store, PROD, action, USER, SATURDAY) is None


@pytest.mark.parametrize("action", ["deploy", "retry", "rollback"])
def test_a_freeze_refuses_all_but_the_exempt(db: Database, action: str):
    store = LockStore(db)
    reply = blocked(FROZEN, store, PROD, action, USER, SATURDAY)
    assert reply is not None
    assert "周末封板" in reply and "08-24 08:00" in reply and "@lead01 @lead02" in reply
    assert blocked(FROZEN, store, PROD, action, LEAD, SATURDAY) is None
    assert blocked(FROZEN, store, PROD, action, OUTSIDER, SATURDAY) is not None


def test_outside_the_window_or_the_environments_it_names_nothing_is_frozen(db: Database):
    store = LockStore(db)
    assert blocked(FROZEN, store, PROD, "deploy", USER, FRIDAY) is None
    assert blocked(FROZEN, store, UAT, "deploy", USER, SATURDAY) is None


def test_a_lock_is_named_before_a_freeze_and_binds_the_exempt_too(db: Database):
    store = LockStore(db)
    store.lock("prod", "lead02", "王五", "故障处理中", None, "cid-1", now=SATURDAY)
    reply = blocked(FROZEN, store, PROD, "deploy", LEAD, SATURDAY + 60)
    assert reply is not None and "故障处理中" in reply and "周末封板" not in reply


# -- reading a lock request ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, reason, until",
    [
        ("锁定生产环境，今晚有大促", "今晚有大促", None),
        ("锁一下预发到明天上午10点", "", "08-22 10:00"),
        ("生产封网到 22:00，发版窗口关闭", "发版窗口关闭", "08-21 22:00"),
        ("lock prod for 2 hours: incident", "incident", "08-21 16:30"),
        ("锁定测试环境 3小时", "", "08-21 17:30"),
        ("锁住生产环境两个小时，压测", "压测", "08-21 16:30"),
        ("帮我把生产环境锁住，原因是压测", "压测", None),
        ("锁定预发到今晚10点半，联调", "联调", "08-21 22:30"),
        ("锁定生产到9点", "", "08-22 09:00"),  # 09:00 has passed today: tomorrow
        ("锁定生产到 14:00", "", "08-22 14:00"),
        ("锁定生产到下午3点", "", "08-21 15:00"),
        ("锁定生产环境到明天", "", "08-23 00:00"),  # the whole of tomorrow
        ("锁定测试环境半小时", "", "08-21 15:00"),
        ("锁定生产环境 一个半小时 数据迁移", "数据迁移", "08-21 16:00"),
        ("lock uat until 10pm: release train", "release train", "08-21 22:00"),
        ("锁定生产环境，3 台机器要换", "3 台机器要换", None),
        ("锁定生产环境，10点的版本有问题", "10点的版本有问题", None),  # a time, but not an end
        ("锁定生产环境到十一点", "", "08-22 11:00"),
        ("生产环境锁到明早8点 机房搬迁", "机房搬迁", "08-22 08:00"),
        ("锁定生产 90分钟", "", "08-21 16:00"),
        ("锁定生产环境 今晚12点前 大促预热", "大促预热", "08-22 00:00"),
        ("冻结 uat for 45 minutes", "", "08-21 15:15"),
        ("lock生产环境到今晚1点", "", "08-22 01:00"),
        ("锁定生产环境 2天 春节", "春节", "08-23 14:30"),
    ],
)
def test_reading_reason_and_end(text: str, reason: str, until: Optional[str]):
    got_reason, got_until = parse_lock_request(text, FRIDAY, SHANGHAI, names=NAMES)
    shown = (
        datetime.fromtimestamp(got_until, SHANGHAI).strftime("%m-%d %H:%M") if got_until else None
    )
    assert (got_reason, shown) == (reason, until)


def test_without_names_only_a_word_ending_in_huanjing_is_taken_as_the_environment():
    assert parse_lock_request("锁定测试环境 3小时", FRIDAY, SHANGHAI)[0] == ""
    assert parse_lock_request("锁定预发，联调中", FRIDAY, SHANGHAI)[0] == "预发，联调中"


def test_times_are_read_in_the_given_time_zone():
    _, until = parse_lock_request("锁定生产到 22:00", FRIDAY, ZoneInfo("UTC"), names=NAMES)
    # 14:30 in Shanghai is 06:30 UTC: 22:00 UTC is still today there.
    assert datetime.fromtimestamp(until, ZoneInfo("UTC")).strftime("%m-%d %H:%M") == "08-21 22:00"


# -- the words -----------------------------------------------------------------------------------

LOCK = Lock("prod", "lead02", "王五", "今晚有大促", FRIDAY, FRIDAY + 7.5 * 3600, "cid-1")


def test_locked_says_who_why_and_until_when():
    text = locked(LOCK, PROD, SHANGHAI)
    assert "王五" in text and "prod（生产）" in text and "今晚有大促" in text
    assert "08-21 22:00" in text and "7小时30分" in text
    forever = locked(replace(LOCK, until=None, reason=""), PROD, SHANGHAI)
    assert "直到有人解锁" in forever and "没有说明原因" in forever


def test_unlocked_names_whose_lock_someone_else_lifted():
    assert unlocked(LOCK, PROD, "王五").startswith("🔓 王五 解除了 prod（生产）环境的锁定")
    other = unlocked(LOCK, PROD, "李四")
    assert "李四 解除了 王五 对 prod（生产）环境的锁定" in other and "今晚有大促" in other


def test_not_locked():
    assert "prod（生产）" in not_locked(PROD) and "没有锁定" in not_locked(PROD)


def test_blocked_by_lock_words():
    text = blocked_by_lock(LOCK, PROD, "deploy", SHANGHAI)
    assert "王五" in text and "今晚有大促" in text and "08-21 22:00" in text and "不能发布" in text
    helped = blocked_by_lock(LOCK, PROD, "rollback", SHANGHAI, helpers=["lead01"])
    assert "不能回滚" in helped and "@lead01" in helped
    assert "没有结束时间" in blocked_by_lock(replace(LOCK, until=None), PROD, "retry", SHANGHAI)


def test_blocked_by_freeze_words():
    ends = datetime(2026, 8, 24, 8, 0, tzinfo=SHANGHAI)
    text = blocked_by_freeze(WEEKEND, PROD, "deploy", ends)
    assert "周末封板" in text and "每周五 20:00 ~ 周一 08:00" in text and "08-24 08:00" in text
    assert "封板结束后" in text
    assert "@lead01 @lead02" in blocked_by_freeze(
        WEEKEND, PROD, "retry", ends, helpers=["lead01", "lead02"]
    )


def test_locks_overview_lists_who_why_until():
    uat = Lock("uat", "u2", "赵六", "", FRIDAY - 3600, None, "cid-2")
    text = locks_overview([LOCK, uat], SHANGHAI, CATALOG.environments)
    assert "2 个" in text
    assert "prod（生产）：王五 于 08-21 14:30 锁定，到 08-21 22:00，原因：今晚有大促" in text
    assert "uat（预发）：赵六 于 08-21 13:30 锁定，直到有人解锁，没有说明原因" in text
    assert "- prod：" in locks_overview([LOCK], SHANGHAI)
    assert locks_overview([], SHANGHAI) == "现在没有锁定的环境。"
