"""Every sentence the bot computes (fixed sentences are responses in ``domain.yml``).

Actions, the DingTalk channel and the follow-up worker import their wording from here, so the
whole Chinese voice of the bot can be read and changed in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional, Sequence
from urllib.parse import quote

from chatops.zadig.errors import (
    ZadigAPIError,
    ZadigAuthError,
    ZadigError,
    ZadigNotFound,
    ZadigTimeout,
    ZadigUnavailable,
)
from chatops.zadig.models import DeployRequest, EnvironmentInfo, ServiceInfo, Task, TriggeredTask

if TYPE_CHECKING:
    from chatops.catalog import Catalog, Environment, Service

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


# -- the deploy form ---------------------------------------------------------------------------


def _did_you_mean(close: Sequence[str]) -> str:
    return f"，是要 {' / '.join(close)} 吗？" if close else "。"


def unknown_service(wanted: Optional[str], close: Sequence[str]) -> str:
    return f"没有找到 {wanted}{_did_you_mean(close)}"


def unknown_environment(wanted: Optional[str], close: Sequence[str]) -> str:
    return f"没有 {wanted} 这个环境{_did_you_mean(close)}"


def invalid_branch(branch: Optional[str]) -> str:
    return f"分支名 {branch!r} 不合法，我会用环境的默认分支。"


def invalid_branch_replaced(branch: Optional[str], env: "Environment") -> str:
    return f"分支名 {branch!r} 不合法，改用 {env.key} 的默认分支 {env.branch}。"


def service_choice(service: "Service") -> str:
    return f"{service.name}（{service.label}）"


def environment_choice(env: "Environment") -> str:
    return f"{env.key}（{env.label}）"


def ask_service(services: Iterable["Service"]) -> str:
    return "发布哪个服务？可选：" + " / ".join(service_choice(s) for s in services)


def ask_environment(environments: Iterable["Environment"]) -> str:
    return "发布到哪个环境？可选：" + " / ".join(environment_choice(e) for e in environments)


def confirm_production(plan: DeployRequest, env_label: str) -> str:
    return (
        "⚠️ 这是生产环境发布，请确认：\n"
        f"- 服务：{plan.service_name}\n"
        f"- 环境：{plan.env_name}（{env_label}）\n"
        f"- 工作流：{plan.workflow_key}\n"
        f"- 分支：{plan.branch}\n"
        "回复“确认”开始发布，回复“不发了”放弃。"
    )


def trigger_failed(exc: ZadigError, plan: DeployRequest) -> str:
    text = explain_zadig_error(exc, "触发发布", changes_state=True)
    if isinstance(exc, ZadigNotFound):
        text += f"（{plan.env_name} 对应的工作流是 {plan.workflow_key}）"
    return text


def deploy_started(
    plan: DeployRequest, task: TriggeredTask, link: str, *, will_follow_up: bool
) -> str:
    promise = (
        "任务结束后我会在这里告诉你结果。"
        if will_follow_up
        else "这个渠道收不到自动通知，可以随时问我“刚才的发布怎么样了”。"
    )
    return (
        f"🚀 已开始发布 {plan.service_name} → {plan.env_name}（分支 {plan.branch}）\n"
        f"任务：{task.workflow_key} #{task.task_id}\n"
        f"详情：{link}\n{promise}"
    )


# -- finding the task a message means ----------------------------------------------------------


def no_task_yet() -> str:
    return (
        "这个会话里我还没有发起过发布。可以说“任务 45 怎么样了”或“测试环境的订单服务发布成功了吗”。"
    )


def task_not_found(task_id: int, workflow_key: Optional[str] = None) -> str:
    return (
        f"没有找到任务 {workflow_key} #{task_id}。" if workflow_key else f"没有找到任务 {task_id}。"
    )


def which_environment_has_task(task_id: int) -> str:
    return f"好几个环境都有任务 {task_id}，是哪个环境的？"


def ask_status_environment(service: str) -> str:
    return f"要查 {service} 在哪个环境的发布？"


def no_deploys_in(env: "Environment") -> str:
    return f"{environment_choice(env)}环境还没有发布记录。"


def service_not_in_recent_deploys(env: "Environment", service: str, depth: int) -> str:
    return f"{environment_choice(env)}环境最近 {depth} 次发布里没有 {service}。"


# -- cancel --------------------------------------------------------------------------------------


def already_ended(task: Task) -> str:
    return (
        f"{task.workflow_key} #{task.task_id} 已经结束（{status_label(task.status)}），不需要取消。"
    )


def cancel_refused_passed(workflow_key: str, task_id: int) -> str:
    return f"{workflow_key} #{task_id} 已经执行成功了，Zadig 不允许取消已成功的任务。"


def cancelled(workflow_key: str, task_id: int, link: str) -> str:
    return f"🚫 已取消 {workflow_key} #{task_id}。\n详情：{link}"


def confirm_production_cancel(task: Task) -> str:
    return (
        f"⚠️ {task.workflow_key} #{task.task_id} 是生产环境的发布"
        f"（{status_label(task.status)}），确定要取消吗？"
    )


# -- follow-ups ----------------------------------------------------------------------------------


def stopped_following(workflow_key: str, task_id: int, max_age: float, link: str) -> str:
    return (
        f"ℹ️ {workflow_key} #{task_id} 已经运行超过 {duration_text(max_age)} 还没有结束，"
        f"我不再自动跟踪，可以随时问我“任务 {task_id} 怎么样了”。\n详情：{link}"
    )


# -- what exists ---------------------------------------------------------------------------------


def services_offline(exc: ZadigError, catalog: "Catalog") -> str:
    """Zadig could not list the services: say so and list the catalog's."""
    lines = [f"- {service_choice(s)}" for s in catalog.services.values()]
    return (
        explain_zadig_error(exc, "查询服务列表")
        + "\n以下是本地目录里配置的服务：\n"
        + "\n".join(lines)
    )


def services_list(live: Sequence[ServiceInfo], catalog: "Catalog") -> str:
    """Zadig's services with the catalog's Chinese names; mismatches named both ways."""
    lines = []
    for info in live:
        known = catalog.service(info.name)
        lines.append(
            f"- {info.name}（{known.label}）"
            if known
            else f"- {info.name}（目录里还没有配置，暂时不能通过我发布）"
        )
    live_names = {i.name for i in live}
    missing = [s.name for s in catalog.services.values() if s.name not in live_names]
    text = f"项目 {catalog.project_key}（{catalog.project_name}）的服务：\n" + "\n".join(lines)
    if missing:
        text += f"\n注意：目录里的 {', '.join(missing)} 在 Zadig 里不存在。"
    return text


def environments_list(
    catalog: "Catalog",
    live: Optional[Sequence[EnvironmentInfo]],
    error: Optional[ZadigError] = None,
) -> str:
    """The catalog's environments with workflow, branch and Zadig's status when known."""
    status = {e.key: e.status for e in live or ()}
    lines = []
    for env in catalog.environments.values():
        extra = "，需要确认" if env.production else ""
        state = f"，状态 {status[env.key]}" if env.key in status else ""
        where = f"工作流 {env.workflow}，默认分支 {env.branch}"
        lines.append(f"- {environment_choice(env)}：{where}{state}{extra}")
    note = "\n" + explain_zadig_error(error, "查询环境状态") if error is not None else ""
    return "可以发布的环境：\n" + "\n".join(lines) + note
