"""Locking and unlocking environments: "锁定生产环境，今晚大促", "解锁预发".

A lock lives in the shared database (every replica sees it) and refuses deploys and retries
into the environment until it is lifted or its end time passes (`chatops.locks`).
"""

from __future__ import annotations

from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import latest_entity, requester, runtime, say
from chatops import replies
from chatops.access import check
from chatops.catalog import Environment
from chatops.locks import parse_lock_request
from chatops.state import audit as events


def environment_or_ask(
    tracker: Tracker, dispatcher: CollectingDispatcher, verb: str
) -> Optional[Environment]:
    rt = runtime()
    wanted = latest_entity(tracker, "environment")
    env = rt.catalog.environment(wanted)
    if env is not None:
        return env
    if wanted:
        close = rt.catalog.suggest_environments(wanted)
        dispatcher.utter_message(text=replies.unknown_environment(wanted, close))
        return None
    choices = [
        (f"{e.key}（{e.label}）", f"{verb}{e.key}") for e in rt.catalog.environments.values()
    ]
    say(dispatcher, tracker, f"{verb}哪个环境？", choices=choices)
    return None


def refusal(tracker: Tracker, action: str, env: Environment) -> Optional[str]:
    who = requester(tracker)
    if not who.actor.member:
        return replies.not_a_member(action)
    decision = check(runtime().catalog.access, action, env.key, who.actor)
    return None if decision.allowed else replies.refused(decision, action, env)


def permitted_environment(
    tracker: Tracker, dispatcher: CollectingDispatcher, action: str, verb: str
) -> Optional[Environment]:
    """The environment to ``action`` if the speaker may; else None, after asking which one or
    saying (and auditing) why not."""
    env = environment_or_ask(tracker, dispatcher, verb)
    if env is None:
        return None
    refused = refusal(tracker, action, env)
    if refused is not None:
        record(tracker, action, events.REFUSED, env, refused)
        dispatcher.utter_message(text=refused)
        return None
    return env


def record(tracker: Tracker, action: str, decision: str, env: Environment, detail: str) -> None:
    who = requester(tracker)
    runtime().audit.record(
        action,
        decision,
        actor_id=who.actor.staff_id,
        actor_nick=who.actor.nick,
        conversation_id=who.actor.conversation_id,
        message=who.message,
        environment=env.key,
        detail=detail,
    )


class ActionLockEnvironment(Action):
    def name(self) -> Text:
        return "action_lock_environment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        rt = runtime()
        env = permitted_environment(tracker, dispatcher, "lock", "锁定")
        if env is None:
            return []
        who = requester(tracker)
        names = [env.key, *env.aliases]
        reason, until = parse_lock_request(
            who.message, rt.clock(), rt.catalog.timezone, names=names
        )
        lock = rt.locks.lock(
            env.key, who.actor.staff_id, who.actor.nick, reason, until, who.actor.conversation_id
        )
        record(tracker, "lock", events.CONFIRMED, env, reason)
        dispatcher.utter_message(text=replies.locked(lock, env, rt.catalog.timezone))
        return []


class ActionUnlockEnvironment(Action):
    def name(self) -> Text:
        return "action_unlock_environment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        rt = runtime()
        env = permitted_environment(tracker, dispatcher, "unlock", "解锁")
        if env is None:
            return []
        lock = rt.locks.unlock(env.key)
        if lock is None:
            dispatcher.utter_message(text=replies.not_locked(env))
            return []
        record(tracker, "unlock", events.CONFIRMED, env, lock.reason)
        dispatcher.utter_message(text=replies.unlocked(lock, env, requester(tracker).actor.nick))
        return []
