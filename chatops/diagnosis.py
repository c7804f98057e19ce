"""Why a task failed: the failed job and the last lines of its log.

Zadig's job ``error`` is empty for the most common failure (the script exited non-zero), so the
reason is in the job's log (docs/zadig-task-operations.md §2.1, §8): the whole log of a finished
job, as text, from v3.4.0. Older servers answer 404: then only the link is offered. A log is
read only after the job ended (it is written then), and never blocks the result: any error
reading it leaves the result without a tail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Tuple

from chatops.zadig.client import ZadigClient
from chatops.zadig.errors import ZadigNotFound
from chatops.zadig.models import Job, Task

logger = logging.getLogger(__name__)

TAIL_LINES = 20
# One line of a build log can be a minified bundle; DingTalk's message limit is ~15 KB.
MAX_LINE_CHARS = 200
MAX_TAIL_CHARS = 3000


@dataclass(frozen=True)
class Diagnosis:
    job: Optional[Job]
    tail: Tuple[str, ...] = ()
    # False: this Zadig has no logs API (before v3.4.0) or the log could not be read.
    logs_available: bool = True


def tail_of(log: str, lines: int = TAIL_LINES) -> Tuple[str, ...]:
    """The last ``lines`` non-empty lines, each cut to MAX_LINE_CHARS, all to MAX_TAIL_CHARS."""
    kept = [line.rstrip()[:MAX_LINE_CHARS] for line in log.splitlines() if line.strip()]
    kept = kept[-lines:]
    while kept and sum(len(line) + 1 for line in kept) > MAX_TAIL_CHARS:
        kept.pop(0)
    return tuple(kept)


def failed_job(task: Task) -> Optional[Job]:
    """The first job that failed (the one to show), else None."""
    failed = task.failed_jobs
    return failed[0] if failed else None


async def diagnose(zadig: ZadigClient, task: Task) -> Diagnosis:
    job = failed_job(task)
    if job is None or job.type == "approval":
        return Diagnosis(job)
    try:
        log = await zadig.job_log(task.workflow_key, task.task_id, job.name)
    except ZadigNotFound:
        return Diagnosis(job, logs_available=False)
    except Exception as exc:  # never let the log cost the result (ZadigError or anything odd)
        logger.info("no log for %s#%s %s: %s", task.workflow_key, task.task_id, job.name, exc)
        return Diagnosis(job, logs_available=False)
    return Diagnosis(job, tail_of(log))
