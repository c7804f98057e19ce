"""The state every topic's rules share, and the operations on the whole of it.

`WorldState` holds the seeded objects, the tasks, what each environment runs, and what the
control API injects and records. It is the base of the topic rule classes in this package
(tasks, workflows, discovery); `World` joins them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

from chatops.catalog import Catalog
from simulators.zadig.args import as_str, loose_json
from simulators.zadig.definitions import (
    DEFAULT_USER,
    DEPLOY_TYPE,
    Workflow,
    initial_image,
    object_id,
    seed_workflows,
)
from simulators.zadig.lifecycle import TERMINAL, Outcome, Progress, Task

FAULT_MODES = ("ok", "error500", "slow")


@dataclass
class WorldConfig:
    """Everything the simulator is started with; `/_sim/reset` returns to it."""

    catalog: Catalog
    token: str = "demo-zadig-token"
    waiting_seconds: float = 1.0
    running_seconds: float = 6.0
    webhook_url: str = ""
    webhook_token: str = ""
    web_url: str = "http://127.0.0.1:7070"
    user: str = DEFAULT_USER


class WorldState:
    """All simulated Zadig state. Not thread-safe: used from one event loop."""

    def __init__(self, config: WorldConfig, clock: Callable[[], float] = time.time) -> None:
        self.initial = replace(config)
        self.clock = clock
        # Bumped by every reset, so that what was under way before it (webhooks) is dropped.
        self.generation = 0
        self.reset()

    def reset(self) -> None:
        self.generation += 1
        self.config = replace(self.initial)
        self.catalog = catalog = self.config.catalog
        self.registry_id = object_id("registry", catalog.registry)
        self.workflows: Dict[str, Workflow] = seed_workflows(catalog)
        self.tasks: Dict[Tuple[str, int], Task] = {}
        self.counters: Dict[str, int] = {}
        self.outcomes: List[Outcome] = []
        self.requests: List[Dict[str, Any]] = []
        self.completed: List[Task] = []
        self.deliveries: List[Dict[str, Any]] = []
        self.fault: Dict[str, Any] = {"mode": "ok", "seconds": 0.0}
        # What each environment runs now; a passed deploy replaces the image.
        self.deployed: Dict[str, Dict[str, str]] = {
            env.key: {
                svc.name: initial_image(catalog.registry, env, svc)
                for svc in catalog.services.values()
            }
            for env in catalog.environments.values()
        }

    # -- control -------------------------------------------------------------------------------

    def configure(self, values: Dict[str, Any]) -> None:
        for name in ("waiting_seconds", "running_seconds"):
            if values.get(name) is not None:
                seconds = float(values[name])
                if seconds < 0:
                    raise ValueError(f"{name} must not be negative")
                setattr(self.config, name, seconds)
        for name in ("webhook_url", "webhook_token", "web_url"):
            if name in values:
                setattr(self.config, name, as_str(values[name]) if values[name] is not None else "")

    def set_fault(self, values: Dict[str, Any]) -> Dict[str, Any]:
        mode = values.get("mode", "ok")
        if mode not in FAULT_MODES:
            raise ValueError("mode must be ok, error500 or slow")
        self.fault = {"mode": mode, "seconds": float(values.get("seconds", 0) or 0)}
        return self.fault

    def record(self, method: str, path: str, query: Dict[str, Any], raw: bytes) -> None:
        """Keep an OpenAPI request as it came, for `/_sim/requests`."""
        self.requests.append(
            {
                "method": method,
                "path": path,
                "query": query,
                "json": loose_json(raw),
                "body": raw.decode("utf-8", errors="replace"),
                "time": self.clock(),
            }
        )

    # -- the clock -----------------------------------------------------------------------------

    def refresh(self) -> List[Task]:
        """Freeze tasks that reached a terminal status; returns the newly finished ones."""
        now = self.clock()
        finished = []
        for task in self.tasks.values():
            if task.final is None:
                progress = task.progress(now)
                if progress.status in TERMINAL:
                    self._finish(task, progress)
                    finished.append(task)
        return finished

    def find_task(self, workflow_key: str, task_id: int) -> Optional[Task]:
        self.refresh()
        return self.tasks.get((workflow_key, task_id))

    def _finish(self, task: Task, progress: Progress) -> None:
        """End `task` with `progress`: roll out what it deployed, queue its webhook once."""
        task.final = progress
        for stage, sp in zip(task.stages, progress.stages):
            if sp.status != "passed":
                continue
            for job in stage.jobs:
                if job.type == DEPLOY_TYPE and not job.skipped and job.service_name:
                    env = job.spec["env"]
                    self.deployed.setdefault(env, {})[job.service_name] = job.image
        if not task.notified:
            task.notified = True
            self.completed.append(task)

    def take_completed(self) -> List[Task]:
        """The tasks finished since the last call, each once (for the webhook)."""
        done, self.completed = self.completed, []
        return done
