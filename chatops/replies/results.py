"""Task results posted without being asked, and log tails on request."""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

from chatops.replies.base import STATUS_ICONS, duration_text, status_label, subject
from chatops.zadig.models import Job, Task

if TYPE_CHECKING:
    from chatops.diagnosis import Diagnosis

JOB_WORDS = {"zadig-build": "构建", "zadig-deploy": "部署", "approval": "审批"}


def job_label(job: Job) -> str:
    return f"{JOB_WORDS.get(job.type, job.type)} {job.display_name}".strip()


def per_service(task: Task, services: Sequence[str]) -> List[str]:
    """One line per service: how each of its jobs went ("- order-service：构建 ✅ 部署 ❌")."""
    lines = []
    for service in services:
        parts = [
            f"{JOB_WORDS.get(job.type, job.type)} {_icon(job.status)}"
            for job in task.jobs
            if service in job.services
        ]
        if parts:
            lines.append(f"- {service}：{' '.join(parts)}")
    return lines


def _icon(status: str) -> str:
    return STATUS_ICONS.get(status) or status_label(status)


def log_lines(tail: Sequence[str]) -> List[str]:
    """Log lines as markdown quotes (DingTalk renders no code blocks)."""
    return [f"> {line.replace('`', 'ˋ')}" for line in tail]


def result_message(
    task: Task,
    link: str,
    services: Sequence[str],
    environment: Optional[str],
    diagnosis: Optional["Diagnosis"] = None,
) -> Tuple[str, List[Tuple[str, str]]]:
    """(markdown text, choices) of a task's result; a failure names the stage and job, quotes
    the log tail and offers 重试 / 回滚 / 看完整日志."""
    icon = STATUS_ICONS.get(task.status, "ℹ️")
    name = "、".join(services) if services else None
    lines = [
        f"{icon} 发布{status_label(task.status)}：{subject(name, environment, task)}",
        f"用时：{duration_text(task.duration_seconds)}",
    ]
    if len(services) > 1:
        lines += per_service(task, services)
    choices: List[Tuple[str, str]] = []
    failed = task.failed_stage
    if failed is not None:
        job = diagnosis.job if diagnosis else None
        where = f"失败阶段：{failed.name}" + (f"，job {job_label(job)}" if job else "")
        error = (job.error if job else "") or failed.error or task.error
        lines.append(where + (f"（{error}）" if error else ""))
        if diagnosis and diagnosis.tail:
            lines.append(f"日志最后 {len(diagnosis.tail)} 行：")
            lines += log_lines(diagnosis.tail)
        elif diagnosis and not diagnosis.logs_available:
            lines.append("这台 Zadig 不提供日志接口（3.4.0 起才有），请在详情页查看日志。")
        if task.is_retryable:
            choices.append(("重试", f"重试任务 {task.task_id}"))
        if name and environment:
            choices.append(("回滚", f"把{services[0]}在{environment}回滚到上一个版本"))
        choices.append(("看完整日志", f"看任务 {task.task_id} 的日志"))
    elif task.error:
        lines.append(f"原因：{task.error}")
    lines.append(f"详情：{link}")
    return "\n".join(lines), choices


def log_answer(task: Task, link: str, diagnosis: "Diagnosis") -> str:
    """ "任务 45 为什么失败" / "看下日志": the failed (or last) job and its log tail."""
    head = f"{subject(None, None, task)}：{status_label(task.status)}"
    if diagnosis.job is None:
        return f"{head}，没有失败的 job。\n详情：{link}"
    lines = [head, f"失败的 job：{job_label(diagnosis.job)}"]
    if diagnosis.job.error:
        lines.append(f"错误：{diagnosis.job.error}")
    if diagnosis.tail:
        lines.append(f"日志最后 {len(diagnosis.tail)} 行：")
        lines += log_lines(diagnosis.tail)
    elif not diagnosis.logs_available:
        lines.append("这台 Zadig 不提供日志接口（3.4.0 起才有），请在详情页查看。")
    else:
        lines.append("日志是空的（job 还没结束时 Zadig 不提供日志）。")
    lines.append(f"完整日志：{link}")
    return "\n".join(lines)


