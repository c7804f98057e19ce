"""A workflow task and its life, as a function of the clock (docs/zadig-openapi.md §2).

A task is ``waiting`` for ``waiting`` seconds, then ``running`` for ``running`` seconds split
evenly between its stages, then ``passed``, unless an outcome was injected (``failed`` or
``timeout`` at a stage, or ``hang``). The world freezes a task's `Progress` the first time it is
seen terminal (`Task.final`); `Task.forced` is the progress of a task ended on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Tuple

from simulators.zadig.definitions import Workflow

TERMINAL = ("passed", "failed", "timeout", "cancelled", "reject")
OUTCOMES = ("passed", "failed", "timeout", "hang")
FINISH_STATUSES = ("passed", "failed", "timeout", "cancelled", "reject")
_FAILURES = ("failed", "timeout")


@dataclass
class JobTask:
    name: str
    key: str
    display_name: str
    origin_name: str
    type: str
    skipped: bool
    spec: Dict[str, Any]
    job_info: Dict[str, Any]
    service_name: str = ""
    service_module: str = ""
    image: str = ""


@dataclass
class StageTask:
    name: str
    parallel: bool
    jobs: List[JobTask]

    @property
    def active(self) -> bool:
        return any(not job.skipped for job in self.jobs)


@dataclass
class Outcome:
    """An injected result for the next matching task(s)."""

    status: str
    stage: str = "build"
    error: str = ""
    workflow_key: Optional[str] = None
    times: int = 1

    def as_dict(self) -> Dict[str, Any]:
        return {
            "workflow_key": self.workflow_key,
            "status": self.status,
            "stage": self.stage,
            "error": self.error,
            "times": self.times,
        }


_PASS = Outcome("passed")


@dataclass
class StageProgress:
    status: str = ""
    start: Optional[float] = None
    end: Optional[float] = None
    error: str = ""


@dataclass
class Progress:
    """A task's statuses and times at one moment (frozen once terminal)."""

    status: str
    start: Optional[float]
    end: Optional[float]
    error: str
    stages: List[StageProgress]


@dataclass
class Task:
    workflow: Workflow
    task_id: int
    project_key: str
    creator: str
    create_time: float
    waiting: float
    running: float
    stages: List[StageTask]
    outcome: Optional[Outcome]
    request: Dict[str, Any]
    params: List[Dict[str, Any]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    revoker: str = ""
    final: Optional[Progress] = None
    notified: bool = False

    @property
    def workflow_key(self) -> str:
        return self.workflow.key

    def progress(self, now: float) -> Progress:
        if self.final is not None:
            return self.final
        return self._by_clock(now)

    def _target_stage(self, name: str) -> Optional[int]:
        """Index of the stage an injected failure/timeout/hang happens in."""
        active = [i for i, st in enumerate(self.stages) if st.active]
        if not active:
            return None
        for i in active:
            if self.stages[i].name == name:
                return i
        return active[-1]

    def _by_clock(self, now: float) -> Progress:
        started = self.create_time + self.waiting
        if now < started:
            return Progress(
                "waiting",
                self.create_time,
                None,
                "",
                [StageProgress("" if st.active else "skipped") for st in self.stages],
            )
        outcome = self.outcome or _PASS
        kind = outcome.status
        target = self._target_stage(outcome.stage) if kind in (*_FAILURES, "hang") else None
        count = len(self.stages)
        share = self.running / count if count else self.running
        stages: List[StageProgress] = []
        status: Optional[str] = None
        end: Optional[float] = None
        error = ""
        blocked = False
        for i, stage in enumerate(self.stages):
            if not stage.active:
                stages.append(StageProgress("skipped"))
                continue
            if blocked:
                stages.append(StageProgress(""))
                continue
            begin, finish = started + i * share, started + (i + 1) * share
            if now < begin:
                stages.append(StageProgress(""))
            elif kind == "hang" and i == target:
                stages.append(StageProgress("running", begin))
                blocked = True
            elif now < finish:
                stages.append(StageProgress("running", begin))
            elif kind in _FAILURES and i == target:
                error = outcome.error or default_error(kind, stage.name)
                stages.append(StageProgress(kind, begin, finish, error))
                status, end, blocked = kind, finish, True
            else:
                stages.append(StageProgress("passed", begin, finish))
        if status is None:
            finish = started + self.running
            if kind == "hang" or now < finish:
                status = "running"
            elif kind in _FAILURES:
                # Nothing ran that could fail (every job skipped): fail the task itself.
                status, end = kind, finish
                error = outcome.error or default_error(kind, "")
            else:
                status, end = "passed", finish
        return Progress(status, self.create_time, end, error, stages)

    def forced(self, status: str, now: float, error: str = "") -> Progress:
        """The task's progress if it were ended right now with `status`."""
        current = self._by_clock(now) if self.final is None else self.final
        if status in _FAILURES and not error:
            error = default_error(status, "")
        if status not in _FAILURES:
            error = ""
        stages: List[StageProgress] = []
        for sp, stage in zip(current.stages, self.stages):
            sp = replace(sp)
            if status == "passed":
                if stage.active and sp.status not in ("passed",):
                    sp.status, sp.start, sp.end = "passed", sp.start or now, now
            elif sp.status == "running":
                sp.status, sp.end = status, now
                if status in _FAILURES:
                    sp.error = error
            stages.append(sp)
        return Progress(status, current.start, now, error, stages)


def default_error(kind: str, stage: str) -> str:
    where = f" in stage {stage}" if stage else ""
    if kind == "timeout":
        return f"job timeout{where}"
    return f"job failed{where}"


def job_state(job: JobTask, sp: StageProgress) -> Tuple[str, Optional[float], Optional[float], str]:
    """A job's status, start, end and error: its stage's, unless the job was skipped."""
    if job.skipped:
        return "skipped", None, None, ""
    error = ""
    if sp.status in _FAILURES:
        error = sp.error
    return sp.status, sp.start, sp.end, error
