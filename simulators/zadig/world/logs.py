"""Job logs: ``GET /openapi/logs/log/v4/workflow/:workflowKey/:taskID/:jobName``.

docs/zadig-task-operations.md §2.1: the whole log of a job that has ended, as text; ``""`` (HTTP
200, empty) for a running, not started or unknown job, an unknown task or a job type without
logs; the key lower-cased and ``_`` read as ``-`` in the job name, as the storage path has them.
A job a retry reset still shows its previous log until it ends again: the stored object is only
overwritten then (inferred).
"""

from __future__ import annotations

from simulators.zadig.errors import bad_request
from simulators.zadig.httputil import INT
from simulators.zadig.lifecycle import TERMINAL, JobProgress, JobTask, Task
from simulators.zadig.shapes.logs import has_log, job_log
from simulators.zadig.world.state import WorldState


class LogRules(WorldState):
    def job_log(self, workflow_key: str, raw_task_id: str, job_name: str) -> str:
        if not INT.match(raw_task_id):
            raise bad_request("invalid task id")
        task = self.find_task(workflow_key.lower(), int(raw_task_id))
        if task is None:
            return ""
        wanted = job_name.replace("_", "-")
        for job, jp in task.jobs_at(task.progress(self.clock())):
            if job.name.replace("_", "-") == wanted:
                return self.log_text(task, job, jp) or task.saved_logs.get(job.name, "")
        return ""

    def log_text(self, task: Task, job: JobTask, jp: JobProgress) -> str:
        """The stored log of `job` if it has ended as `jp`, else ``""``."""
        if jp.status not in TERMINAL or jp.start is None or not has_log(job.type, self.version):
            return ""
        tail = task.outcome.log if task.outcome and jp.status in ("failed", "timeout") else ""
        return job_log(self.catalog, task, job, jp, tail)
