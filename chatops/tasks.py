"""Which Zadig task a message means: "任务 45", "测试环境的订单服务", "刚才的发布".

`resolve_task` returns either a `FoundTask` or a `NoTask` explaining (in words, with one-tap
choices) why there is none; Zadig's own failures propagate as `ZadigError` for the caller to
explain. Status, cancel and the later task commands all start here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

from chatops import replies
from chatops.catalog import Catalog, Environment
from chatops.state import FollowupStore
from chatops.zadig.client import ZadigClient
from chatops.zadig.errors import ZadigNotFound
from chatops.zadig.models import Task

# How far back "订单服务在测试环境部署成功了吗" looks in the workflow's history.
HISTORY_DEPTH = 10

# (label, text the tap sends)
Choice = Tuple[str, str]


@dataclass(frozen=True)
class TaskQuery:
    """What a message says about a task, plus what the conversation remembers."""

    conversation_id: str
    task_id: Optional[str] = None
    environment: Optional[str] = None
    service: Optional[str] = None
    # The task this conversation (this person) started last: (workflow key, task id).
    last_task: Optional[Tuple[str, int]] = None


@dataclass(frozen=True)
class FoundTask:
    task: Task
    service: Optional[str] = None
    environment: Optional[str] = None


@dataclass(frozen=True)
class NoTask:
    """Why no task was found, as the reply to send, with choices to narrow it down."""

    reply: str
    choices: Tuple[Choice, ...] = ()


Resolution = Union[FoundTask, NoTask]


def task_ref(workflow_key: str, task_id: int) -> str:
    return f"{workflow_key}#{task_id}"


def parse_task_ref(ref: Optional[str]) -> Optional[Tuple[str, int]]:
    if not ref or "#" not in ref:
        return None
    workflow, _, number = ref.rpartition("#")
    return (workflow, int(number)) if number.isdigit() and workflow else None


class TaskFinder:
    """Resolves `TaskQuery`s against the catalog, Zadig and the bot's own follow-up records."""

    def __init__(self, catalog: Catalog, zadig: ZadigClient, store: FollowupStore) -> None:
        self.catalog = catalog
        self.zadig = zadig
        self.store = store

    async def resolve(self, query: TaskQuery) -> Resolution:
        """Raises ZadigError when Zadig itself fails."""
        env = self.catalog.environment(query.environment)
        if query.task_id is not None:
            return await self._by_number(int(query.task_id), env, query.last_task)
        if env is not None and query.service is not None:
            known = self.catalog.service(query.service)
            return await self._latest_of_service(env, known.name if known else query.service)
        if env is not None:
            task = await self.zadig.latest_task(env.workflow, self.catalog.project_key)
            if task is None:
                return NoTask(replies.no_deploys_in(env))
            return self._found(task)
        if query.service is not None:
            known = self.catalog.service(query.service)
            label = known.name if known else query.service
            options = tuple(
                (replies.environment_choice(e), f"{label}在{e.key}环境的发布怎么样了")
                for e in self.catalog.environments.values()
            )
            return NoTask(replies.ask_status_environment(label), options)
        last = query.last_task
        if last is None:
            # Someone else in the same group may have started it.
            followup = self.store.latest_for_conversation(query.conversation_id)
            if followup is not None:
                last = (followup.workflow_key, followup.task_id)
        if last is None:
            return NoTask(replies.no_task_yet())
        return await self._by_id(*last)

    async def _by_number(
        self, number: int, env: Optional[Environment], last: Optional[Tuple[str, int]]
    ) -> Resolution:
        if env is not None:
            return await self._by_id(env.workflow, number)
        if last and last[1] == number:
            return await self._by_id(last[0], number)
        # Task numbers count per workflow: look in every environment's workflow.
        hits = []
        for candidate in self.catalog.environments.values():
            try:
                hits.append(await self.zadig.get_task(candidate.workflow, number))
            except ZadigNotFound:
                continue
        if len(hits) == 1:
            return self._found(hits[0])
        if not hits:
            return NoTask(replies.task_not_found(number))
        options = []
        for hit in hits:
            where = self.catalog.environment_of_workflow(hit.workflow_key)
            if where is not None:
                options.append(
                    (f"{hit.workflow_key} #{number}", f"{where.key}环境的任务{number}怎么样了")
                )
        return NoTask(replies.which_environment_has_task(number), tuple(options))

    async def _latest_of_service(self, env: Environment, service: str) -> Resolution:
        """The newest task of the environment's workflow that built/deployed this service."""
        page = await self.zadig.list_tasks(
            env.workflow, self.catalog.project_key, page_size=HISTORY_DEPTH
        )
        for summary in page.tasks:
            followup = self.store.get(env.workflow, summary.task_id)
            if followup is not None and followup.service not in (None, service):
                continue  # a task the bot started for another service: no need to ask Zadig
            task = await self.zadig.get_task(env.workflow, summary.task_id)
            if service in task.services or (followup is not None and followup.service == service):
                return FoundTask(task, service, env.key)
        return NoTask(replies.service_not_in_recent_deploys(env, service, HISTORY_DEPTH))

    async def _by_id(self, workflow_key: str, task_id: int) -> Resolution:
        try:
            task = await self.zadig.get_task(workflow_key, task_id)
        except ZadigNotFound:
            return NoTask(replies.task_not_found(task_id, workflow_key))
        return self._found(task)

    def _found(self, task: Task) -> FoundTask:
        followup = self.store.get(task.workflow_key, task.task_id)
        env = self.catalog.environment_of_workflow(task.workflow_key)
        return FoundTask(
            task,
            service=followup.service if followup else None,
            environment=(followup.environment if followup else None) or (env.key if env else None),
        )


# -- a production cancel waiting for "确认" ----------------------------------------------------

# A 确认 only counts as the answer to a production-cancel question for this long.
PENDING_CANCEL_SECONDS = 300


def pending_cancel(workflow_key: str, task_id: int, now: float) -> str:
    """The slot value remembering which task a cancel question was about, and when."""
    return f"{task_ref(workflow_key, task_id)}@{int(now)}"


def parse_pending_cancel(value: Optional[str], now: float) -> Optional[Tuple[str, int]]:
    """(workflow, task id) of a still-fresh pending cancel, else None."""
    if not value:
        return None
    ref, _, asked_at = value.partition("@")
    if asked_at.isdigit() and now - int(asked_at) > PENDING_CANCEL_SECONDS:
        return None
    return parse_task_ref(ref)
