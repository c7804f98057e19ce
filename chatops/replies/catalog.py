"""What exists: services and environments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

from chatops.zadig.errors import (
    ZadigError,
)
from chatops.zadig.models import EnvironmentInfo, ServiceInfo

if TYPE_CHECKING:
    from chatops.catalog import Catalog
from chatops.replies.base import explain_zadig_error
from chatops.replies.deploys import environment_choice, service_choice

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
