"""One-for-one supervision with Erlang's restart intensity: at most N restarts within T seconds.

A crashing child is rebuilt from its factory (a session actor reloads its state from storage);
past the limit the child is stopped and the failure reported, while siblings keep running.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from chinwag.runtime.actor import ActorCell

log = logging.getLogger("chinwag.runtime")


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    max_restarts: int = 3
    within_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class ChildFailure:
    name: str
    error: BaseException
    restarts: int


class Supervisor:
    """Decides restarts for its children and reports the ones that gave up."""

    def __init__(
        self,
        policy: RestartPolicy | None = None,
        on_failure: Callable[[ChildFailure], None] | None = None,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.on_failure = on_failure
        self.failures: list[ChildFailure] = []
        self.restart_count = 0
        self._history: dict[int, deque[float]] = {}

    def allow_restart(self, cell: ActorCell, error: BaseException) -> bool:
        """Record a crash; True while the child is within its restart intensity."""
        now = trio.current_time()
        history = self._history.setdefault(id(cell), deque())
        while history and now - history[0] > self.policy.within_seconds:
            history.popleft()
        if len(history) >= self.policy.max_restarts:
            return False
        history.append(now)
        self.restart_count += 1
        return True

    def report_failure(self, cell: ActorCell, error: BaseException) -> None:
        history = self._history.pop(id(cell), deque())
        failure = ChildFailure(cell.name, error, len(history))
        self.failures.append(failure)
        log.error("actor %s exceeded its restart limit and was stopped", cell.name, exc_info=error)
        if self.on_failure is not None:
            self.on_failure(failure)

    def forget(self, cell: ActorCell) -> None:
        """Drop restart history of a child that stopped normally."""
        self._history.pop(id(cell), None)
