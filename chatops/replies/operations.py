"""Retry and rollback: refusals, plans, approvals, starts."""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from chatops.replies.access import mention_text
from chatops.replies.base import duration_text, status_label
from chatops.replies.locks import clock_text
from chatops.zadig.models import Task, TriggeredTask

if TYPE_CHECKING:
    from chatops.catalog import Catalog, Environment
    from chatops.images import Deployed
    from chatops.operations import RollbackPlan
    from chatops.state import ApprovalRequest

KIND_WORDS = {"deploy": "发布", "retry": "重试", "rollback": "回滚"}


def not_in_catalog(workflow_key: str) -> str:
    return f"工作流 {workflow_key} 不在 catalog.yml 里，我不替它做操作，请在 Zadig 界面上处理。"


def not_retryable(task: Task) -> str:
    return (
        f"{task.workflow_key} #{task.task_id} 现在是“{status_label(task.status)}”，"
        "Zadig 只能重试失败、超时、已取消或被拒绝的任务。"
    )


def retried(workflow_key: str, task_id: int, link: str) -> str:
    return (
        f"🔁 已重试 {workflow_key} #{task_id}（同一个任务号，从失败的地方重新执行）。\n"
        f"详情：{link}\n任务结束后我会在这里告诉你结果。"
    )


def no_rollback_workflow(env: "Environment") -> str:
    return (
        f"{env.key}（{env.label}）环境没有配置回滚工作流，所以我没法回滚。请在 Zadig 里建一个只含"
        "部署 job（镜像在运行时指定）的工作流，然后在 catalog.yml 这个环境下写上 "
        "rollback: {workflow: <工作流>, deploy_job: deploy}。"
    )


def deployed_text(deployed: "Deployed", tz: tzinfo) -> str:
    when = clock_text(deployed.at, tz) if deployed.at else "时间未知"
    return f"{deployed.tag}（{deployed.workflow_key} #{deployed.task_id}，{deployed.by}，{when}）"


def task_did_not_deploy(service: str, env: "Environment", task_id: int) -> str:
    return f"任务 {task_id} 没有把 {service} 成功部署到 {env.key}，找不到要回滚到的版本。"


def nothing_to_roll_back_to(
    service: str, env: "Environment", current: Optional["Deployed"], tz: tzinfo
) -> str:
    now = f"现在运行的是 {deployed_text(current, tz)}，" if current else ""
    return (
        f"{now}在 {env.key} 的发布记录里找不到 {service} 更早的不同版本，没有可以回滚到的版本。"
        "可以说“回滚到任务 N 的版本”指定一个任务。"
    )


def already_running(target: "Deployed", env: "Environment") -> str:
    return f"{target.service} 在 {env.key} 现在运行的就是 {target.tag}，不需要回滚。"


def rollback_plan_text(
    plan: "RollbackPlan", env: "Environment", tz: tzinfo, *, needs_approval: bool
) -> str:
    lines = [f"⚠️ 回滚 {env.key}（{env.label}）环境，请确认："]
    for step in plan.steps:
        now = deployed_text(step.current, tz) if step.current else "未知"
        lines.append(f"- {step.service}：现在 {now}")
        lines.append(f"  回滚到 {deployed_text(step.target, tz)}")
    lines.append(f"- 工作流：{plan.workflow_key}（只部署，不构建）")
    then = "提交审批（批准后才会执行）" if needs_approval else "开始回滚"
    lines.append(f"回复“确认”{then}，回复“算了”放弃。")
    return "\n".join(lines)


def rollback_summary(plan: Dict[str, Any]) -> str:
    parts = [f"{i['service']} → {_tag(i['image'])}" for i in plan["images"]]
    return f"回滚 {plan['environment']}：" + "、".join(parts)


def _tag(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    return tail.split(":", 1)[1] if ":" in tail else image


def rollback_started(plan: Dict[str, Any], task: TriggeredTask, link: str) -> str:
    parts = "、".join(f"{i['service']} → {_tag(i['image'])}" for i in plan["images"])
    return (
        f"⏪ 已开始回滚 {plan['environment']}：{parts}\n"
        f"任务：{task.workflow_key} #{task.task_id}\n详情：{link}\n任务结束后我会在这里告诉你结果。"
    )


def operation_approval_requested(
    request: "ApprovalRequest", env: "Environment", mentions: Sequence[str], ttl: float
) -> str:
    what = KIND_WORDS.get(request.kind, request.kind)
    who = f"需要 {mention_text(mentions)} 中的一位批准" if mentions else "需要审批人批准"
    return (
        f"📝 审批 #{request.id}：{request.requester_nick} 申请在{env.label}环境{what}\n"
        f"- {request.summary}\n"
        f"{who}，{duration_text(ttl)}内有效。批准前不会向 Zadig 发送任何请求。\n"
        f"审批人请回复“批准 {request.id}”，或“驳回 {request.id} 原因”。"
    )


def nothing_pending_to_confirm() -> str:
    return "现在没有等你确认的操作。"


def confirmation_expired() -> str:
    return "这个确认已经超时了（超过 5 分钟），为了安全请重新说一遍要做什么。"


def rollback_what(services: Sequence[str], env: Optional["Environment"]) -> str:
    if services:
        return f"要回滚哪个环境的 {'、'.join(services)}？"
    where = f"{env.key}（{env.label}）的" if env else ""
    return f"要回滚{where}哪个服务？"


def rollback_questions(
    catalog: "Catalog", services: Sequence[str], env: Optional["Environment"]
) -> List[Tuple[str, str]]:
    """One-tap rollback requests that fill in what is missing."""
    if services:
        names = "、".join(services)
        return [
            (f"{e.key}（{e.label}）", f"把{names}在{e.key}回滚到上一个版本")
            for e in catalog.environments.values()
        ]
    where = f"在{env.key}" if env else ""
    return [
        (f"{s.name}（{s.label}）", f"把{s.name}{where}回滚到上一个版本")
        for s in catalog.services.values()
    ]
