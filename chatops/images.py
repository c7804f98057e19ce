"""What runs in an environment and what ran there before, read from Zadig's task history.

Zadig's OpenAPI has no version history for an environment's services (internal APIs only), so
the history is the deploy jobs of the environment's workflows (docs/zadig-task-operations.md
§5): list the newest tasks of ``env.workflow`` and ``env.rollback_workflow``, read each task that
may have deployed, and keep the deploy jobs that *passed* into this environment for the service
— a task can end ``failed`` after its deploy job passed, so the job's status decides, not the
task's. Images still a template (``{{.job.build...}}``, before the job ran) are ignored.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial
from typing import (
    Awaitable,
    Callable,
    Dict,
    Iterable,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
)

from chatops.catalog import Catalog, Environment
from chatops.state.followups import FollowupStore
from chatops.zadig.client import ZadigClient
from chatops.zadig.errors import ZadigNotFound
from chatops.zadig.models import TERMINAL_STATUSES, ServiceImage, Task, TaskSummary

# A task in one of these states may have passed its deploy job (running, or stopped at a later
# approval or manual-execution gate, or ended any way); one waiting in the queue has not.
MAY_HAVE_DEPLOYED = TERMINAL_STATUSES | {"running", "pause", "waitforapprove"}
PAGE_SIZE = 50  # tasks per list call (one call for the default depth)
PARALLEL = 4  # task details read at once
# The change summary before production waits this long for Zadig, then goes without.
SUMMARY_SECONDS = 5.0
_T = TypeVar("_T")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deployed:
    """One task's deploy of one service into one environment."""

    service: str
    module: str
    image: str
    workflow_key: str
    task_id: int
    at: Optional[int]  # the task's end_time (or start_time while it runs), unix seconds
    by: str  # who asked: the bot's requester for tasks it started, else Zadig's task_creator

    @property
    def tag(self) -> str:
        """``harbor/x/order:20240822-42`` -> ``20240822-42``; no tag -> ``latest``; a digest
        alone -> ``sha256:`` and its first 12 hex digits."""
        name, _, digest = self.image.partition("@")
        last = name.rsplit("/", 1)[-1]  # a registry's ":5000" is not a tag
        if ":" in last:
            return last.split(":", 1)[1]
        if digest:
            algorithm, _, value = digest.partition(":")
            return f"{algorithm}:{value[:12]}" if value else digest[:19]
        return "latest"


