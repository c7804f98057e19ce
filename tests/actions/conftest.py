"""Fixtures for the action tests: a fake Zadig behind httpx.MockTransport, an installed runtime,
inline Trackers and a dispatcher.

Everything is function-scoped: each test gets its own SQLite file, its own fake and its own
runtime (so the discovery cache never leaks between tests).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from chatops.runtime import ActionRuntime, action_runtime
from chatops.settings import from_env
from tests.fakes.zadig import FakeZadig

# What the DingTalk channel attaches to a message from user u1 in group cid1
# (DingTalkContext.to_metadata(); the target is ReplyTarget.to_dict()).
GROUP_TARGET = {
    "conversation_id": "cid1",
    "is_group": True,
    "user_id": "u1",
    "session_webhook": "http://127.0.0.1:7080/robot/sendBySession?session=abc",
    "session_webhook_expires_ms": 4102444800000,
    "robot_code": "demo-app-key",
}
ROOT = Path(__file__).resolve().parents[2]
UNSET = object()
CORP = "dingcorp0000000001"


def dingtalk_metadata(
    user: str = "u1",
    nick: str = "张三",
    *,
    external: bool = False,
    conversation: str = "cid1",
    is_group: bool = True,
) -> Dict[str, Any]:
    """DingTalkContext.to_metadata()["dingtalk"] for a member (or an outsider) of the robot's
    organisation: members have a staff id and the robot's corp id (docs/dingtalk.md §1.4)."""
    return {
        "msg_id": f"msg-{user}",
        "conversation_id": conversation,
        "conversation_title": "发布群",
        "is_group": is_group,
        "user_id": "$:LWCP_v1:$outsider" if external else user,
        "nick": nick,
        "target": {**GROUP_TARGET, "conversation_id": conversation, "user_id": user},
        "staff_id": "" if external else user,
        "sender_corp_id": "dingexternalcorp0000001" if external else CORP,
        "chatbot_corp_id": CORP,
    }


class FakeClock:
    """A clock the test moves by hand (``clock.value += 61``); starts at the real time."""

    def __init__(self) -> None:
        self.value = time.time()

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def fake() -> FakeZadig:
    """A fake Zadig that knows the catalog's workflows (build + deploy, rollback: deploy)."""
    zadig = FakeZadig()
    for env in ("dev", "test", "uat", "prod"):
        zadig.define_workflow(f"mall-{env}")
        zadig.define_workflow(f"mall-{env}-rollback", [("deploy", "zadig-deploy")])
    return zadig


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def rt(tmp_path: Path, fake: FakeZadig, clock: FakeClock):
    """The runtime the actions see: demo settings, the repo's catalog, the fake, a tmp store.

    Reads are retried without a pause (the tests do not need to wait for the back-off).
    """
    runtime = ActionRuntime.from_settings(
        from_env(
            {
                "CHATOPS_DB": str(tmp_path / "s.db"),
                "ZADIG_BASE_URL": "http://zadig.test",
                "ZADIG_TOKEN": "tok",
                "ZADIG_WEB_URL": "http://127.0.0.1:7070",
            }
        ),
        zadig_transport=fake.transport,
        zadig_retry_delay=0,
        clock=clock,
        monotonic=clock,
    )
    action_runtime.install(runtime)
    try:
        yield runtime
    finally:
        action_runtime.install(None)
        await runtime.aclose()


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture
def domain() -> Dict[str, Any]:
    """The project's domain as the action server receives it."""
    import yaml

    return yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "domain.yml").read_text(encoding="utf-8")
    )


@pytest.fixture
def make_tracker() -> Callable[..., Tracker]:
    """Build a Tracker inline: ``make_tracker(intent=..., entities={...}, slots={...})``."""

    def build(
        *,
        intent: str = "query_status",
        text: str = "",
        entities: Any = None,
        slots: Optional[Dict[str, Any]] = None,
        dingtalk: Any = UNSET,
        sender_id: Optional[str] = None,
        active_loop: Optional[str] = None,
        events: Optional[List[Dict[str, Any]]] = None,
        user: str = "u1",
        nick: str = "张三",
        external: bool = False,
        conversation: str = "cid1",
        input_channel: Optional[str] = None,
    ) -> Tracker:
        if isinstance(entities, dict):
            entities = [{"entity": k, "value": v} for k, v in entities.items()]
        if dingtalk is UNSET:
            dingtalk = dingtalk_metadata(user, nick, external=external, conversation=conversation)
        metadata = {"dingtalk": dingtalk} if dingtalk is not None else {}
        if input_channel is None:
            input_channel = "dingtalk" if dingtalk is not None else "rest"
        if sender_id is None:
            sender_id = f"{conversation}:{user}"
        all_slots: Dict[str, Any] = {
            "service": None,
            "environment": None,
            "branch": None,
            "confirmed": None,
            "plan_shown": None,
            "last_task": None,
            "pending_cancel": None,
            "pending_action": None,
            "requested_slot": None,
        }
        all_slots.update(slots or {})
        return Tracker(
            sender_id=sender_id,
            slots=all_slots,
            latest_message={
                "intent": {"name": intent, "confidence": 0.99},
                "entities": entities or [],
                "text": text,
                "metadata": metadata,
            },
            events=[
                *(events or []),
                {"event": "user", "text": text, "input_channel": input_channel},
            ],
            paused=False,
            followup_action=None,
            active_loop={"name": active_loop} if active_loop else {},
            latest_action_name="action_listen",
        )

    return build


# -- what the actions said --------------------------------------------------------------------

# What the deploy form's end (submit, stop) resets.
RESET = [
    SlotSet("service", None),
    SlotSet("environment", None),
    SlotSet("branch", None),
    SlotSet("confirmed", None),
    SlotSet("plan_shown", None),
    SlotSet("suggested_service", None),
    SlotSet("suggested_environment", None),
]


def texts(dispatcher: CollectingDispatcher) -> List[str]:
    return [m["text"] for m in dispatcher.messages]


def responses(dispatcher: CollectingDispatcher) -> List[str]:
    """The domain responses sent by name (fixed sentences live in domain.yml)."""
    return [m["response"] for m in dispatcher.messages]


def said(dispatcher: CollectingDispatcher) -> List[str]:
    """Plain texts and the text of ready DingTalk messages, in order (a response by name)."""
    out = []
    for message in dispatcher.messages:
        custom = message.get("custom") or {}
        if custom.get("msgtype") == "markdown":
            out.append(custom["markdown"]["text"])
        elif custom.get("msgtype") == "text":
            out.append(custom["text"]["content"])
        else:
            out.append(message.get("text") or message.get("response") or "")
    return out


@pytest.fixture
def form_tracker(make_tracker: Callable[..., Tracker]) -> Callable[..., Tracker]:
    """A tracker inside the deploy form with ``slots``."""

    def build(**slots: Any) -> Tracker:
        return make_tracker(intent="inform", slots=slots, active_loop="deploy_form")

    return build
