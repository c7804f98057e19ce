"""The action server's services: settings, catalog, Zadig, the shared state, a clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple, TypeVar

import httpx

from chatops.catalog import Catalog, load_catalog
from chatops.replies import task_url
from chatops.settings import Settings
from chatops.state import Database, FollowupStore, Outbox
from chatops.tasks import TaskFinder
from chatops.zadig.client import ZadigClient

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
            clock=clock,
            monotonic=monotonic,
        )

    @property
    def tasks(self) -> TaskFinder:
        return TaskFinder(self.catalog, self.zadig, self.store)

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