class ImageHistory:
    """Deploys of a service into an environment, newest first, from Zadig's task history.

    Zadig calls per `histories` (for any number of services; and so per `history`, `current`,
    `previous`, `running_now`): for each of the (at most two) workflows,
    ``ceil(depth / PAGE_SIZE)`` list calls plus one detail call per listed task that may have
    deployed — at most ``2 * (depth + ceil(depth / PAGE_SIZE))``, 62 for the
    default depth of 30, read ``PARALLEL`` at a time. `of_task` makes one or two detail calls.
    Zadig errors propagate (callers explain them), except a task deleted between the list and
    its detail, which is skipped.
    """

    def __init__(
        self, zadig: ZadigClient, catalog: Catalog, followups: FollowupStore, *, depth: int = 30
    ) -> None:
        self.zadig = zadig
        self.catalog = catalog
        self.followups = followups
        self.depth = max(1, depth)

    async def histories(
        self, services: Sequence[str], env: Environment
    ) -> Dict[str, List[Deployed]]:
        """For each of ``services``, every deploy into ``env`` found in the newest ``depth``
        tasks of each of its workflows, newest first, one per task. The tasks are read once
        for all the services."""
        workflows = _workflows(env)
        listed = await _gather([partial(self._recent, w) for w in workflows])
        wanted = [
            (workflow, summary)
            for workflow, summaries in zip(workflows, listed)
            for summary in summaries
            if summary.status in MAY_HAVE_DEPLOYED
        ]
        reads = [partial(self._task, w, s.task_id) for w, s in wanted]
        tasks = [t for t in await _gather(reads, limit=PARALLEL) if t is not None]
        return {service: self._newest_first(tasks, service, env) for service in services}

    async def history(self, service: str, env: Environment) -> List[Deployed]:
        """`histories` of one service."""
        return (await self.histories([service], env))[service]

    async def current(self, service: str, env: Environment) -> Optional[Deployed]:
        """The newest deploy: what runs now, as far as Zadig's tasks tell."""
        found = await self.history(service, env)
        return found[0] if found else None

    async def running_now(
        self, services: Sequence[str], env: Environment
    ) -> Optional[Dict[str, Optional[Deployed]]]:
        """What runs now for each of ``services`` (None for one never deployed there), for the
        change summary before production; None when Zadig could not be read within
        `SUMMARY_SECONDS` (the summary then says so: it informs a decision, it must not block or
        break one)."""
        try:
            found = await asyncio.wait_for(self.histories(services, env), SUMMARY_SECONDS)
        except asyncio.TimeoutError:
            logger.warning("what runs in %s: Zadig did not answer in %ss", env.key, SUMMARY_SECONDS)
            return None
        except Exception:  # noqa: BLE001 - a summary must never break a confirmation
            logger.exception("what runs in %s could not be read", env.key)
            return None
        return {service: deploys[0] if deploys else None for service, deploys in found.items()}

    async def previous(self, service: str, env: Environment) -> Optional[Deployed]:
        """The newest deploy of an image other than the current one (what to roll back to)."""
        return previous_in(await self.history(service, env))

    async def of_task(
        self,
        service: str,
        env: Environment,
        task_id: int,
        *,
        workflow_key: Optional[str] = None,
    ) -> Optional[Deployed]:
        """What task ``task_id`` deployed of ``service`` into ``env``, or None.

        Task ids are per workflow: ``workflow_key`` says which (it must be one of the
        environment's); without it the deploy workflow's task is looked at first, then the
        rollback workflow's, and the first that deployed the service wins.
        """
        workflows = _workflows(env)
        if workflow_key is not None:
            workflows = tuple(w for w in workflows if w == workflow_key)
        for workflow in workflows:
            task = await self._task(workflow, task_id)
            found = self._deployed(task, service, env) if task is not None else None
            if found is not None:
                return found
        return None

    # -- helpers ----------------------------------------------------------------------------

    async def _recent(self, workflow: str) -> List[TaskSummary]:
        """The newest ``depth`` tasks of ``workflow`` (fewer when it has fewer)."""
        found: List[TaskSummary] = []
        seen: Set[int] = set()
        page = 1
        while len(found) < self.depth:
            size = min(PAGE_SIZE, self.depth)
            batch = await self.zadig.list_tasks(workflow, self.catalog.project_key, page, size)
            new = [t for t in batch.tasks if t.task_id not in seen]
            seen.update(t.task_id for t in new)
            found.extend(new)
            # A short page, or one with nothing new (a server ignoring pageNum), is the end.
            if len(batch.tasks) < size or not new:
                break
            page += 1
        return found[: self.depth]

    async def _task(self, workflow: str, task_id: int) -> Optional[Task]:
        try:
            return await self.zadig.get_task(workflow, task_id)
        except ZadigNotFound:  # deleted or archived since it was listed; or never existed
            return None

    def _newest_first(
        self, tasks: Sequence[Task], service: str, env: Environment
    ) -> List[Deployed]:
        found = [self._deployed(t, service, env) for t in tasks]
        return sorted(
            (d for d in found if d is not None),
            key=lambda d: (d.at or 0, d.task_id),
            reverse=True,
        )

    def _deployed(self, task: Task, service: str, env: Environment) -> Optional[Deployed]:
        known = self.catalog.service(service)
        name = known.name if known is not None else service
        images = [i for i in _passed_images(task, env.key) if i.service_name == name]
        if not images:
            return None
        # A service with several modules: the catalog's module, else the first one deployed.
        module = known.module if known is not None else images[0].service_module
        image = next((i for i in images if i.service_module == module), images[0])
        followup = self.followups.get(task.workflow_key, task.task_id)
        by = (followup.requester_nick or followup.requester) if followup is not None else None
        return Deployed(
            service=name,
            module=image.service_module,
            image=image.image,
            workflow_key=task.workflow_key,
            task_id=task.task_id,
            at=task.end_time or task.start_time,
            by=by or task.task_creator,
        )


def previous_in(history: Sequence[Deployed]) -> Optional[Deployed]:
    """In a history newest first: the newest deploy of an image other than the current one."""
    return next((d for d in history[1:] if d.image != history[0].image), None)


def _workflows(env: Environment) -> Tuple[str, ...]:
    rollback = env.rollback_workflow
    return (env.workflow, rollback) if rollback and rollback != env.workflow else (env.workflow,)


def _passed_images(task: Task, env_key: str) -> Iterable[ServiceImage]:
    """The images that passed deploy jobs of ``task`` put into ``env_key``."""
    for job in task.jobs:
        if job.type == "zadig-deploy" and job.status == "passed" and job.env == env_key:
            for image in job.images:
                if image.image and "{{" not in image.image:
                    yield image


async def _gather(calls: Sequence[Callable[[], Awaitable[_T]]], limit: int = 0) -> List[_T]:
    """Run ``calls`` (at most ``limit`` at once), results in order; the first error cancels
    the rest and propagates."""
    gate = asyncio.Semaphore(limit or max(1, len(calls)))

    async def one(call: Callable[[], Awaitable[_T]]) -> _T:
        async with gate:
            return await call()

    running = [asyncio.ensure_future(one(c)) for c in calls]
    try:
        return list(await asyncio.gather(*running))
    except BaseException:
        for future in running:
            future.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        raise