APPROVAL_KINDS = {
    "lark": "飞书",
    "lark_intl": "Lark",
    "dingtalk": "钉钉 OA",
    "workwx": "企业微信",
}


def zadig_approval_waiting(
    task: Task, job: Job, service: Optional[str]
) -> Tuple[str, List[Tuple[str, str]]]:
    """A followed task reached a Zadig approval: who is asked, and how to answer here."""
    spec = job.approval
    lines = [f"⏸ {subject(service, None, task)} 在等 Zadig 的审批（{job.display_name}）"]
    if spec is not None and spec.approvers:
        voted = [
            f"{a.name}（{'同意' if a.decision == 'approve' else '拒绝'}）"
            for a in spec.approvers
            if a.decision
        ]
        lines.append(
            f"审批人：{'、'.join(a.name for a in spec.approvers)}，需要 {spec.needed} 人同意，"
            f"{spec.timeout_minutes} 分钟内有效。"
            + (f"已投票：{'、'.join(voted)}。" if voted else "")
        )
    if spec is not None and not spec.decidable_by_api:
        kind = APPROVAL_KINDS.get(spec.type, spec.type)
        lines.append(f"这是{kind}审批，Zadig 不能通过接口处理，请在{kind}里审批。")
        return "\n".join(lines), []
    lines.append(
        f"有权限的人可以回复“批准任务 {task.task_id}”或“驳回任务 {task.task_id} 原因”"
        "（机器人以它的 Zadig 账号投票，这个账号必须是该审批的审批人）。"
    )
    choices = [("批准", f"批准任务 {task.task_id}"), ("驳回", f"驳回任务 {task.task_id}")]
    return "\n".join(lines), choices


def no_zadig_approval_waiting(task: Task) -> str:
    return (
        f"{task.workflow_key} #{task.task_id} 现在没有在等 Zadig 审批"
        f"（{status_label(task.status)}）。要批准我这里的发布申请，请回复“批准 编号”。"
    )


def zadig_approval_elsewhere(task: Task, job: Job) -> str:
    kind = APPROVAL_KINDS.get(job.approval.type if job.approval else "", "第三方")
    return (
        f"{task.workflow_key} #{task.task_id} 的审批是{kind}审批，"
        f"Zadig 不能通过接口处理，请在{kind}里审批。"
    )


def zadig_approval_refused(exc: Exception, task: Task) -> str:
    detail = str(getattr(exc, "description", "") or exc)
    if "no authority" in detail:
        return (
            f"Zadig 拒绝了：机器人的 Zadig 账号不是 {task.workflow_key} #{task.task_id} 这个审批的"
            "审批人。请让管理员把机器人账号加进审批人，或在 Zadig 界面上审批。"
        )
    if "already" in detail:
        return (
            f"机器人的 Zadig 账号已经对 {task.workflow_key} #{task.task_id} 投过票了，"
            "Zadig 不接受第二次。"
        )
    if "not found approval" in detail:
        return (
            f"{task.workflow_key} #{task.task_id} 的审批已经结束或超时了"
            "（Zadig：not found approval）。"
        )
    return f"Zadig 没有接受这次审批：{detail}"


def zadig_approval_voted(task: Task, job: Job, nick: str, approve: bool) -> str:
    verb = "批准" if approve else "驳回"
    return (
        f"{'✅' if approve else '⛔'} 已按 {nick} 的意思在 Zadig 上{verb}了 "
        f"{task.workflow_key} #{task.task_id} 的审批（{job.display_name}）。"
        + ("任务会继续执行，结束后我会告诉你结果。" if approve else "任务会停止。")
    )
