"""The simulated Zadig's state and rules, with no HTTP in it, one module per topic.

`World` joins the topics' rule classes over the shared `WorldState`: tasks (`tasks`, with the
job expansion in `jobs`), retry and remark (`taskops`), approvals (`approvals`), job logs
(`logs`), outbound notifications (`notify`), workflow definitions (`workflows`), image update
and restart (`environments`) and discovery (`discovery`). A new topic is a new `WorldState`
subclass in its own module, added to `World`'s bases.
"""

from __future__ import annotations

from simulators.zadig.world.approvals import ApprovalRules
from simulators.zadig.world.discovery import DiscoveryRules
from simulators.zadig.world.environments import EnvironmentRules
from simulators.zadig.world.notify import NotifyRules, Webhook
from simulators.zadig.world.state import WorldConfig
from simulators.zadig.world.taskops import TaskOpsRules
from simulators.zadig.world.tasks import TaskRules
from simulators.zadig.world.workflows import WorkflowRules

__all__ = ["Webhook", "World", "WorldConfig"]


class World(
    TaskRules,
    TaskOpsRules,
    ApprovalRules,
    NotifyRules,
    WorkflowRules,
    EnvironmentRules,
    DiscoveryRules,
):
    """All simulated Zadig state and the rules that answer the OpenAPI and the control API."""
