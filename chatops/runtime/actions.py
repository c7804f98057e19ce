"""The action server's services: settings, catalog, Zadig, the shared state, a clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple, TypeVar

import httpx

from chatops.cancels import Cancels
from chatops.catalog import Catalog, load_catalog
from chatops.deploys import Deployments
from chatops.images import ImageHistory
from chatops.operations import Operations
from chatops.replies import task_url
from chatops.settings import Settings
from chatops.stage_approvals import StageApprovals
from chatops.state import ApprovalStore, AuditLog, Database, FollowupStore, LockStore, Outbox
from chatops.tasks import TaskFinder
from chatops.zadig.client import ZadigClient
from chatops.zadig.models import WorkflowDetail

T = TypeVar("T")
Clock = Callable[[], float]

# How long Zadig's service/environment lists are reused (they change rarely; chat is bursty).
DISCOVERY_TTL_SECONDS = 60.0


@dataclass
class ActionRuntime:
    """What the actions use."""

    settings: Settings
    catalog: Catalog
    zadig: ZadigClient
    db: Database
    store: FollowupStore
    outbox: Outbox
    approvals: ApprovalStore
    audit: AuditLog
    locks: LockStore
    clock: Clock = time.time
    monotonic: Clock = time.monotonic
    _cache: Dict[str, Tuple[float, Any]] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        zadig_transport: Optional[httpx.AsyncBaseTransport] = None,
        zadig_retry_delay: Optional[float] = None,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
    ) -> "ActionRuntime":
        retry = {} if zadig_retry_delay is None else {"retry_delay": zadig_retry_delay}
        db = Database.open(settings.db_url)
        return cls(
            settings=settings,
            catalog=load_catalog(settings.catalog_path),
            zadig=ZadigClient.from_settings(settings, transport=zadig_transport, **retry),
            db=db,
            store=FollowupStore(db, clock=clock),
            outbox=Outbox(db, clock=clock),
            approvals=ApprovalStore(db, clock=clock),
            audit=AuditLog(db, clock=clock),
            locks=LockStore(db, clock=clock),
            clock=clock,
            monotonic=monotonic,
        )

    @property
    def tasks(self) -> TaskFinder:
        return TaskFinder(self.catalog, self.zadig, self.store)

    @property
    def stage_approvals(self) -> StageApprovals:
        return StageApprovals(catalog=self.catalog, zadig=self.zadig, audit=self.audit)

    @property
    def operations(self) -> Operations:
        return Operations(
            catalog=self.catalog,
            zadig=self.zadig,
            followups=self.store,
            approvals=self.approvals,
            audit=self.audit,
            locks=self.locks,
            images=ImageHistory(self.zadig, self.catalog, self.store),
            approval_ttl=self.settings.approval_ttl_seconds,
            task_link=self.task_link,
            clock=self.clock,
        )

    @property
    def deployments(self) -> Deployments:
        return Deployments(
            catalog=self.catalog,
            zadig=self.zadig,
            followups=self.store,
            approvals=self.approvals,
            audit=self.audit,
            approval_ttl=self.settings.approval_ttl_seconds,
            zadig_version=self.settings.zadig_version,
            task_link=self.task_link,
            workflow=self.workflow,
            locks=self.locks,
            operations=self.operations,
            clock=self.clock,
        )

    @property
    def cancels(self) -> Cancels:
        return Cancels(
            catalog=self.catalog,
            zadig=self.zadig,
            followups=self.store,
            audit=self.audit,
            task_link=self.task_link,
        )

    async def workflow(self, workflow_key: str) -> WorkflowDetail:
        """A workflow's definition (its jobs), read fresh for every trigger: a cached copy could
        miss an approval job a team has just added, and the bot would then skip it."""
        return await self.zadig.get_workflow(workflow_key, self.catalog.project_key)

    async def cached(
        self, key: str, load: Callable[[], Awaitable[T]], ttl: float = DISCOVERY_TTL_SECONDS
    ) -> T:
        """``load()`` at most once per ``ttl`` seconds; failures are not cached."""
        hit = self._cache.get(key)
        if hit and hit[0] > self.monotonic():
            value: T = hit[1]
            return value
        value = await load()
        self._cache[key] = (self.monotonic() + ttl, value)
        return value

    def task_link(self, workflow_key: str, task_id: int) -> str:
        return task_url(
            self.settings.zadig_web_url, self.catalog.project_key, workflow_key, task_id
        )

    async def aclose(self) -> None:
        await self.zadig.aclose()
        self.db.dispose()
