"""The state every topic's rules share, and the operations on the whole of it.

`WorldState` holds the seeded objects, the tasks, what each environment runs, and what the
control API injects and records. It is the base of the topic rule classes in this package
(tasks, task operations, approvals, logs, workflows, environments, discovery, notifications);
`World` joins them. `refresh` moves the world to the clock's time: a deploy job that passed
records its image in the environment, an approval that starts waiting is announced, a task that
ended is frozen and queued for its webhook.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from chatops.catalog import Catalog
from simulators.zadig.args import as_str, loose_json
from simulators.zadig.definitions import (
    DEFAULT_USER,
    DEFAULT_USER_ID,
    DEPLOY_TYPE,
    Workflow,
    initial_image,
    object_id,
    seed_workflows,
)
from simulators.zadig.lifecycle import TERMINAL, WAITING_APPROVAL, Outcome, Progress, Task
from simulators.zadig.versions import DEFAULT_VERSION, Version, parse_version

FAULT_MODES = ("ok", "error500", "slow")
# What the outbound webhook is subscribed to unless configured: every terminal status.
DEFAULT_NOTIFY_TYPES = ("passed", "failed", "timeout", "cancelled", "reject")


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
    user: str = DEFAULT_USER  # the token's ``name`` claim
    user_id: str = DEFAULT_USER_ID  # the token's ``uid`` claim
    system_admin: bool = False
    version: str = DEFAULT_VERSION
    webhook_notify_types: Tuple[str, ...] = DEFAULT_NOTIFY_TYPES
    # How long a "minute" of an approval's time limit lasts, so tests can see one run out.
    approval_minute_seconds: float = 60.0
    licensed: bool = True  # a professional licence (production restarts need one)


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
        # Webhooks other than completions, as (notify type, task), e.g. wait_for_approval.
        self.notices: List[Tuple[str, Task]] = []
        self.deliveries: List[Dict[str, Any]] = []
        self.restarts: List[Dict[str, Any]] = []
        self.fault: Dict[str, Any] = {"mode": "ok", "seconds": 0.0}
        # What each environment runs now; a passed deploy replaces the image.
        self.deployed: Dict[str, Dict[str, str]] = {
            env.key: {
                svc.name: initial_image(catalog.registry, env, svc)
                for svc in catalog.services.values()
            }
            for env in catalog.environments.values()
        }

    @property
    def version(self) -> Version:
        return parse_version(self.config.version)

    # -- control -------------------------------------------------------------------------------

    def configure(self, values: Dict[str, Any]) -> None:
        """Change settings (control API); every value is checked before any is applied."""
        cfg = replace(self.config)
        for name in ("waiting_seconds", "running_seconds", "approval_minute_seconds"):
            if values.get(name) is not None:
                seconds = float(values[name])
                if seconds < 0:
                    raise ValueError(f"{name} must not be negative")
                if seconds == 0 and name == "approval_minute_seconds":
                    raise ValueError(f"{name} must be positive")
                setattr(cfg, name, seconds)
        for name in ("webhook_url", "webhook_token", "web_url"):
            if name in values:
                setattr(cfg, name, as_str(values[name]) if values[name] is not None else "")
        if values.get("version") is not None:
            parse_version(values["version"])
            cfg.version = str(values["version"]).strip().lstrip("v")
        if values.get("user") is not None:
            cfg.user, cfg.user_id, cfg.system_admin = _user(values["user"], cfg)
        if values.get("webhook_notify_types") is not None:
            cfg.webhook_notify_types = _strings(values["webhook_notify_types"])
        if values.get("licensed") is not None:
            cfg.licensed = _flag(values["licensed"], "licensed")
        self.config = cfg

    def set_fault(self, values: Dict[str, Any]) -> Dict[str, Any]:
        mode = values.get("mode", "ok")
        if mode not in FAULT_MODES:
            raise ValueError("mode must be ok, error500 or slow")
        self.fault = {"mode": mode, "seconds": float(values.get("seconds", 0) or 0)}
        return self.fault

    def take_outcome(self, workflow_key: str) -> Optional[Outcome]:
        """The first injected outcome for `workflow_key`, used up once."""
        for outcome in self.outcomes:
            if outcome.workflow_key in (None, workflow_key):
                outcome.times -= 1
                if outcome.times <= 0:
                    self.outcomes.remove(outcome)
                return replace(outcome, times=1)
        return None

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
        """Bring every task to the clock's time; returns the newly finished ones."""
        now = self.clock()
        live = [(task, task.progress(now)) for task in self.tasks.values() if task.final is None]
        self._roll_out(live)
        finished = []
        for task, progress in live:
            for job, jp in task.jobs_at(progress):
                if jp.status == WAITING_APPROVAL and job.name not in task.announced:
                    task.announced.add(job.name)
                    self.notices.append((WAITING_APPROVAL, task))
            if progress.status in TERMINAL:
                self._finish(task, progress)
                finished.append(task)
        return finished

    def _roll_out(self, seen: Sequence[Tuple[Task, Progress]]) -> None:
        """Record in the environments the images of deploy jobs that passed, in the order they
        passed (docs/zadig-task-operations.md §4.5: deploy jobs update the env's record)."""
        passed = []
        for task, progress in seen:
            for job, jp in task.jobs_at(progress):
                if (
                    job.type == DEPLOY_TYPE
                    and jp.status == "passed"
                    and job.service_name
                    and job.name not in task.rolled_out
                ):
                    task.rolled_out.add(job.name)
                    passed.append((jp.end or 0.0, job.spec["env"], job.service_name, job.image))
        for _, env, service, image in sorted(passed, key=lambda item: item[0]):
            self.deployed.setdefault(env, {})[service] = image

    def find_task(self, workflow_key: str, task_id: int) -> Optional[Task]:
        self.refresh()
        return self.tasks.get((workflow_key, task_id))

    def _finish(self, task: Task, progress: Progress) -> None:
        """End `task` with `progress`: roll out what it deployed, queue its webhook once."""
        self._roll_out([(task, progress)])
        task.final = progress
        if not task.notified:
            task.notified = True
            self.completed.append(task)

    def take_completed(self) -> List[Task]:
        """The tasks finished since the last call, each once (for the webhook)."""
        done, self.completed = self.completed, []
        return done


def _user(value: Any, current: WorldConfig) -> Tuple[str, str, bool]:
    """``{"user_id", "user_name", "system_admin"}``: the API token's user."""
    if not isinstance(value, dict):
        raise ValueError("user must be an object {user_id, user_name}")
    name = value.get("user_name", current.user)
    uid = value.get("user_id", current.user_id)
    if not isinstance(name, str) or not isinstance(uid, str) or not name or not uid:
        raise ValueError("user_id and user_name must be non-empty strings")
    admin = value.get("system_admin", current.system_admin)
    return name, uid, _flag(admin, "system_admin")


def _strings(value: Any) -> Tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("webhook_notify_types must be a list of statuses")
    return tuple(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value
