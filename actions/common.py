"""What every action shares: the process runtime, DingTalk metadata, entities, choice buttons.

rasa_sdk imports every module under actions/ at start-up, so nothing here touches the
environment, a file or a socket until an action first runs (`runtime()`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from rasa_sdk import Tracker

from chatops.dingtalk.inbound import DingTalkContext
from chatops.runtime import ActionRuntime, action_runtime
from chatops.tasks import TaskQuery, parse_task_ref


def runtime() -> ActionRuntime:
    """The action server's runtime (built on first use; tests install their own)."""
    return action_runtime.get()


# -- tracker helpers ----------------------------------------------------------------------


def dingtalk_context(tracker: Tracker) -> Optional[DingTalkContext]:
    """What the DingTalk channel attached to the latest message (None for other channels)."""
    return DingTalkContext.from_metadata((tracker.latest_message or {}).get("metadata"))


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
