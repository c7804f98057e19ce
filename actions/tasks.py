"""Status and cancel requests about tasks, and the yes/no answer to a pending production cancel."""

from __future__ import annotations

import logging
from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import choice_buttons, requester, runtime, task_query
from chatops import replies
from chatops.runtime import ActionRuntime
from chatops.tasks import FoundTask, NoTask, parse_pending_cancel, pending_cancel
from chatops.zadig.errors import ZadigError

logger = logging.getLogger(__name__)


async def resolve_or_explain(
    tracker: Tracker, rt: ActionRuntime, dispatcher: CollectingDispatcher
) -> Optional[FoundTask]:
    """The task the message means, or None after telling the user why there is none."""
    try:
        found = await rt.tasks.resolve(task_query(tracker))
    except ZadigError as exc:
        dispatcher.utter_message(text=replies.explain_zadig_error(exc, "查询任务"))
        return None
    if isinstance(found, NoTask):
        dispatcher.utter_message(text=found.reply, buttons=choice_buttons(found.choices))
        return None
    return found


class ActionQueryStatus(Action):
    def name(self) -> Text:
        return "action_query_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Status, stage progress, duration and link of the task the user means."""
        rt = runtime()
        found = await resolve_or_explain(tracker, rt, dispatcher)
        if found is None:
            return []
        task = found.task
        link = rt.task_link(task.workflow_key, task.task_id)
        dispatcher.utter_message(
            text=replies.describe_status(task, link, found.service, found.environment)
        )
        return []


class ActionCancelTask(Action):
    def name(self) -> Text:
        return "action_cancel_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Cancel the named or last task; production asks for confirmation first."""
        rt = runtime()
        found = await resolve_or_explain(tracker, rt, dispatcher)
        if found is None:
            return []
        task = found.task
        if task.is_terminal:
            dispatcher.utter_message(text=replies.already_ended(task))
            return []
        who = requester(tracker)
        refused = rt.cancels.refusal(task, who.actor)
        if refused is not None:
            rt.cancels.refuse(task, who, refused)
            dispatcher.utter_message(text=refused)
            return []
        env = rt.catalog.environment_of_workflow(task.workflow_key)
        if env is not None and env.production:
            dispatcher.utter_message(
                text=replies.confirm_production_cancel(task),
                buttons=choice_buttons([("确认取消", "确认"), ("不取消", "不用了")]),
            )
            asked = pending_cancel(task.workflow_key, task.task_id, rt.clock())
            return [SlotSet("pending_cancel", asked)]
        dispatcher.utter_message(text=await rt.cancels.cancel(task, who))
        return []


class ActionAffirm(Action):
    def name(self) -> Text:
        return "action_affirm"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """A yes outside the deploy form: carries out a shown rollback plan, or a fresh pending
        production cancel."""
        from actions.operations import carry_out_pending  # (actions.operations imports this)

        done = await carry_out_pending(dispatcher, tracker)
        if done is not None:
            return done
        rt = runtime()
        pending = parse_pending_cancel(tracker.get_slot("pending_cancel"), rt.clock())
        clear = [SlotSet("pending_cancel", None)] if tracker.get_slot("pending_cancel") else []
        if pending is None:
            dispatcher.utter_message(response="utter_nothing_to_confirm")
            return clear
        try:
            task = await rt.zadig.get_task(*pending)
        except ZadigError as exc:
            dispatcher.utter_message(text=replies.explain_zadig_error(exc, "查询任务"))
            return clear
        if task.is_terminal:  # it ended while we were asking: cancelling would rewrite its status
            dispatcher.utter_message(text=replies.already_ended(task))
            return clear
        who = requester(tracker)
        refused = rt.cancels.refusal(task, who.actor)  # asked again: the policy may have changed
        if refused is not None:
            rt.cancels.refuse(task, who, refused)
            dispatcher.utter_message(text=refused)
            return clear
        dispatcher.utter_message(text=await rt.cancels.cancel(task, who))
        return clear


class ActionDeny(Action):
    def name(self) -> Text:
        return "action_deny"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """A no outside the deploy form: drops a shown rollback or a pending production cancel."""
        if tracker.get_slot("pending_action"):
            dispatcher.utter_message(response="utter_action_dropped")
            return [SlotSet("pending_action", None)]
        if tracker.get_slot("pending_cancel"):
            dispatcher.utter_message(response="utter_cancel_kept")
            return [SlotSet("pending_cancel", None)]
        dispatcher.utter_message(response="utter_ok")
        return []
