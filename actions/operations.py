"""Retry, rollback and job logs from the chat: "重试任务 45", "把支付回滚到上一个版本",
"任务 45 为什么失败". The rules live in `chatops.operations`; a rollback is shown and confirmed
first (`pending_action`), then carried out (or sent for approval) by `action_affirm`."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import latest_entity, requester, runtime, say
from actions.tasks import resolve_or_explain
from chatops import replies
from chatops.diagnosis import diagnose
from chatops.operations import Done, NeedsApproval, NotDone, Result, RollbackPlan
from chatops.zadig.errors import ZadigError

# How long a shown rollback plan may be confirmed.
CONFIRM_SECONDS = 300


def pending(kind: str, plan: Dict[str, Any], now: float) -> str:
    return json.dumps({"kind": kind, "plan": plan, "asked_at": now}, ensure_ascii=False)


def read_pending(value: Any, now: float) -> Optional[Dict[str, Any]]:
    """The pending action if it is well-formed and fresh, else None."""
    try:
        data = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("plan"), dict):
        return None
    asked = data.get("asked_at")
    if not isinstance(asked, (int, float)) or not 0 <= now - asked <= CONFIRM_SECONDS:
        return None
    return data


def tell(dispatcher: CollectingDispatcher, tracker: Tracker, result: Result) -> None:
    if isinstance(result, NeedsApproval):
        say(
            dispatcher,
            tracker,
            result.reply,
            mentions=result.mentions,
            choices=replies.approval_choices(result.request),
        )
    elif isinstance(result, Done):
        say(dispatcher, tracker, result.reply, mentions=result.mentions)
    else:
        dispatcher.utter_message(text=result.reply)


class ActionRetry(Action):
    def name(self) -> Text:
        return "action_retry"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Retry the named or last task, under the deploy rules (access, locks, approval)."""
        rt = runtime()
        found = await resolve_or_explain(tracker, rt, dispatcher)
        if found is None:
            return []
        tell(dispatcher, tracker, await rt.operations.retry(found.task, requester(tracker)))
        return []


class ActionShowLogs(Action):
    def name(self) -> Text:
        return "action_show_logs"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """The failed job of the named or last task, with its log's last lines."""
        rt = runtime()
        found = await resolve_or_explain(tracker, rt, dispatcher)
        if found is None:
            return []
        task = found.task
        diagnosis = await diagnose(rt.zadig, task)
        link = rt.task_link(task.workflow_key, task.task_id)
        dispatcher.utter_message(text=replies.log_answer(task, link, diagnosis))
        return []


class ActionRollback(Action):
    def name(self) -> Text:
        return "action_rollback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Show what runs now and what to go back to; ask for 确认 (kept in `pending_action`)."""
        rt = runtime()
        who = requester(tracker)
        wanted = [v for v in tracker.get_latest_entity_values("service") if v]
        env = rt.catalog.environment(latest_entity(tracker, "environment"))
        task_id = latest_entity(tracker, "task_id")
        services = [s.name for s in map(rt.catalog.service, wanted) if s is not None]
        if wanted and len(services) != len(wanted):
            missing = next(w for w in wanted if rt.catalog.service(w) is None)
            close = rt.catalog.suggest_services(str(missing))
            dispatcher.utter_message(text=replies.unknown_service(str(missing), close))
            return []
        if task_id is not None and (not services or env is None):
            found = await resolve_or_explain(tracker, rt, dispatcher)
            if found is None:
                return []
            env = env or rt.catalog.environment_of_workflow(found.task.workflow_key)
            services = services or list(found.task.services)
        if not services or env is None:
            choices = replies.rollback_questions(rt.catalog, services, env)
            say(dispatcher, tracker, replies.rollback_what(services, env), choices=choices)
            return []
        refused = rt.operations.refusal("rollback", env, who)
        if refused is not None:
            dispatcher.utter_message(text=refused)
            return []
        plan = await rt.operations.rollback_plan(
            services, env, int(task_id) if task_id and task_id.isdigit() else None
        )
        if isinstance(plan, NotDone):
            dispatcher.utter_message(text=plan.reply)
            return []
        assert isinstance(plan, RollbackPlan)
        needs_approval = rt.catalog.access.for_environment(env.key).approval is not None
        text = replies.rollback_plan_text(
            plan, env, rt.catalog.timezone, needs_approval=needs_approval
        )
        say(dispatcher, tracker, text, choices=[("确认回滚", "确认"), ("算了", "算了")])
        return [SlotSet("pending_action", pending("rollback", plan.to_dict(), rt.clock()))]


async def carry_out_pending(
    dispatcher: CollectingDispatcher, tracker: Tracker
) -> Optional[List[EventType]]:
    """ "确认" to a shown rollback plan: run it (or ask for approval). None: nothing pending."""
    value = tracker.get_slot("pending_action")
    if not value:
        return None
    rt = runtime()
    clear: List[EventType] = [SlotSet("pending_action", None)]
    data = read_pending(value, rt.clock())
    if data is None:
        dispatcher.utter_message(text=replies.confirmation_expired())
        return clear
    try:
        result = await rt.operations.rollback(data["plan"], requester(tracker))
    except (KeyError, TypeError, ZadigError) as exc:  # a plan from an older version of the bot
        dispatcher.utter_message(text=replies.confirmation_expired() + f"（{type(exc).__name__}）")
        return clear
    tell(dispatcher, tracker, result)
    return clear
