"""The deploy form: ask for what is missing, confirm production, trigger Zadig, promise a result."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import choice_buttons, conversation_id, first_value, reply_target, runtime
from chatops import replies
from chatops.tasks import task_ref
from chatops.zadig.errors import ZadigError

logger = logging.getLogger(__name__)

FORM_SLOTS = ("service", "environment", "branch", "confirmed")


def reset_form_slots() -> List[EventType]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS]


def valid_branch(branch: Optional[str]) -> bool:
    """A git ref name Zadig can check out: no whitespace, no leading '-'."""
    if not branch:
        return False
    return not any(ch.isspace() for ch in branch) and not branch.startswith("-")


class ValidateDeployForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_deploy_form"

    async def required_slots(
        self,
        domain_slots: List[Text],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[Text]:
        """``confirmed`` (an explicit 确认) is only required for production environments."""
        env = runtime().catalog.environment(first_value(tracker.get_slot("environment")))
        if env is not None and env.production:
            return list(domain_slots)
        return [slot for slot in domain_slots if slot != "confirmed"]

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Also validate ``branch``: it is optional, and rasa_sdk only validates required slots."""
        events = await super().get_validation_events(dispatcher, tracker, domain)
        if "branch" in tracker.slots_to_validate():
            result = await self.validate_branch(
                tracker.get_slot("branch"), dispatcher, tracker, domain
            )
            events += [SlotSet(slot, value) for slot, value in result.items()]
        return events

    async def validate_service(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A catalog service (by name or alias), or say what was not found and what is close."""
        wanted = first_value(value)
        catalog = runtime().catalog
        service = catalog.service(wanted)
        if service is not None:
            return {"service": service.name}
        close = catalog.suggest_services(wanted or "")
        dispatcher.utter_message(text=replies.unknown_service(wanted, close))
        return {"service": None}

    async def validate_environment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        wanted = first_value(value)
        catalog = runtime().catalog
        env = catalog.environment(wanted)
        if env is None:
            close = catalog.suggest_environments(wanted or "")
            dispatcher.utter_message(text=replies.unknown_environment(wanted, close))
            return {"environment": None}
        # A confirmation given for another environment does not carry over.
        return {"environment": env.key, "confirmed": None}

    async def validate_branch(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        branch = first_value(value)
        if not valid_branch(branch):
            dispatcher.utter_message(text=replies.invalid_branch(branch))
            return {"branch": None}
        return {"branch": branch}

    async def validate_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return {"confirmed": True if value is True else None}


class ActionAskService(Action):
    def name(self) -> Text:
        return "action_ask_service"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Ask which service, offering every catalog service as a one-tap choice."""
        services = list(runtime().catalog.services.values())
        dispatcher.utter_message(
            text=replies.ask_service(services),
            buttons=choice_buttons([(replies.service_choice(s), s.name) for s in services]),
        )
        return []


class ActionAskEnvironment(Action):
    def name(self) -> Text:
        return "action_ask_environment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Ask which environment, listing the catalog's environments."""
        envs = list(runtime().catalog.environments.values())
        dispatcher.utter_message(
            text=replies.ask_environment(envs),
            buttons=choice_buttons([(replies.environment_choice(e), e.key) for e in envs]),
        )
        return []


class ActionAskConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Summarise a production deploy and ask for an explicit yes."""
        catalog = runtime().catalog
        plan = catalog.plan(
            first_value(tracker.get_slot("service")) or "",
            first_value(tracker.get_slot("environment")) or "",
            first_value(tracker.get_slot("branch")),
        )
        env = catalog.environment(plan.env_name)
        dispatcher.utter_message(
            text=replies.confirm_production(plan, env.label if env else plan.env_name),
            buttons=choice_buttons([("确认发布", "确认"), ("不发了", "不发了")]),
        )
        return []


class ActionSubmitDeploy(Action):
    def name(self) -> Text:
        return "action_submit_deploy"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Trigger the catalog's workflow, reply with the task, and register the follow-up."""
        rt = runtime()
        service = first_value(tracker.get_slot("service"))
        env = rt.catalog.environment(first_value(tracker.get_slot("environment")))
        if service is None or env is None:
            dispatcher.utter_message(response="utter_deploy_incomplete")
            return reset_form_slots()
        if env.production and tracker.get_slot("confirmed") is not True:
            dispatcher.utter_message(response="utter_deploy_stopped")
            return reset_form_slots()

        branch = first_value(tracker.get_slot("branch"))
        if branch is not None and not valid_branch(branch):
            dispatcher.utter_message(text=replies.invalid_branch_replaced(branch, env))
            branch = None
        plan = rt.catalog.plan(service, env.key, branch)
        try:
            task = await rt.zadig.trigger_deploy(plan)
        except ZadigError as exc:
            logger.warning("trigger %s failed: %s", plan.workflow_key, exc)
            dispatcher.utter_message(text=replies.trigger_failed(exc, plan))
            return reset_form_slots()

        target = reply_target(tracker)
        rt.store.add(
            project_key=plan.project_key,
            workflow_key=task.workflow_key,
            task_id=task.task_id,
            service=plan.service_name,
            environment=plan.env_name,
            sender_id=tracker.sender_id,
            conversation_id=conversation_id(tracker),
            target=target,
        )
        link = rt.task_link(task.workflow_key, task.task_id)
        dispatcher.utter_message(
            text=replies.deploy_started(plan, task, link, will_follow_up=target is not None)
        )
        return [
            *reset_form_slots(),
            SlotSet("last_task", task_ref(task.workflow_key, task.task_id)),
        ]


class ActionStopDeploy(Action):
    def name(self) -> Text:
        return "action_stop_deploy"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """End the deploy form ("算了", "不发了") after utter_deploy_stopped said so."""
        return [ActiveLoop(None), *reset_form_slots(), SlotSet("requested_slot", None)]
