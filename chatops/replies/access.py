"""Refusals: what is missing, and who can help."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from chatops.access import Decision
    from chatops.catalog import Environment

# What each action is called in a sentence.
ACTION_WORDS = {
    "deploy": "发布",
    "cancel": "取消发布",
    "retry": "重试",
    "rollback": "回滚",
    "lock": "锁定环境",
    "unlock": "解锁环境",
    "approve": "审批",
}


def mention_text(staff_ids: Sequence[str]) -> str:
    return " ".join(f"@{s}" for s in staff_ids)


def not_a_member(action: str) -> str:
    what = ACTION_WORDS.get(action, action)
    return f"只有本企业的成员可以让我{what}，你的账号不在机器人所在的组织里。"


def refused(decision: "Decision", action: str, env: "Environment") -> str:
    what = ACTION_WORDS.get(action, action)
    where = f"{env.key}（{env.label}）"
    if decision.missing == "member":
        return not_a_member(action)
    if decision.missing == "conversation":
        return f"{where}环境的{what}只能在指定的群里申请。"
    if decision.missing == "self":
        helpers = f"请 {mention_text(decision.helpers)} 批准。" if decision.helpers else ""
        return f"不能批准或驳回自己的申请。{helpers}"
    if decision.missing == "role":
        roles = "、".join(decision.roles)
        helpers = f"，可以 {mention_text(decision.helpers)}" if decision.helpers else ""
        return f"{where}环境的{what}需要 {roles}{helpers}。"
    return f"目录里没有人可以在 {where} 环境{what}，请联系管理员在 catalog.yml 的 access 里配置。"
