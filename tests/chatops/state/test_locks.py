"""chatops/state/locks.py: one lock per environment, replaced atomically, gone when it expires."""

from __future__ import annotations

from chatops.state import Database, Lock, LockStore

T0 = 1_700_000_000.0


def lock_prod(store, who="lead01", nick="李四", reason="今晚有大促", until=T0 + 3600, now=T0):
    return store.lock("prod", who, nick, reason, until, "cid-1", now=now)


def test_a_lock_is_kept_with_who_why_and_until(db: Database):
    store = LockStore(db)
    made = lock_prod(store)
    assert made == Lock("prod", "lead01", "李四", "今晚有大促", T0, T0 + 3600, "cid-1")
    assert store.get("prod", now=T0 + 10) == made
    assert store.get("test", now=T0 + 10) is None
    assert store.active(now=T0 + 10) == [made]


def test_a_lock_without_an_end_lasts_until_someone_unlocks_it(db: Database):
    store = LockStore(db)
    made = lock_prod(store, until=None, reason="")
    assert store.get("prod", now=T0 + 365 * 86400) == made
    assert store.unlock("prod", now=T0 + 365 * 86400) == made
    assert store.get("prod", now=T0 + 365 * 86400) is None


def test_locking_again_replaces_the_lock_the_last_one_wins(db: Database):
    store = LockStore(db)
    lock_prod(store)
    second = lock_prod(store, "lead02", "王五", reason="压测", until=None, now=T0 + 5)
    assert store.get("prod", now=T0 + 6) == second
    assert [lock.locked_nick for lock in store.active(now=T0 + 6)] == ["王五"]


def test_unlock_returns_the_lock_it_removed_and_none_the_second_time(db: Database):
    store = LockStore(db)
    made = lock_prod(store)
    assert store.unlock("prod", now=T0 + 1) == made
    assert store.unlock("prod", now=T0 + 2) is None
    assert store.get("prod", now=T0 + 3) is None


def test_an_expired_lock_counts_as_gone_and_is_deleted(db: Database):
    store = LockStore(db)
    lock_prod(store, until=T0 + 60)
    assert store.get("prod", now=T0 + 59) is not None
    assert store.get("prod", now=T0 + 60) is None
    # Deleted, not just hidden: even asking "as of" an earlier time finds nothing now.
    assert store.get("prod", now=T0) is None


def test_unlocking_an_expired_lock_says_there_was_none(db: Database):
    store = LockStore(db)
    lock_prod(store, until=T0 + 60)
    assert store.unlock("prod", now=T0 + 61) is None
    assert store.active(now=T0) == []


def test_active_lists_the_locks_in_force_and_drops_the_expired(db: Database):
    store = LockStore(db)
    lock_prod(store, until=T0 + 60)
    uat = store.lock("uat", "u1", "张三", "联调", None, "cid-2", now=T0)
    test = store.lock("test", "u2", "赵六", "", T0 + 600, "cid-3", now=T0)
    assert store.active(now=T0 + 61) == [test, uat]  # by environment key
    assert store.get("prod", now=T0) is None


def test_the_store_clock_is_the_default_now(db: Database):
    clock = [T0]
    store = LockStore(db, clock=lambda: clock[0])
    made = store.lock("prod", "lead01", "李四", "", T0 + 10, "cid-1")
    assert made.locked_at == T0
    clock[0] = T0 + 11
    assert store.get("prod") is None


def test_two_engines_see_each_others_locks(db: Database, other: Database):
    mine, theirs = LockStore(db), LockStore(other)
    made = lock_prod(mine)
    assert theirs.get("prod", now=T0 + 1) == made
    replaced = lock_prod(theirs, "lead02", "王五", reason="回滚中", now=T0 + 2)
    assert mine.get("prod", now=T0 + 3) == replaced
    assert mine.unlock("prod", now=T0 + 4) == replaced
    assert theirs.active(now=T0 + 5) == []
    assert theirs.unlock("prod", now=T0 + 5) is None
