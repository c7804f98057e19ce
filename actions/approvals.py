"""Approving and rejecting production requests in the chat: "批准" / "批准 3" / "驳回 3 原因".

The request lives in the shared state (`ApprovalStore`), not in anyone's tracker: the approver's
message arrives in their own conversation key, possibly on another replica.
"""

from __future__ import annotations

from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import conversation_id, latest_entity, requester, runtime, say
from actions.tasks import resolve_or_explain
from chatops import replies
from chatops.plans import rejection_reason
from chatops.state import ApprovalRequest


def chosen_request(
    tracker: Tracker, dispatcher: CollectingDispatcher, verb: str
) -> Optional[ApprovalRequest]:
    """The request the message names ("批准 3"), or the only one pending in this chat."""
    rt = runtime()
    number = latest_entity(tracker, "request_id")
    if number is not None and number.isdigit():
        request = rt.approvals.get(int(number))
        if request is None or request.conversation_id != conversation_id(tracker):
            # Approvals are answered where they were asked, in front of the same people.
            dispatcher.utter_message(text=replies.approval_unknown(int(number)))
            return None
        return request
    pending = rt.approvals.pending(conversation_id(tracker))
    if not pending:
        dispatcher.utter_message(text=replies.no_pending_approvals())
        return None
    if len(pending) > 1:
        choices = [choice for r in pending for choice in replies.approval_choices(r)]
        say(dispatcher, tracker, replies.which_approval(pending, verb), choices=choices)
        return None
    return pending[0]


async def zadig_stage(tracker: Tracker, dispatcher: CollectingDispatcher, *, approve: bool) -> bool:
    """ "批准任务 45": a Zadig approval stage, not one of the bot's own requests. True when the
    message was about one (and has been answered)."""
    if latest_entity(tracker, "task_id") is None or latest_entity(tracker, "request_id"):
        return False
    rt = runtime()
    found = await resolve_or_explain(tracker, rt, dispatcher)
    if found is not None:
        who = requester(tracker)
        comment = rejection_reason(who.message) if not approve else ""
        reply = await rt.stage_approvals.decide(found.task, who, approve=approve, comment=comment)
        dispatcher.utter_message(text=reply)
    return True


class ActionApprove(Action):
    def name(self) -> Text:
        return "action_approve"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """An approver says yes: count it; when enough, start the deploy and name both people."""
        if await zadig_stage(tracker, dispatcher, approve=True):
            return []
        request = chosen_request(tracker, dispatcher, "批准")
        if request is None:
            return []
        outcome = await runtime().deployments.decide(request, requester(tracker), approve=True)
        say(dispatcher, tracker, outcome.reply, mentions=getattr(outcome, "mentions", ()))
        return []


class ActionReject(Action):
    def name(self) -> Text:
        return "action_reject"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """An approver says no (optionally why): the requester is told, nothing is deployed."""
        if await zadig_stage(tracker, dispatcher, approve=False):
            return []
        request = chosen_request(tracker, dispatcher, "驳回")
        if request is None:
            return []
        who = requester(tracker)
        outcome = await runtime().deployments.decide(
            request, who, approve=False, reason=rejection_reason(who.message)
        )
        say(dispatcher, tracker, outcome.reply, mentions=getattr(outcome, "mentions", ()))
        return []
