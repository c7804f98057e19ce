"""Task status words and links, Zadig failures in words, what the channel says itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional
from urllib.parse import quote

from chatops.zadig.errors import (
    ZadigAPIError,
    ZadigAuthError,
    ZadigError,
    ZadigNotFound,
    ZadigTimeout,
    ZadigUnavailable,
)
from chatops.zadig.models import Task

if TYPE_CHECKING:
    pass


STATUS_LABELS = {
    "passed": "成功",
    "failed": "失败",
    "timeout": "超时",
    "cancelled": "已取消",
    "reject": "被拒绝",
    "created": "已创建",
    "waiting": "排队中",
    "queued": "排队中",
    "blocked": "排队中",
    "pending": "准备中",
    "prepare": "准备中",
    "running": "执行中",
    "wait_for_approval": "等待审批",
    "pause": "已暂停",
    "skipped": "已跳过",
    "notRun": "未执行",
    "disabled": "已禁用",
}
STATUS_ICONS = {"passed": "✅", "failed": "❌", "timeout": "⏰", "cancelled": "🚫", "reject": "⛔"}


def status_label(status: Optional[str]) -> str:
    return STATUS_LABELS.get(status or "", status or "未知")


def task_url(web_url: str, project_key: str, workflow_key: str, task_id: int) -> str:
    """The task's page in Zadig's web UI."""
    return (
        f"{web_url.rstrip('/')}/v1/projects/detail/{quote(project_key)}/pipelines/custom/"
        f"{quote(workflow_key)}/{task_id}?display_name={quote(workflow_key)}"
    )


def duration_text(seconds: Optional[float]) -> str:
    if seconds is None or seconds < 0:
        return "未知"
    seconds = int(round(seconds))
    minutes, sec = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}小时{minutes:02d}分"
    if minutes:
        return f"{minutes}分{sec:02d}秒"
    return f"{sec}秒"


def stage_progress(task: Task) -> str:
    """``build ✅ → deploy 执行中`` style progress line."""
    parts = []
    for stage in task.stages:
        icon = STATUS_ICONS.get(stage.status)
        parts.append(f"{stage.name} {icon or status_label(stage.status)}")
    return " → ".join(parts)


def subject(service: Optional[str], environment: Optional[str], task: Task) -> str:
    what = f"{service} → {environment}" if service and environment else task.workflow_key
    return f"{what}（{task.workflow_key} #{task.task_id}）"


def describe_status(
    task: Task, link: str, service: Optional[str] = None, environment: Optional[str] = None
) -> str:
    """A status answer: where the task is, how long it took or has run, the link."""
    lines = [f"{subject(service, environment, task)}：{status_label(task.status)}"]
    progress = stage_progress(task)
    if progress:
        lines.append(f"阶段：{progress}")
    if task.is_terminal:
        lines.append(f"用时：{duration_text(task.duration_seconds)}")
    failed = task.failed_stage
    if failed is not None:
        lines.append(f"失败阶段：{failed.name}" + (f"（{failed.error}）" if failed.error else ""))
    lines.append(f"详情：{link}")
    return "\n".join(lines)


def describe_result(
    task: Task, link: str, service: Optional[str] = None, environment: Optional[str] = None
) -> str:
    """The unprompted follow-up posted when a task ends."""
    icon = STATUS_ICONS.get(task.status, "ℹ️")
    head = f"{icon} 发布{status_label(task.status)}：{subject(service, environment, task)}"
    lines = [head, f"用时：{duration_text(task.duration_seconds)}"]
    failed = task.failed_stage
    if failed is not None:
        lines.append(f"失败阶段：{failed.name}" + (f"（{failed.error}）" if failed.error else ""))
    elif task.error:
        lines.append(f"原因：{task.error}")
    lines.append(f"详情：{link}")
    return "\n".join(lines)


def explain_zadig_error(
    exc: ZadigError, doing: str = "调用 Zadig", *, changes_state: bool = False
) -> str:
    """One clear Chinese sentence per failure class; never includes the token.

    ``changes_state``: the request could have created or changed something (a trigger, a
    cancel). After a timeout Zadig may still have done it, so the reply must not say otherwise.
    """
    if isinstance(exc, ZadigAuthError):
        return (
            f"{doing}失败：Zadig 拒绝了机器人的 API Token（HTTP {exc.status_code}）。"
            "请管理员检查 ZADIG_TOKEN 是否过期或被停用。"
        )
    if isinstance(exc, ZadigUnavailable):
        what = "没有及时响应（超时）" if isinstance(exc, ZadigTimeout) else "连接中断或网关出错"
        if changes_state and exc.request_sent:
            return (
                f"{doing}时 Zadig {what}，操作可能已经生效。请先到 Zadig 里确认"
                "（或问我“测试环境的发布怎么样了”），再决定是否重试，以免重复执行。"
            )
        if isinstance(exc, ZadigTimeout):
            return f"{doing}失败：Zadig 没有及时响应（超时）。什么都没有改变，请稍后再试。"
        return f"{doing}失败：连不上 Zadig。什么都没有改变，请稍后再试或联系管理员。"
    if isinstance(exc, ZadigAPIError):
        detail = exc.description or exc.message or "未知错误"
        title = (exc.message or "").strip()
        if title and title != detail and not title.startswith("Internal Error"):
            detail = f"{title}：{detail}"
        if isinstance(exc, ZadigNotFound):
            return f"{doing}失败：Zadig 里找不到对应的对象（{detail}）。请检查 catalog.yml 的配置。"
        return f"{doing}失败：Zadig 返回 {detail}（code {exc.code}）。"
    return f"{doing}失败：{exc}"


# -- what the DingTalk channel answers before the dialogue runs ----------------------------------

ONLY_TEXT = "目前只支持文字消息，请直接打字告诉我要做什么，比如“把订单服务发到测试环境”。"
EMPTY_TEXT = "在的！说“帮助”看看我能做什么。"
# A turn that failed or produced no answer (the action server down, an action raising): part of
# it may have happened (a trigger may have gone out), so never claim that nothing did.
PROCESSING_FAILED = (
    "这条消息没有处理完，请稍后问我“刚才的发布怎么样了”确认发布状态，再决定要不要重发。"
)


def message_not_processed(text: str) -> str:
    """For a message whose processing was cut off (a crash): it may have partly happened."""
    said = text if len(text) <= 30 else text[:30] + "…"
    return (
        f"你刚才说的“{said}”没有处理完（机器人重启了）。请先问我“刚才的发布怎么样了”"
        "确认发布状态，再决定要不要重发。"
    )
