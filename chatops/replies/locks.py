"""Environment locks and freeze windows: who locked, why, until when, and what is refused.

Times are shown as ``MM-DD HH:MM`` in the catalog's time zone (callers pass ``tz``).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from chatops.replies.access import ACTION_WORDS, mention_text
from chatops.replies.base import duration_text

if TYPE_CHECKING:
    from chatops.catalog import Environment
    from chatops.catalog.freeze import FreezeWindow
    from chatops.state.locks import Lock

__all__ = [
    "blocked_by_freeze",
    "blocked_by_lock",
    "clock_text",
    "locked",
    "locks_overview",
    "not_locked",
    "unlocked",
]


def clock_text(at: float, tz: tzinfo) -> str:
    """``08-23 10:00``: a moment as people in the catalog's time zone read it."""
    return datetime.fromtimestamp(at, tz).strftime("%m-%d %H:%M")


def _where(env: "Environment") -> str:
    return f"{env.key}（{env.label}）"


def _reason(lock: "Lock") -> str:
    return f"原因：{lock.reason}" if lock.reason else "没有说明原因"


def locked(lock: "Lock", env: "Environment", tz: tzinfo) -> str:
    """The answer to "锁定生产环境，今晚有大促"."""
    if lock.until is not None:
        span = duration_text(lock.until - lock.locked_at)
        until = f"，到 {clock_text(lock.until, tz)}（共 {span}）"
    else:
        until = "，不设结束时间，直到有人解锁"
    return (
        f"🔒 {lock.locked_nick} 锁定了 {_where(env)}环境{until}；{_reason(lock)}。\n"
        "锁定期间不接受发布和重试，回滚只限冻结豁免名单里的人。"
        f"解除请说“解锁{env.label}环境”。"
    )


def unlocked(lock: "Lock", env: "Environment", by_nick: str) -> str:
    """The answer to "解锁生产环境"; names whose lock it was when someone else lifts it."""
    whose = "" if by_nick == lock.locked_nick else f" {lock.locked_nick} 对"
    return f"🔓 {by_nick} 解除了{whose} {_where(env)}环境的锁定（{_reason(lock)}）。"


def not_locked(env: "Environment") -> str:
    return f"{_where(env)}环境现在没有锁定，不用解锁。"


def blocked_by_lock(
    lock: "Lock",
    env: "Environment",
    action: str,
    tz: tzinfo,
    *,
    helpers: Sequence[str] = (),
) -> str:
    """Refusing a deploy, retry or rollback because the environment is locked.

    ``helpers``: staff ids who may still do it (for a rollback: the freeze-exempt people).
    """
    what = ACTION_WORDS.get(action, action)
    until = (
        f"锁定到 {clock_text(lock.until, tz)}" if lock.until is not None else "锁定（没有结束时间）"
    )
    head = f"🔒 {_where(env)}环境被 {lock.locked_nick} {until}，{_reason(lock)}。现在不能{what}。"
    if helpers:
        return f"{head}\n锁定期间可以请 {mention_text(helpers)} {what}。"
    return (
        f"{head}\n需要{what}的话，请 {lock.locked_nick} 或有解锁权限的人先说“解锁{env.label}环境”。"
    )


def blocked_by_freeze(
    window: "FreezeWindow",
    env: "Environment",
    action: str,
    ends: datetime,
    *,
    helpers: Sequence[str] = (),
) -> str:
    """Refusing because a freeze window covers the environment; ``ends`` in the catalog's zone."""
    what = ACTION_WORDS.get(action, action)
    head = (
        f"❄️ {_where(env)}环境正在封板：{window.name}（{window.describe()}），"
        f"{ends:%m-%d %H:%M} 结束，现在不能{what}。"
    )
    if helpers:
        return f"{head}\n封板期间只有 {mention_text(helpers)} 可以{what}。"
    return f"{head}\n请在封板结束后再{what}。"


def locks_overview(
    locks: Sequence["Lock"],
    tz: tzinfo,
    environments: Optional[Mapping[str, "Environment"]] = None,
) -> str:
    """The answer to "哪些环境锁了": every lock in force, with who, why and until when."""
    if not locks:
        return "现在没有锁定的环境。"
    lines = [f"🔒 锁定中的环境（{len(locks)} 个）："]
    for lock in locks:
        env = (environments or {}).get(lock.environment)
        where = _where(env) if env is not None else lock.environment
        until = f"到 {clock_text(lock.until, tz)}" if lock.until is not None else "直到有人解锁"
        lines.append(
            f"- {where}：{lock.locked_nick} 于 {clock_text(lock.locked_at, tz)} 锁定，{until}，"
            f"{_reason(lock)}"
        )
    return "\n".join(lines)
