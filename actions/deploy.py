"""The deploy form: ask for what is missing, confirm the exact plan, then hand it to
`chatops.deploys.Deployments` (access, two-person approval, trigger, follow-up, audit).

What a deploy may be built from (issue: "deploy exactly what the user asked for"):
- the slots fill only from a ``deploy`` message, or from answers (``inform``/``affirm``) while
  the form is asking (domain.yml), never from thanks, refusals or other requests;
- when the form starts, anything left over from earlier messages is dropped;
- a production confirmation is bound to the plan shown (`plan_shown` holds its fingerprint):
  a confirmation of anything else is not a confirmation, and the new plan is shown again.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    actor,
    choice_buttons,
    first_value,
    requester,
    runtime,
    say,
)
from chatops import replies
from chatops.catalog import Catalog
from chatops.deploys import Refused, Started
from chatops.operations import NeedsApproval
from chatops.plans import fingerprint
from chatops.tasks import task_ref
from chatops.zadig.models import DeployRequest

logger = logging.getLogger(__name__)

FORM = "deploy_form"
FORM_SLOTS = (
    "service",
    "environment",
    "branch",
    "confirmed",
    "plan_shown",
    "suggested_service",
    "suggested_environment",
)
# The slot holding the single "did you mean" offer for each slot the form asks for.
SUGGESTION = {"service": "suggested_service", "environment": "suggested_environment"}


def reset_form_slots() -> List[EventType]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS]


def valid_branch(branch: Optional[str]) -> bool:
    """A git ref name Zadig can check out: no whitespace, no leading '-'."""
    if not branch:
        return False
    return not any(ch.isspace() for ch in branch) and not branch.startswith("-")


def service_values(value: Any) -> List[str]:
    """The service slot holds a list (one request may name several services)."""
    items = value if isinstance(value, list) else [value]
    return [text for text in (first_value(v) for v in items) if text]


def plan_of(catalog: Catalog, slots: Dict[str, Any]) -> Optional[DeployRequest]:
    """The plan the slots describe, or None while something is missing or unknown."""
    services = service_values(slots.get("service"))
    env = catalog.environment(first_value(slots.get("environment")))
    branch = first_value(slots.get("branch"))
    if not services or env is None:
        return None
    try:
        return catalog.plan(services, env.key, branch if valid_branch(branch) else None)
    except KeyError:
        return None


def _offer(slot: str, close: List[str], tracker: Tracker) -> Dict[Text, Any]:
    """The suggestion slot's new value: the single close name offered, else cleared (only
    mentioned when it changes)."""
    offer = close[0] if len(close) == 1 else None
    if offer is None and tracker.get_slot(SUGGESTION[slot]) is None:
        return {}
    return {SUGGESTION[slot]: offer}


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
        """Nothing more to ask of someone who may not deploy there (the submit says why);
        ``confirmed`` (an explicit 确认 of the plan shown) only for production."""
        rt = runtime()
        env = rt.catalog.environment(first_value(tracker.get_slot("environment")))
        if rt.deployments.refusal("deploy", env, actor(tracker)) is not None:
            return []
        if env is not None and env.production:
            return list(domain_slots)
        return [slot for slot in domain_slots if slot != "confirmed"]

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Rasa's validation, plus: a fresh start, the optional branch, the plan binding."""
        starting = tracker.active_loop_name != FORM
        named_now = set(tracker.slots_to_validate())
        events = await super().get_validation_events(dispatcher, tracker, domain)
        if "branch" in named_now:
            result = await self.validate_branch(
                tracker.get_slot("branch"), dispatcher, tracker, domain
            )
            events += [SlotSet(slot, value) for slot, value in result.items()]
        slots = dict(tracker.slots)
        for event in events:
            slots[event["name"]] = event["value"]
        set_now = {event["name"] for event in events}
        if starting:
            # A new request: only what this message names counts.
            for slot in FORM_SLOTS:
                if slot not in named_now | set_now and slots.get(slot) is not None:
                    events.append(SlotSet(slot, None))
                    slots[slot] = None
        for slot, offer_slot in SUGGESTION.items():
            # An offer is spent once its slot holds a value (taken, or another name given).
            if offer_slot not in set_now and slots.get(slot) and slots.get(offer_slot):
                events.append(SlotSet(offer_slot, None))
                slots[offer_slot] = None
        if slots.get("confirmed") is True:
            plan = plan_of(runtime().catalog, slots)
            if plan is None or fingerprint(plan) != slots.get("plan_shown"):
                # Confirmed something other than what was shown: show the new plan again.
                events.append(SlotSet("confirmed", None))
        return events

    # -- a "did you mean" offer taken with a plain yes ------------------------------------

    def _accepted(self, slot: str, tracker: Tracker) -> Optional[str]:
        """The offered name when this message is a plain yes to the question about ``slot``."""
        offered = tracker.get_slot(SUGGESTION[slot])
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        named = any(e.get("entity") == slot for e in message.get("entities") or [])
        if (
            offered
            and intent == "affirm"
            and not named
            and tracker.get_slot("requested_slot") == slot
        ):
            return str(offered)
        return None

    async def extract_service(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        offered = self._accepted("service", tracker)
        return {"service": [offered]} if offered else {}

    async def extract_environment(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        offered = self._accepted("environment", tracker)
        return {"environment": offered} if offered else {}

    # -- validation ------------------------------------------------------------------------

    async def validate_service(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Catalog services (by name, alias, short name or a close spelling); say what was not
        found and what is close; a single close name is kept as the offer a yes accepts."""
        catalog = runtime().catalog
        found: List[str] = []
        said = service_values(value)
        for wanted in said:
            service = catalog.service(wanted)
            if service is None:
                close = catalog.suggest_services(wanted)
                dispatcher.utter_message(text=replies.unknown_service(wanted, close))
                # A yes takes the offer as the whole answer: only when it was the only name
                # (with several, a yes would silently drop the others).
                offer = close if len(said) == 1 else []
                return {"service": None, **_offer("service", offer, tracker)}
            if service.name not in found:
                found.append(service.name)
        return {"service": found or None, **_offer("service", [], tracker)}

    async def validate_environment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        values = value if isinstance(value, list) else [value]
        wanted = [text for text in (first_value(v) for v in values) if text]
        catalog = runtime().catalog
        envs = {env.key: env for env in map(catalog.environment, wanted) if env is not None}
        if len(envs) > 1:
            dispatcher.utter_message(text=replies.one_environment_at_a_time(list(envs)))
            return {"environment": None, **_offer("environment", [], tracker)}
        if not envs:
            text = wanted[0] if wanted else None
            close = catalog.suggest_environments(text or "")
            dispatcher.utter_message(text=replies.unknown_environment(text, close))
            return {"environment": None, **_offer("environment", close, tracker)}
        return {"environment": next(iter(envs)), **_offer("environment", [], tracker)}

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
        """Ask which service, offering every catalog service as a one-tap choice (the one just
        offered as "是要 X 吗" first, and without repeating the whole list in the text)."""
        services = list(runtime().catalog.services.values())
        offered = tracker.get_slot("suggested_service")
        if offered:
            services.sort(key=lambda s: s.name != offered)
        dispatcher.utter_message(
            text=replies.yes_takes(offered) if offered else replies.ask_service(services),
            buttons=choice_buttons([(replies.service_choice(s), s.name) for s in services]),
        )
        return []


class ActionAskEnvironment(Action):
    def name(self) -> Text:
        return "action_ask_environment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Ask which environment, listing the catalog's environments (an offered one first)."""
        envs = list(runtime().catalog.environments.values())
        offered = tracker.get_slot("suggested_environment")
        if offered:
            envs.sort(key=lambda e: e.key != offered)
        dispatcher.utter_message(
            text=replies.yes_takes(offered) if offered else replies.ask_environment(envs),
            buttons=choice_buttons([(replies.environment_choice(e), e.key) for e in envs]),
        )
        return []


class ActionAskConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Show the exact production plan, with what runs there now, and ask for an explicit
        yes; remember what was shown."""
        rt = runtime()
        plan = plan_of(rt.catalog, dict(tracker.slots))
        if plan is None:  # cannot happen while the form asks in order; do not confirm nothing
            dispatcher.utter_message(response="utter_deploy_incomplete")
            return [SlotSet("plan_shown", None)]
        env = rt.catalog.environments[plan.env_name]
        needs_approval = rt.catalog.access.for_environment(env.key).approval is not None
        changes = await rt.deployments.change_summary(plan, env)
        dispatcher.utter_message(
            text=replies.confirm_production(
                plan, env.label, needs_approval=needs_approval, changes=changes
            ),
            buttons=choice_buttons([("确认", "确认"), ("不发了", "不发了")]),
        )
        return [SlotSet("plan_shown", fingerprint(plan))]


class ActionSubmitDeploy(Action):
    def name(self) -> Text:
        return "action_submit_deploy"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Hand the confirmed plan to Deployments: refused, sent for approval, or started."""
        rt = runtime()
        who = requester(tracker)
        env = rt.catalog.environment(first_value(tracker.get_slot("environment")))
        plan = plan_of(rt.catalog, dict(tracker.slots))
        refused = rt.deployments.refusal("deploy", env, who.actor)
        if refused is not None:
            if plan is not None:
                rt.deployments.refuse(plan, who, refused)
            dispatcher.utter_message(text=refused)
            return reset_form_slots()
        if plan is None or env is None:
            dispatcher.utter_message(response="utter_deploy_incomplete")
            return reset_form_slots()
        branch = first_value(tracker.get_slot("branch"))
        if branch is not None and not valid_branch(branch):
            dispatcher.utter_message(text=replies.invalid_branch_replaced(branch, env))
        confirmed = tracker.get_slot("confirmed") is True and (
            tracker.get_slot("plan_shown") == fingerprint(plan)
        )
        if env.production and not confirmed:
            dispatcher.utter_message(response="utter_deploy_stopped")
            return reset_form_slots()

        outcome = await rt.deployments.request(plan, who, confirmed=env.production)
        if isinstance(outcome, NeedsApproval):
            say(
                dispatcher,
                tracker,
                outcome.reply,
                mentions=outcome.mentions,
                choices=replies.approval_choices(outcome.request),
            )
            return reset_form_slots()
        say(dispatcher, tracker, outcome.reply, mentions=getattr(outcome, "mentions", ()))
        if isinstance(outcome, Started):
            ref = task_ref(outcome.task.workflow_key, outcome.task.task_id)
            return [*reset_form_slots(), SlotSet("last_task", ref)]
        assert isinstance(outcome, Refused)
        return reset_form_slots()


class ActionStopDeploy(Action):
    def name(self) -> Text:
        return "action_stop_deploy"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """End the deploy form ("算了", "不发了") after utter_deploy_stopped said so."""
        return [ActiveLoop(None), *reset_form_slots(), SlotSet("requested_slot", None)]
