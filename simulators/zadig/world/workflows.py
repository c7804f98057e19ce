"""Workflow definitions: the list, one workflow's detail, enabling and disabling.

docs/zadig-openapi.md §3.7.
"""

from __future__ import annotations

from typing import Any, Dict

from simulators.zadig.errors import NO_DOCUMENTS, internal_error
from simulators.zadig.shapes.workflows import webhook_notify, workflow_brief, workflow_detail
from simulators.zadig.world.state import WorldState


class WorkflowRules(WorldState):
    def list_workflows(self, project_key: str) -> Dict[str, Any]:
        if project_key != self.catalog.project_key:
            return {"workflows": []}
        return {"workflows": [workflow_brief(wf) for wf in self.workflows.values()]}

    def workflow_detail(self, workflow_key: str, project_key: str) -> Dict[str, Any]:
        workflow = self.workflows.get(workflow_key)
        if workflow is None:
            raise internal_error(NO_DOCUMENTS)
        notify = []
        if self.config.webhook_url:
            notify.append(webhook_notify(self.config.webhook_url, self.config.webhook_token))
        return workflow_detail(self.catalog, workflow, project_key, self.registry_id, notify)

    def set_disabled(self, workflow_key: str, disabled: bool) -> None:
        """Control API: a disabled workflow refuses new tasks (6160)."""
        workflow = self.workflows.get(workflow_key)
        if workflow is None:
            raise KeyError(workflow_key)
        workflow.disabled = disabled
