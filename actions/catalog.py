"""Which services and environments exist: asked from Zadig, labelled by the catalog."""

from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import runtime
from chatops.formatting import explain_zadig_error
from chatops.zadig.errors import ZadigError


class ActionListServices(Action):
    def name(self) -> Text:
        return "action_list_services"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Services Zadig knows for the project (cached), with the catalog's Chinese names."""
        rt = runtime()
        catalog = rt.catalog
        try:
            live = await rt.cached(
                f"services:{catalog.project_key}",
                lambda: rt.zadig.list_services(catalog.project_key),
            )
        except ZadigError as exc:
            lines = [f"- {s.name}（{s.label}）" for s in catalog.services.values()]
            dispatcher.utter_message(
                text=explain_zadig_error(exc, "查询服务列表")
                + "\n以下是本地目录里配置的服务：\n"
                + "\n".join(lines)
            )
            return []
        lines = []
        for info in live:
            known = catalog.service(info.name)
            lines.append(
                f"- {info.name}（{known.label}）"
                if known
                else f"- {info.name}（目录里还没有配置，暂时不能通过我发布）"
            )
        missing = [
            s.name for s in catalog.services.values() if s.name not in {i.name for i in live}
        ]
        text = f"项目 {catalog.project_key}（{catalog.project_name}）的服务：\n" + "\n".join(lines)
        if missing:
            text += f"\n注意：目录里的 {', '.join(missing)} 在 Zadig 里不存在。"
        dispatcher.utter_message(text=text)
        return []


class ActionListEnvironments(Action):
    def name(self) -> Text:
        return "action_list_environments"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """The catalog's environments with their workflow, branch and Zadig status."""
        rt = runtime()
        catalog = rt.catalog
        note = ""
        try:
            live = await rt.cached(
                f"environments:{catalog.project_key}",
                lambda: rt.zadig.list_environments(catalog.project_key),
            )
            status = {e.key: e.status for e in live}
        except ZadigError as exc:
            status, note = {}, "\n" + explain_zadig_error(exc, "查询环境状态")
        lines = []
        for env in catalog.environments.values():
            extra = "，需要确认" if env.production else ""
            state = f"，状态 {status[env.key]}" if env.key in status else ""
            lines.append(
                f"- {env.key}（{env.label}）：工作流 {env.workflow}，默认分支 "
                f"{env.branch}{state}{extra}"
            )
        dispatcher.utter_message(text="可以发布的环境：\n" + "\n".join(lines) + note)
        return []
