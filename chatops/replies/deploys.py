"""The deploy form: questions, the plan, confirmation, the start of a task."""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING, Iterable, Mapping, Optional, Sequence

from chatops.zadig.errors import (
    ZadigError,
    ZadigNotFound,
)
from chatops.zadig.models import DeployRequest, TriggeredTask

if TYPE_CHECKING:
    from chatops.catalog import Environment, Service
    from chatops.images import Deployed
from chatops.replies.base import explain_zadig_error
from chatops.replies.operations import deployed_text

# -- the deploy form ---------------------------------------------------------------------------


def _did_you_mean(close: Sequence[str]) -> str:
    return f"，是要 {' / '.join(close)} 吗？" if close else "。"


def unknown_service(wanted: Optional[str], close: Sequence[str]) -> str:
    return f"没有找到 {wanted}{_did_you_mean(close)}"


def unknown_environment(wanted: Optional[str], close: Sequence[str]) -> str:
    return f"没有 {wanted} 这个环境{_did_you_mean(close)}"


def yes_takes(offered: str) -> str:
    """After a single "是要 X 吗？": how to take it, instead of the whole list again."""
    return f"回复“是”就用 {offered}，或者点下面选别的。"


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


def services_text(plan: DeployRequest) -> str:
    return "、".join(plan.service_names)


def one_environment_at_a_time(keys: Sequence[str]) -> str:
    return f"一次只能发到一个环境（你提到了 {' / '.join(keys)}），发到哪个？"


def change_summary(
    branch: str, running: Optional[Mapping[str, Optional["Deployed"]]], tz: tzinfo
) -> str:
    """What runs in the environment now, next to what this deploy brings (before production).
    ``running`` None: Zadig could not be read, and the plan says so instead of guessing."""
    if running is None:
        return "- 现在运行：查不到（Zadig 暂时读不到任务记录）\n"
    lines = ["- 现在运行："]
    for service, deployed in running.items():
        now = deployed_text(deployed, tz) if deployed else "没有找到部署记录"
        lines.append(f"  - {service}：{now}")
    lines.append(f"- 将发布：分支 {branch} 的新构建")
    return "\n".join(lines) + "\n"


def confirm_production(
    plan: DeployRequest, env_label: str, *, needs_approval: bool, changes: str = ""
) -> str:
    then = "提交审批（批准后才会开始发布）" if needs_approval else "开始发布"
    return (
        "⚠️ 这是生产环境发布，请确认：\n"
        f"- 服务：{services_text(plan)}\n"
        f"- 环境：{plan.env_name}（{env_label}）\n"
        f"- 工作流：{plan.workflow_key}\n"
        f"- 分支：{plan.branch}\n"
        f"{changes}"
        f"回复“确认”{then}，回复“不发了”放弃。确认只对上面这份计划有效。"
    )


def trigger_failed(exc: ZadigError, plan: DeployRequest) -> str:
    description = getattr(exc, "description", "") or ""
    if "undefined job type" in description and "approval" in description:
        # A Zadig before v4.1.0 refuses approval jobs in OpenAPI inputs: nothing started.
        return (
            f"工作流 {plan.workflow_key} 有审批 job，这台 Zadig 不支持在 OpenAPI 启动的任务里"
            "保留审批（4.1.0 起支持），什么都没有启动。请在 Zadig 界面上运行这个工作流。"
        )
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
        f"🚀 已开始发布 {services_text(plan)} → {plan.env_name}（分支 {plan.branch}）\n"
        f"任务：{task.workflow_key} #{task.task_id}\n"
        f"详情：{link}\n{promise}"
    )
