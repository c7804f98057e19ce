"""The simulated Zadig's state and rules, with no HTTP in it, one module per topic.

`World` joins the topics' rule classes over the shared `WorldState`: tasks (`tasks`, with the
job expansion in `jobs`), workflow definitions (`workflows`) and discovery (`discovery`). A new
topic is a new `WorldState` subclass in its own module, added to `World`'s bases.
"""

from __future__ import annotations

from simulators.zadig.world.discovery import DiscoveryRules
from simulators.zadig.world.state import WorldConfig
from simulators.zadig.world.tasks import TaskRules
from simulators.zadig.world.workflows import WorkflowRules

__all__ = ["World", "WorldConfig"]


class World(TaskRules, WorkflowRules, DiscoveryRules):
    """All simulated Zadig state and the rules that answer the OpenAPI and the control API."""
