"""Operations on an existing task: retry and remark.

docs/zadig-task-operations.md §3 (retry: only failed, timeout, cancelled or reject tasks; the
same task id runs again from ``waiting``, keeping what passed or was skipped; outcomes injected
for the workflow apply to the new run) and §7 (remark: checks in the documented order, an empty
remark changes nothing, the completion webhook still says ``""``).
"""

from __future__ import annotations

from typing import Any, Dict

from simulators.zadig.args import as_str, parse_remark_args
from simulators.zadig.errors import NO_DOCUMENTS, bad_request, http_error, internal_error
from simulators.zadig.httputil import INT
from simulators.zadig.lifecycle import KEPT, RETRYABLE
from simulators.zadig.world.logs import LogRules

SUCCESS = {"message": "success"}


class TaskOpsRules(LogRules):
    def retry(self, workflow_key: str, raw_task_id: str) -> Dict[str, Any]:
        if not INT.match(raw_task_id):
            raise bad_request("taksID is invalid")  # sic
        task = self.find_task(workflow_key, int(raw_task_id))
        if task is None:
            raise http_error(6161, "获取工作流任务失败", NO_DOCUMENTS)
        now = self.clock()
        progress = task.progress(now)
        if progress.status not in RETRYABLE:
            raise internal_error("工作流任务状态无法重试")
        # A job that runs again keeps its stored log until it ends again.
        for job, jp in task.jobs_at(progress):
            text = self.log_text(task, job, jp)
            if text and jp.status not in KEPT:
                task.saved_logs[job.name] = text
        task.restart(now, self.take_outcome(workflow_key))
        self.notices.append(("created", task))
        return SUCCESS

    def set_remark(self, workflow_key: str, raw_task_id: str, raw: bytes) -> Dict[str, Any]:
        if workflow_key not in self.workflows:
            raise bad_request(f"查询workflow失败: {NO_DOCUMENTS}")
        remark = as_str(parse_remark_args(raw).get("remark"))
        if not INT.match(raw_task_id):
            raise bad_request("invalid task id")
        task = self.find_task(workflow_key, int(raw_task_id))
        if task is None:
            raise internal_error(
                f"cannot find workflow task, workflow name: {workflow_key}, "
                f"task id: {int(raw_task_id)}"
            )
        if remark:  # bson omitempty: "" leaves the stored remark as it was
            task.remark = remark
        return SUCCESS
