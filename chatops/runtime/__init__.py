"""The services each process builds once: one way to wire them, one way to replace them in tests.

Two processes run the bot (see ARCHITECTURE.md):
- the **action server** (`rasa run actions`): `ActionRuntime` — catalog, Zadig client, the
  shared state the actions read and write;
- the **Rasa server** (`rasa run`): `ServerRuntime` — the inbound log, the outbox and its
  sender, the follow-up worker, the sweeper.

Both are built by ``from_settings(settings, ...)``, whose keyword arguments (transports, clock,
sleep, retry delays) are what tests replace, and both live in a `Slot` that builds the
process's instance on first use — never at import, since rasa_sdk imports every action module
at start-up — and that tests fill with ``slot.install(...)``.
"""

from __future__ import annotations

from typing import Callable, Generic, Optional, TypeVar

from chatops.runtime.actions import ActionRuntime
from chatops.runtime.server import ServerRuntime
from chatops.settings import get_settings

T = TypeVar("T")


class Slot(Generic[T]):
    """The process's one instance of a runtime, built by ``build`` on first use."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: Optional[T] = None

    def get(self) -> T:
        if self._value is None:
            self._value = self._build()
        return self._value

    def install(self, value: Optional[T]) -> None:
        """Use ``value`` from now on (tests); None forgets it, so the next `get` builds anew."""
        self._value = value


def _build_actions() -> ActionRuntime:
    return ActionRuntime.from_settings(get_settings())


def _build_server() -> ServerRuntime:
    return ServerRuntime.from_settings(get_settings())


# The two processes' runtimes; each process only ever builds its own.
action_runtime: Slot[ActionRuntime] = Slot(_build_actions)
server_runtime: Slot[ServerRuntime] = Slot(_build_server)

__all__ = ["ActionRuntime", "ServerRuntime", "Slot", "action_runtime", "server_runtime"]
