"""Status and cancel requests about tasks, and the yes/no answer to a pending production cancel."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    Runtime,
    choice_buttons,
    conversation_id,
    latest_entity,
    parse_task_ref,
    runtime,
    task_ref,
)
from chatops.formatting import describe_status, explain_zadig_error, status_label
from chatops.zadig.errors import ZadigAPIError, ZadigError, ZadigNotFound
from chatops.zadig.models import Task

logger = logging.getLogger(__name__)


@dataclass
class Found:
    """The task a message refers to, or the reply explaining why there is none."""

    task: Optional[Task] = None
    reply: Optional[str] = None
    buttons: Optional[list] = None
    service: Optional[str] = None
    environment: Optional[str] = None


async def find_task(tracker: Tracker, rt: Runtime) -> Found:
    """Resolve "任务 45", "测试环境的订单服务", "刚才的发布" to one Zadig task.

    Raises ZadigError when Zadig itself fails; callers explain that in words.
    """
    catalog = rt.catalog
    task_id = latest_entity(tracker, "task_id")
    env = catalog.environment(latest_entity(tracker, "environment"))
    service = catalog.service(latest_entity(tracker, "service"))
    named_service = latest_entity(tracker, "service")

    if task_id is not None:
        number = int(task_id)
        if env is not None:
            return await _by_id(rt, env.workflow, number)
        last = parse_task_ref(tracker.get_slot("last_task"))
        if last and last[1] == number:
            return await _by_id(rt, last[0], number)
        # Task numbers count per workflow: look in every environment's workflow.
        hits = []
        for candidate in catalog.environments.values():
            try:
                hits.append(await rt.zadig.get_task(candidate.workflow, number))
            except ZadigNotFound:
                continue
        if len(hits) == 1:
            return _found(rt, hits[0])
        if not hits:
            return Found(reply=f"没有找到任务 {number}。")
        options = [
            (
                f"{h.workflow_key} #{number}",
                f"{catalog.environment_of_workflow(h.workflow_key).key}环境的任务{number}怎么样了",
            )
            for h in hits
            if catalog.environment_of_workflow(h.workflow_key)
        ]
        return Found(
            reply=f"好几个环境都有任务 {number}，是哪个环境的？", buttons=choice_buttons(options)
        )

    if env is not None and named_service is not None:
        return await _latest_of_service(
            rt, env.workflow, service.name if service else named_service, env
        )

    if env is not None:
        task = await rt.zadig.latest_task(env.workflow, catalog.project_key)
        if task is None:
            return Found(reply=f"{env.key}（{env.label}）环境还没有发布记录。")
        return _found(rt, task)

    if named_service is not None:
        label = service.name if service else named_service
        options = [
            (f"{e.key}（{e.label}）", f"{label}在{e.key}环境的发布怎么样了")
            for e in catalog.environments.values()
        ]
        return Found(reply=f"要查 {label} 在哪个环境的发布？", buttons=choice_buttons(options))

    last = parse_task_ref(tracker.get_slot("last_task"))
    if last is None:
        # Someone else in the same group may have started it.
        followup = rt.store.latest_for_conversation(conversation_id(tracker))
        if followup is not None:
            last = (followup.workflow_key, followup.task_id)
    if last is None:
        return Found(
            reply="这个会话里我还没有发起过发布。可以说“任务 45 怎么样了”"
            "或“测试环境的订单服务发布成功了吗”。"
        )
    return await _by_id(rt, *last)


# How far back "订单服务在测试环境部署成功了吗" looks in the workflow's history.
HISTORY_DEPTH = 10


async def _latest_of_service(rt: Runtime, workflow_key: str, service: str, env: Any) -> Found:
    """The newest task of the environment's workflow that built/deployed this service."""
    page = await rt.zadig.list_tasks(workflow_key, rt.catalog.project_key, page_size=HISTORY_DEPTH)
    for summary in page.tasks:
        followup = rt.store.get(workflow_key, summary.task_id)
        if followup is not None and followup.service not in (None, service):
            continue  # a task the bot started for another service: no need to ask Zadig
        task = await rt.zadig.get_task(workflow_key, summary.task_id)
        if service in task.services or (followup is not None and followup.service == service):
            return Found(task=task, service=service, environment=env.key)
    return Found(reply=f"{env.key}（{env.label}）环境最近 {HISTORY_DEPTH} 次发布里没有 {service}。")


async def _by_id(rt: Runtime, workflow_key: str, task_id: int) -> Found:
    try:
        task = await rt.zadig.get_task(workflow_key, task_id)
    except ZadigNotFound:
        return Found(reply=f"没有找到任务 {workflow_key} #{task_id}。")
    return _found(rt, task)


