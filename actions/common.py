"""What every action shares: the process runtime, DingTalk metadata, entities, choice buttons.

rasa_sdk imports every module under actions/ at start-up, so nothing here touches the
environment, a file or a socket until an action first runs (`runtime()`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from chatops.access import Actor
from chatops.dingtalk.inbound import DingTalkContext
from chatops.dingtalk.messages import choices_markdown, text_message
from chatops.plans import Requester
from chatops.runtime import ActionRuntime, action_runtime
from chatops.tasks import TaskQuery, parse_task_ref

# The input channel whose metadata the actions trust (connectors/dingtalk.py); any other
# channel (a dev shell, a test harness) is treated as someone outside the organisation.
TRUSTED_CHANNEL = "dingtalk"


def runtime() -> ActionRuntime:
    """The action server's runtime (built on first use; tests install their own)."""
    return action_runtime.get()


# -- tracker helpers ----------------------------------------------------------------------


def dingtalk_context(tracker: Tracker) -> Optional[DingTalkContext]:
    """What the DingTalk channel attached to the latest message.

    None for messages from any other channel: metadata is whatever the caller sent, so only
    the DingTalk channel (which verified DingTalk's signature) is believed.
    """
    if tracker.get_latest_input_channel() != TRUSTED_CHANNEL:
        return None
    return DingTalkContext.from_metadata((tracker.latest_message or {}).get("metadata"))


def actor(tracker: Tracker) -> Actor:
    """Who sent the latest message, as far as DingTalk vouches for it."""
    return Actor.from_context(dingtalk_context(tracker))


def requester(tracker: Tracker) -> Requester:
    return Requester(
        actor=actor(tracker),
        sender_id=tracker.sender_id,
        target=reply_target(tracker),
        message=str((tracker.latest_message or {}).get("text") or ""),
    )


def say(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    text: str,
    *,
    mentions: Sequence[str] = (),
    choices: Sequence[Tuple[str, str]] = (),
) -> None:
    """Reply, @-mentioning ``mentions`` (staff ids) in DingTalk, with one-tap ``choices``.

    The DingTalk channel @-mentions the sender by itself; other people can only be mentioned
    by a ready DingTalk message (``at.atUserIds``, docs/dingtalk.md §2.4).
    """
    context = dingtalk_context(tracker)
    if not mentions or context is None:
        dispatcher.utter_message(text=text, buttons=choice_buttons(choices) if choices else None)
        return
    ids = list(dict.fromkeys([*context.target.mention_ids(), *mentions]))
    if choices:
        message = choices_markdown(text.splitlines()[0][:30], text, list(choices), ids)
    else:
        message = text_message(text, ids)
    dispatcher.utter_message(json_message=message)


def reply_target(tracker: Tracker) -> Optional[Dict[str, Any]]:
    context = dingtalk_context(tracker)
    return context.target.to_dict() if context else None


def conversation_id(tracker: Tracker) -> str:
    """The chat (group or 1:1) this message came from; the sender id outside DingTalk."""
    context = dingtalk_context(tracker)
    return context.conversation_id if context else tracker.sender_id


def first_value(value: Any) -> Optional[str]:
    """Slots and entities may carry a list when a message names several values."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def latest_entity(tracker: Tracker, name: str) -> Optional[str]:
    return first_value(list(tracker.get_latest_entity_values(name)))


def task_query(tracker: Tracker) -> TaskQuery:
    """What the latest message says about a task, plus this conversation's last task."""
    return TaskQuery(
        conversation_id=conversation_id(tracker),
        task_id=latest_entity(tracker, "task_id"),
        environment=latest_entity(tracker, "environment"),
        service=latest_entity(tracker, "service"),
        last_task=parse_task_ref(tracker.get_slot("last_task")),
    )


def choice_buttons(options: Sequence[Tuple[str, str]]) -> List[Dict[str, str]]:
    """Buttons whose payload is the text to send back; DingTalk renders them as dtmd links."""
    return [{"title": title, "payload": payload} for title, payload in options]
