"""The deploy history in the chat: "发布记录", "今天谁发了生产", "订单服务最近几次发布"."""

from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import latest_entity, runtime
from chatops import replies
from chatops.history import DeployHistory, HistoryQuery, parse_limit, parse_period


class ActionDeployHistory(Action):
    def name(self) -> Text:
        return "action_deploy_history"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Recent deploys from the audit trail: who asked, who approved, the result."""
        rt = runtime()
        text = str((tracker.latest_message or {}).get("text") or "")
        env_text, service_text = (
            latest_entity(tracker, "environment"),
            latest_entity(tracker, "service"),
        )
        env = rt.catalog.environment(env_text)
        service = rt.catalog.service(service_text)
        if env_text and env is None:
            close = rt.catalog.suggest_environments(env_text)
            dispatcher.utter_message(text=replies.unknown_environment(env_text, close))
            return []
        if service_text and service is None:
            close = rt.catalog.suggest_services(service_text)
            dispatcher.utter_message(text=replies.unknown_service(service_text, close))
            return []
        since, period = parse_period(text, rt.clock(), rt.catalog.timezone)
        query = HistoryQuery(
            environment=env.key if env else None,
            service=service.name if service else None,
            since=since,
            period=period,
            limit=parse_limit(text),
        )
        entries = DeployHistory(rt.audit, rt.approvals).entries(query)
        dispatcher.utter_message(text=replies.deploy_history(entries, query, rt.catalog.timezone))
        return []
