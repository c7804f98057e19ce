"""What the workflow ``webhook`` notification sends, and when (docs/zadig-openapi.md §6.2,
docs/zadig-task-operations.md §1.5, §8).

A status goes out when the notification subscribes to it (``/_sim/config
{"webhook_notify_types"}``): the completion once per run, ``created`` when a task or a retry is
queued, ``wait_for_approval`` when an approval job starts waiting. From v5.0.0 ``reject`` also
reaches a subscription to ``failed``. No webhook notifications before v3.1.0.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List, NamedTuple

from simulators.zadig.lifecycle import WAITING_APPROVAL, Progress, Task
from simulators.zadig.shapes.webhooks import detail_url, webhook_payload
from simulators.zadig.versions import REJECT_AS_FAILED, WEBHOOK
from simulators.zadig.world.state import WorldState


class Webhook(NamedTuple):
    notify_type: str
    task: Task
    payload: Dict[str, Any]


class NotifyRules(WorldState):
    def subscribed(self, status: str) -> bool:
        types = self.config.webhook_notify_types
        if status in types:
            return True
        return status == "reject" and "failed" in types and self.version >= REJECT_AS_FAILED

    def take_webhooks(self) -> List[Webhook]:
        """The notifications due since the last call, each once."""
        notices, self.notices = self.notices, []
        completed = self.take_completed()
        if self.version < WEBHOOK:
            return []
        out = []
        now = self.clock()
        for kind, task in notices:
            if not self.subscribed(kind):
                continue
            if kind == WAITING_APPROVAL:
                # Built from the task in the database: still ``running`` (§1.5).
                progress = replace(task.progress(now), status="running")
                out.append(Webhook(kind, task, self.webhook_payload(task, progress, True)))
            else:
                out.append(Webhook(kind, task, self.webhook_payload(task, task.idle(kind))))
        for task in completed:
            progress = task.progress(now)
            if self.subscribed(progress.status):
                out.append(Webhook(progress.status, task, self.webhook_payload(task, progress)))
        return out

    def webhook_payload(
        self, task: Task, progress: Progress, approval: bool = False
    ) -> Dict[str, Any]:
        url = detail_url(self.config.web_url, self.catalog.project_key, task.workflow)
        return webhook_payload(task, progress, self.catalog.project_name, url, approval)
