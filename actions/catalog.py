"""Which services and environments exist: asked from Zadig, labelled by the catalog."""

from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import runtime
from chatops import replies
from chatops.zadig.errors import ZadigError


class ActionListServices(Action):
    def name(self) -> Text:
        return "action_list_services"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Services Zadig knows for the project (cached), with the catalog's Chinese names."""
        rt = runtime()
        project = rt.catalog.project_key
        try:
            live = await rt.cached(f"services:{project}", lambda: rt.zadig.list_services(project))
        except ZadigError as exc:
            dispatcher.utter_message(text=replies.services_offline(exc, rt.catalog))
            return []
        dispatcher.utter_message(text=replies.services_list(live, rt.catalog))
        return []


class ActionListEnvironments(Action):
    def name(self) -> Text:
        return "action_list_environments"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """The catalog's environments with their workflow, branch and Zadig status."""
        rt = runtime()
        project = rt.catalog.project_key
        try:
            live = await rt.cached(
                f"environments:{project}", lambda: rt.zadig.list_environments(project)
            )
        except ZadigError as exc:
            dispatcher.utter_message(text=replies.environments_list(rt.catalog, None, exc))
            return []
        dispatcher.utter_message(text=replies.environments_list(rt.catalog, live))
        return []