def _found(rt: Runtime, task: Task) -> Found:
    followup = rt.store.get(task.workflow_key, task.task_id)
    env = rt.catalog.environment_of_workflow(task.workflow_key)
    return Found(
        task=task,
        service=followup.service if followup else None,
        environment=(followup.environment if followup else None) or (env.key if env else None),
    )


async def resolve_or_explain(
    tracker: Tracker, rt: Runtime, dispatcher: CollectingDispatcher
) -> Optional[Found]:
    """The task the message means, or None after telling the user why there is none."""
    try:
        found = await find_task(tracker, rt)
    except ZadigError as exc:
        dispatcher.utter_message(text=explain_zadig_error(exc, "查询任务"))
        return None
    if found.task is None:
        dispatcher.utter_message(text=found.reply, buttons=found.buttons or [])
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
        if found is None or found.task is None:
            return []
        task = found.task
        dispatcher.utter_message(
            text=describe_status(
                task,
                rt.task_link(task.workflow_key, task.task_id),
                found.service,
                found.environment,
            )
        )
        return []


def already_ended(task: Task) -> str:
    return (
        f"{task.workflow_key} #{task.task_id} 已经结束（{status_label(task.status)}），不需要取消。"
    )


async def cancel_now(
    rt: Runtime, dispatcher: CollectingDispatcher, workflow_key: str, task_id: int
) -> None:
    try:
        await rt.zadig.cancel_task(workflow_key, task_id)
    except ZadigError as exc:
        if isinstance(exc, ZadigAPIError) and exc.is_already_finished:
            text = f"{workflow_key} #{task_id} 已经执行成功了，Zadig 不允许取消已成功的任务。"
        else:
            text = explain_zadig_error(exc, "取消任务", changes_state=True)
        dispatcher.utter_message(text=text)
        return
    dispatcher.utter_message(
        text=f"🚫 已取消 {workflow_key} #{task_id}。\n详情：{rt.task_link(workflow_key, task_id)}"
    )


class ActionCancelTask(Action):
    def name(self) -> Text:
        return "action_cancel_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Cancel the named or last task; production asks for confirmation first."""
        rt = runtime()
        found = await resolve_or_explain(tracker, rt, dispatcher)
        if found is None or found.task is None:
            return []
        task = found.task
        if task.is_terminal:
            dispatcher.utter_message(text=already_ended(task))
            return []
        env = rt.catalog.environment_of_workflow(task.workflow_key)
        if env is not None and env.production:
            dispatcher.utter_message(
                text=(
                    f"⚠️ {task.workflow_key} #{task.task_id} 是生产环境的发布"
                    f"（{status_label(task.status)}），确定要取消吗？"
                ),
                buttons=choice_buttons([("确认取消", "确认"), ("不取消", "不用了")]),
            )
            return [SlotSet("pending_cancel", pending_cancel(task.workflow_key, task.task_id))]
        await cancel_now(rt, dispatcher, task.workflow_key, task.task_id)
        return []


# A 确认 only counts as the answer to a production-cancel question for this long.
PENDING_CANCEL_SECONDS = 300


def pending_cancel(workflow_key: str, task_id: int, now: Optional[float] = None) -> str:
    return f"{task_ref(workflow_key, task_id)}@{int(time.time() if now is None else now)}"


def parse_pending_cancel(value: Optional[str], now: Optional[float] = None):
    """(workflow, task id) of a still-fresh pending cancel, else None."""
    if not value:
        return None
    ref, _, asked_at = value.partition("@")
    now = time.time() if now is None else now
    if asked_at.isdigit() and now - int(asked_at) > PENDING_CANCEL_SECONDS:
        return None
    return parse_task_ref(ref)


class ActionAffirm(Action):
    def name(self) -> Text:
        return "action_affirm"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """A yes outside the deploy form: carries out a fresh pending production cancel."""
        pending = parse_pending_cancel(tracker.get_slot("pending_cancel"))
        clear = [SlotSet("pending_cancel", None)] if tracker.get_slot("pending_cancel") else []
        if pending is None:
            dispatcher.utter_message(
                text="现在没有等你确认的操作。要发布的话可以说“把订单服务发到测试环境”。"
            )
            return clear
        rt = runtime()
        try:
            task = await rt.zadig.get_task(*pending)
        except ZadigError as exc:
            dispatcher.utter_message(text=explain_zadig_error(exc, "查询任务"))
            return clear
        if task.is_terminal:  # it ended while we were asking: cancelling would rewrite its status
            dispatcher.utter_message(text=already_ended(task))
            return clear
        await cancel_now(rt, dispatcher, *pending)
        return clear


class ActionDeny(Action):
    def name(self) -> Text:
        return "action_deny"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """A no outside the deploy form: drops a pending production cancel, if any."""
        if tracker.get_slot("pending_cancel"):
            dispatcher.utter_message(text="好的，不取消，任务继续执行。")
            return [SlotSet("pending_cancel", None)]
        dispatcher.utter_message(text="好的。")
        return []
