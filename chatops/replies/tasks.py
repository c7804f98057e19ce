"""Finding a task, cancelling it, following it up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from chatops.zadig.models import Task

if TYPE_CHECKING:
    from chatops.catalog import Environment
from chatops.replies.base import duration_text, status_label
from chatops.replies.deploys import environment_choice

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
