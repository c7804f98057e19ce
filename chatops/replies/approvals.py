"""Two-person approval in the chat: the request, the answers, the remark on the Zadig task."""

from __future__ import annotations

import time
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

from chatops.replies.access import mention_text
from chatops.replies.base import duration_text, status_label
from chatops.zadig.models import DeployRequest

if TYPE_CHECKING:
    from chatops.access import Actor
    from chatops.catalog import Environment
    from chatops.history import HistoryEntry, HistoryQuery
    from chatops.state import ApprovalRequest
    from chatops.zadig.models import WorkflowJob

STATE_WORDS = {
    "approved": "已批准",
    "triggered": "已批准并开始发布",
    "rejected": "已被驳回",
    "expired": "已过期",
    "failed": "批准后没能开始发布",
    "pending": "还在等待审批",
}


def plan_summary(plan: DeployRequest) -> str:
    return f"{'、'.join(plan.service_names)} → {plan.env_name}（分支 {plan.branch}）"


def approval_requested(
    request: "ApprovalRequest",
    env: "Environment",
    mentions: Sequence[str],
    ttl: float,
    changes: str = "",
) -> str:
    plan = request.plan
    who = f"需要 {mention_text(mentions)} 中的一位批准" if mentions else "需要审批人批准"
    if request.required > 1:
        who = f"需要 {request.required} 位审批人批准（{mention_text(mentions)}）"
    return (
        f"📝 审批 #{request.id}：{request.requester_nick} 申请发布到{env.label}环境\n"
        f"- 服务：{'、'.join(plan['services'])}\n"
        f"- 环境：{env.key}（{env.label}）\n"
        f"- 分支：{plan['branch']}\n"
        f"- 工作流：{plan['workflow_key']}\n"
        f"{changes}"
        f"{who}，{duration_text(ttl)}内有效。批准前不会向 Zadig 发送任何请求。\n"
        f"审批人请回复“批准 {request.id}”，或“驳回 {request.id} 原因”。"
    )


def approval_choices(request: "ApprovalRequest") -> Tuple[Tuple[str, str], ...]:
    return (
        (f"批准 #{request.id}", f"批准 {request.id}"),
        (f"驳回 #{request.id}", f"驳回 {request.id}"),
    )


def approved_and_started(request: "ApprovalRequest", approver_nick: str) -> str:
    return f"✅ {approver_nick} 批准了审批 #{request.id}（{request.requester_nick} 申请）。"


def approval_counted(request: "ApprovalRequest") -> str:
    return (
        f"已记录 {request.approver_nicks[-1]} 对审批 #{request.id} 的批准"
        f"（{len(request.votes)}/{request.required}），还需要 "
        f"{request.required - len(request.votes)} 位审批人。"
    )


def approval_rejected(request: "ApprovalRequest") -> str:
    reason = f"：{request.reason}" if request.reason else "。"
    return (
        f"⛔ {request.decided_nick} 驳回了审批 #{request.id}（{request.requester_nick} 申请 "
        f"{'、'.join(request.plan['services'])} → {request.environment}）{reason}没有发布。"
    )


def approval_expired(request: "ApprovalRequest") -> str:
    return (
        f"⌛ 审批 #{request.id}（{request.requester_nick} 申请 "
        f"{'、'.join(request.plan['services'])} → {request.environment}）在有效期内没有人批准，"
        "已过期，没有发布。需要的话请重新申请。"
    )


def approval_already_decided(request: "ApprovalRequest") -> str:
    state = STATE_WORDS.get(request.state, request.state)
    by = f"（{request.decided_nick}）" if request.decided_nick else ""
    return f"审批 #{request.id} {state}{by}，不能再批准或驳回。"


def approval_unknown(request_id: int) -> str:
    return f"没有找到审批 #{request_id}。"


def approval_plan_changed(request: "ApprovalRequest") -> str:
    return (
        f"审批 #{request.id} 的发布计划和现在的目录对不上（工作流或服务配置变了），"
        "为了安全没有发布，请重新申请。"
    )


def no_pending_approvals() -> str:
    return "现在没有待审批的申请。"


def which_approval(pending: Sequence["ApprovalRequest"], verb: str) -> str:
    lines = [f"有 {len(pending)} 个待审批的申请，要{verb}哪一个？"]
    for request in pending:
        lines.append(
            f"- #{request.id} {request.requester_nick}：{'、'.join(request.plan['services'])} → "
            f"{request.environment}"
        )
    return "\n".join(lines)


def task_remark(
    requester: "Actor", approval: Optional["ApprovalRequest"], approver: Optional["Actor"]
) -> str:
    """What the Zadig task's remark says (Zadig itself records the bot's token user)."""
    text = f"部署助手：{requester.nick}（{requester.staff_id}）申请"
    if approval is not None and approver is not None:
        text += f"，{approver.nick}（{approver.staff_id}）批准（审批 #{approval.id}）"
    return text + f"，{time.strftime('%Y-%m-%d %H:%M')}"


def workflow_has_unfillable_job(workflow_key: str, job: "WorkflowJob") -> str:
    return (
        f"工作流 {workflow_key} 里有 {job.name}（{job.type}）这个 job，我没法替它填参数；"
        "Zadig 会跳过没有填参数的 job，为了不让它被悄悄跳过，我不启动这个工作流。"
        "请在 Zadig 界面上运行，或让管理员调整 catalog.yml。"
    )


def zadig_too_old_for_approval(
    workflow_key: str, jobs: Sequence[str], version: Tuple[int, ...]
) -> str:
    return (
        f"工作流 {workflow_key} 有审批 job（{'、'.join(jobs)}），但这台 Zadig "
        f"（{'.'.join(map(str, version))}）在 OpenAPI 启动的任务里会丢掉审批（4.1.0 起才保留）。"
        "为了不绕过审批，我不从聊天里启动它：请在 Zadig 界面上运行这个工作流，"
        "或在 catalog.yml 里为这个环境设置 allow_skipping_zadig_approval: true。"
    )


def deploy_history(
    entries: Sequence["HistoryEntry"],
    query: "HistoryQuery",
    tz: "tzinfo",
) -> str:
    """The history answer: one line per task, newest first."""
    scope = "".join(
        part
        for part in (
            query.period,
            f" {query.environment} 环境" if query.environment else "",
            f" {query.service}" if query.service else "",
        )
    ).strip()
    if not entries:
        return f"{scope or '最近'}没有通过我发起的发布记录。"
    lines = [
        f"📜 {scope + '的' if scope else '最近的'}发布记录（最新在前，共 {len(entries)} 条）："
    ]
    for entry in entries:
        when = datetime.fromtimestamp(entry.at, tz).strftime("%m-%d %H:%M")
        approved = f"，{'、'.join(entry.approvers)} 批准" if entry.approvers else ""
        result = status_label(entry.result) if entry.result else "进行中或未知"
        lines.append(
            f"- {when} {'、'.join(entry.services)} → {entry.environment}（{entry.branch}）"
            f"：{entry.requester} 申请{approved}，{result}（{entry.workflow_key} #{entry.task_id}）"
        )
    return "\n".join(lines)
