"""A workflow task and its life, as a function of the clock (docs/zadig-openapi.md §2,
docs/zadig-task-operations.md §1.1 and §3).

A task runs in *runs*: one from its creation and one more from every retry. A run is ``waiting``
for ``waiting`` seconds, then its stages run one after the other: each stage that is not an
approval takes an equal share of ``running`` seconds (a skipped one too, in the first run; the
share is the task's, whichever stages a retry runs again); an approval stage waits
for votes until enough approvals (``passed``), one reject (``reject``) or its time limit
(``timeout``), with the job ``wait_for_approval`` and the stage and task ``running`` meanwhile.
An injected `Outcome` makes a stage (or one service's job in it) fail, time out or hang. A retry
keeps the stages and jobs that passed or were skipped and runs the others again. The world
freezes a task's `Progress` the first time it is seen terminal (`Task.final`); `Task.forced` is
the progress of a task ended on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from simulators.zadig.definitions import APPROVAL_TYPE, ApprovalDef, Workflow

TERMINAL = ("passed", "failed", "timeout", "cancelled", "reject")
OUTCOMES = ("passed", "failed", "timeout", "hang")
FINISH_STATUSES = TERMINAL
# docs/zadig-task-operations.md §3: what a retry accepts, and what it keeps.
RETRYABLE = ("failed", "timeout", "cancelled", "reject")
KEPT = ("passed", "skipped", "unstable")
WAITING_APPROVAL = "wait_for_approval"
# task-operations §1.1: an approval job's error when it times out or is cancelled.
APPROVAL_TIMEOUT_ERROR = "workflow timeout"
APPROVAL_CANCEL_ERROR = "workflow was canceled"
_FAILURES = ("failed", "timeout")
_GOING = ("running", WAITING_APPROVAL)


@dataclass
class Vote:
    user_id: str
    user_name: str
    approve: bool
    comment: str
    time: float


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
    approval: Optional[ApprovalDef] = None
    votes: List[Vote] = field(default_factory=list)

    def decision(self) -> Optional[Tuple[str, float]]:
        """``passed`` or ``reject`` and when, from the votes so far (one reject rejects)."""
        if self.approval is None:
            return None
        approvals = 0
        for vote in sorted(self.votes, key=lambda v: v.time):
            if not vote.approve:
                return "reject", vote.time
            approvals += 1
            if approvals >= self.approval.needed:
                return "passed", vote.time
        return None


@dataclass
class StageTask:
    name: str
    parallel: bool
    jobs: List[JobTask]

    @property
    def active(self) -> bool:
        return any(not job.skipped for job in self.jobs)

    @property
    def approval(self) -> bool:
        return any(job.type == APPROVAL_TYPE for job in self.jobs)


@dataclass
class Outcome:
    """An injected result for the next matching task(s) or retries."""

    status: str
    stage: str = "build"
    error: str = ""
    workflow_key: Optional[str] = None
    times: int = 1
    service: str = ""  # only this service's job in the stage fails ("" = every job)
    log: str = ""  # the failing job's log ends with these lines

    def as_dict(self) -> Dict[str, Any]:
        return {
            "workflow_key": self.workflow_key,
            "status": self.status,
            "stage": self.stage,
            "service": self.service,
            "error": self.error,
            "log": self.log,
            "times": self.times,
        }


_PASS = Outcome("passed")


@dataclass
class JobProgress:
    status: str = ""
    start: Optional[float] = None
    end: Optional[float] = None
    error: str = ""


@dataclass
class StageProgress:
    status: str = ""
    start: Optional[float] = None
    end: Optional[float] = None
    error: str = ""
    jobs: List[JobProgress] = field(default_factory=list)

    def copy(self) -> "StageProgress":
        return replace(self, jobs=[replace(job) for job in self.jobs])


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
    remark: str = ""
    minute: float = 60.0  # seconds in a minute of an approval's time limit
    run_start: float = 0.0  # when the current run was queued (creation, or the last retry)
    retries: int = 0
    # What a retry kept from earlier runs, by stage index and by (stage, job) index.
    kept_stages: Dict[int, StageProgress] = field(default_factory=dict)
    kept: Dict[Tuple[int, int], JobProgress] = field(default_factory=dict)
    announced: Set[str] = field(default_factory=set)  # approvals announced in this run
    rolled_out: Set[str] = field(default_factory=set)  # deploy jobs the env records
    saved_logs: Dict[str, str] = field(default_factory=dict)  # logs of jobs a retry reset

    def __post_init__(self) -> None:
        self.run_start = self.run_start or self.create_time

    @property
    def workflow_key(self) -> str:
        return self.workflow.key

    def progress(self, now: float) -> Progress:
        if self.final is not None:
            return self.final
        return self._by_clock(now)

    def jobs_at(self, progress: Progress) -> Iterator[Tuple[JobTask, JobProgress]]:
        """Every job task with its progress in `progress`."""
        for stage, sp in zip(self.stages, progress.stages):
            yield from zip(stage.jobs, sp.jobs)

    def idle(self, status: str) -> Progress:
        """The progress of a run that has not started, shown with `status` (e.g. created)."""
        return Progress(status, self.run_start, None, "", self._idle_stages())

    # -- the clock ---------------------------------------------------------------------------

    def _in_run(self, si: int) -> bool:
        return si not in self.kept_stages

    def _idle_job(self, si: int, ji: int) -> JobProgress:
        kept = self.kept.get((si, ji))
        if kept is not None:
            return replace(kept)
        return JobProgress("skipped" if self.stages[si].jobs[ji].skipped else "")

    def _idle_stage(self, si: int) -> StageProgress:
        if si in self.kept_stages:
            return self.kept_stages[si].copy()
        stage = self.stages[si]
        jobs = [self._idle_job(si, ji) for ji in range(len(stage.jobs))]
        return StageProgress("" if stage.active else "skipped", jobs=jobs)

    def _idle_stages(self) -> List[StageProgress]:
        return [self._idle_stage(si) for si in range(len(self.stages))]

    def _target_stage(self, name: str) -> Optional[int]:
        """Index of the stage an injected failure/timeout/hang happens in."""
        candidates = [
            i
            for i, st in enumerate(self.stages)
            if self._in_run(i) and st.active and not st.approval
        ]
        if not candidates:
            return None
        for i in candidates:
            if self.stages[i].name == name:
                return i
        return candidates[-1]

    def _by_clock(self, now: float) -> Progress:
        started = self.run_start + self.waiting
        if now < started:
            return Progress("waiting", self.run_start, None, "", self._idle_stages())
        outcome = self.outcome or _PASS
        target = self._target_stage(outcome.stage) if outcome.status != "passed" else None
        # Every stage but an approval takes the same share, in whichever run it runs.
        slots = [i for i, st in enumerate(self.stages) if not st.approval]
        share = self.running / len(slots) if slots else self.running
        stages: List[StageProgress] = []
        status: Optional[str] = None
        end: Optional[float] = None
        error = ""
        t = started
        for si, stage in enumerate(self.stages):
            if status is not None or not self._in_run(si):
                stages.append(self._idle_stage(si))
                continue
            if not stage.active:  # skipped: takes its share of time, unless an approval
                stages.append(self._idle_stage(si))
                t += 0.0 if stage.approval else share
                if now < t:
                    status = "running"
                continue
            if stage.approval:
                sp = self._approval_stage(si, t, now)
            else:
                sp = self._work_stage(si, t, t + share, now, outcome if si == target else _PASS)
            stages.append(sp)
            if sp.status == "running":
                status = "running"
            elif sp.status != "passed":
                status, end, error = sp.status, sp.end, sp.error
            else:
                t = sp.end if sp.end is not None else t
        if status is None:
            finish = t if slots else t + self.running
            if now < finish or (target is None and outcome.status == "hang"):
                status = "running"
            elif target is None and outcome.status in _FAILURES:
                # Nothing ran that could fail (every job skipped): fail the task itself.
                status, end = outcome.status, finish
                error = outcome.error or default_error(outcome.status, "")
            else:
                status, end = "passed", finish
        return Progress(status, self.run_start, end, error, stages)

    def _work_stage(
        self, si: int, begin: float, finish: float, now: float, outcome: Outcome
    ) -> StageProgress:
        stage, kind = self.stages[si], outcome.status
        error = (outcome.error or default_error(kind, stage.name)) if kind in _FAILURES else ""
        jobs: List[JobProgress] = []
        hits = 0
        for ji, job in enumerate(stage.jobs):
            if (si, ji) in self.kept or job.skipped:
                jobs.append(self._idle_job(si, ji))
                continue
            hit = kind != "passed" and outcome.service in ("", job.service_name)
            hits += hit
            if now < finish or (hit and kind == "hang"):
                jobs.append(JobProgress("running", begin))
            elif hit:
                jobs.append(JobProgress(kind, begin, finish, error))
            else:
                jobs.append(JobProgress("passed", begin, finish))
        if any(job.status == "running" for job in jobs):
            return StageProgress("running", begin, None, "", jobs)
        if hits:
            return StageProgress(kind, begin, finish, error, jobs)
        return StageProgress("passed", begin, finish, "", jobs)

    def _approval_stage(self, si: int, begin: float, now: float) -> StageProgress:
        jobs: List[JobProgress] = []
        for ji, job in enumerate(self.stages[si].jobs):
            if (si, ji) in self.kept or job.skipped or job.approval is None:
                jobs.append(self._idle_job(si, ji))
            else:
                jobs.append(self._approval_job(job, job.approval, begin, now))
        statuses = [job.status for job in jobs]
        if WAITING_APPROVAL in statuses:
            return StageProgress("running", begin, None, "", jobs)
        end = max((job.end for job in jobs if job.end is not None), default=begin)
        for bad in ("reject", "timeout"):
            if bad in statuses:
                return StageProgress(bad, begin, end, "", jobs)
        return StageProgress("passed", begin, end, "", jobs)

    def _approval_job(
        self, job: JobTask, approval: ApprovalDef, begin: float, now: float
    ) -> JobProgress:
        # Deadline = start + timeout minutes (task-operations §1.2, inferred there).
        deadline = begin + approval.minutes * self.minute
        decided = job.decision()
        if decided is not None and decided[1] <= now:
            return JobProgress(decided[0], begin, decided[1])
        if now >= deadline:
            return JobProgress("timeout", begin, deadline, APPROVAL_TIMEOUT_ERROR)
        return JobProgress(WAITING_APPROVAL, begin)

    # -- ending and running again --------------------------------------------------------------

    def forced(self, status: str, now: float, error: str = "") -> Progress:
        """The task's progress if it were ended right now with `status`."""
        current = self.progress(now)
        if status in _FAILURES and not error:
            error = default_error(status, "")
        if status not in _FAILURES:
            error = ""
        stages: List[StageProgress] = []
        for stage, sp in zip(self.stages, current.stages):
            sp = sp.copy()
            if status == "passed":
                if stage.active and sp.status != "passed":
                    sp.status, sp.start, sp.end, sp.error = "passed", sp.start or now, now, ""
                for job, jp in zip(stage.jobs, sp.jobs):
                    if not job.skipped and jp.status != "passed":
                        jp.status, jp.start, jp.end, jp.error = "passed", jp.start or now, now, ""
            elif sp.status == "running":
                sp.status, sp.end, sp.error = status, now, error
                for jp in sp.jobs:
                    if jp.status in _GOING:
                        waiting = jp.status == WAITING_APPROVAL
                        jp.status, jp.end, jp.error = status, now, error
                        if waiting and status == "cancelled":
                            jp.error = APPROVAL_CANCEL_ERROR
            stages.append(sp)
        return Progress(status, current.start, now, error, stages)

    def restart(self, now: float, outcome: Optional[Outcome]) -> List[JobTask]:
        """Run again from `now` (a retry): keep what passed or was skipped, reset the rest.

        Returns the job tasks that will run again; a rejected approval gets a new round."""
        final = self.final or self.progress(now)
        self.kept_stages = {i: sp.copy() for i, sp in enumerate(final.stages) if sp.status in KEPT}
        self.kept = {}
        reset: List[JobTask] = []
        for si, (stage, sp) in enumerate(zip(self.stages, final.stages)):
            for ji, (job, jp) in enumerate(zip(stage.jobs, sp.jobs)):
                if jp.status in KEPT:
                    self.kept[(si, ji)] = replace(jp)
                else:
                    job.votes.clear()
                    reset.append(job)
        self.run_start, self.outcome, self.final = now, outcome, None
        self.notified = False
        self.retries += 1
        self.announced.clear()
        self.rolled_out -= {job.name for job in reset}
        return reset


def default_error(kind: str, stage: str) -> str:
    """The error of an injected failure that names none: a failed script leaves ``""``
    (docs/zadig-task-operations.md §8); a timeout says so."""
    if kind != "timeout":
        return ""
    where = f" in stage {stage}" if stage else ""
    return f"job timeout{where}"
