"""What every action shares: lazily built clients, DingTalk metadata, task references.

rasa_sdk imports every module under actions/ at start-up, so nothing here touches the
environment, a file or a socket until an action first runs (`runtime()`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, TypeVar

from rasa_sdk import Tracker

from chatops.catalog import Catalog, load_catalog
from chatops.formatting import task_url
from chatops.settings import Settings, get_settings
from chatops.state import FollowupStore
from chatops.zadig.client import ZadigClient

T = TypeVar("T")

# How long Zadig's service/environment lists are reused (they change rarely; chat is bursty).
DISCOVERY_TTL_SECONDS = 60.0


@dataclass
class Runtime:
    """Per-process singletons for the action server; tests build one with fakes."""

    settings: Settings
    catalog: Catalog
    zadig: ZadigClient
    store: FollowupStore
    _cache: Dict[str, Tuple[float, Any]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Runtime":
        return cls(
            settings=settings,
            catalog=load_catalog(settings.catalog_path),
            zadig=ZadigClient(
                settings.zadig_base_url, settings.zadig_token, timeout=settings.zadig_timeout
            ),
            store=FollowupStore(settings.state_db),
        )

    async def cached(
        self, key: str, load: Callable[[], Awaitable[T]], ttl: float = DISCOVERY_TTL_SECONDS
    ) -> T:
        """``load()`` at most once per ``ttl`` seconds; failures are not cached."""
        hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        value = await load()
        self._cache[key] = (time.monotonic() + ttl, value)
        return value

    def task_link(self, workflow_key: str, task_id: int) -> str:
        return task_url(
            self.settings.zadig_web_url, self.catalog.project_key, workflow_key, task_id
        )


_runtime: Optional[Runtime] = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime.from_settings(get_settings())
    return _runtime


def use_runtime(value: Optional[Runtime]) -> None:
    """Install (or with None, forget) the process runtime; used by tests."""
    global _runtime
    _runtime = value


# -- tracker helpers ----------------------------------------------------------------------


def dingtalk_metadata(tracker: Tracker) -> Dict[str, Any]:
    """What the DingTalk channel attached to the latest message (empty for other channels)."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return metadata.get("dingtalk") or {}


def reply_target(tracker: Tracker) -> Optional[Dict[str, Any]]:
    return dingtalk_metadata(tracker).get("target")


def conversation_id(tracker: Tracker) -> str:
    """The chat (group or 1:1) this message came from; the sender id outside DingTalk."""
    return dingtalk_metadata(tracker).get("conversation_id") or tracker.sender_id


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


def task_ref(workflow_key: str, task_id: int) -> str:
    return f"{workflow_key}#{task_id}"


def parse_task_ref(ref: Optional[str]) -> Optional[Tuple[str, int]]:
    if not ref or "#" not in ref:
        return None
    workflow, _, number = ref.rpartition("#")
    return (workflow, int(number)) if number.isdigit() and workflow else None


def choice_buttons(options: List[Tuple[str, str]]) -> List[Dict[str, str]]:
    """Buttons whose payload is the text to send back; DingTalk renders them as dtmd links."""
    return [{"title": title, "payload": payload} for title, payload in options]
