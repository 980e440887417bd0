"""Virtual actors (Orleans-style): one activation per key, created on demand, passivated when idle.

Callers address actors by key and never keep refs; the directory activates an actor for a key
the first time it is needed and forgets it when it passivates, so an idle session costs nothing
in memory. Activation is synchronous (no await between lookup and registration), which is what
makes "one activation per key" hold under any number of concurrent requests.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from chinwag.runtime.actor import Actor, ActorCell, ActorRef, ActorStopped
from chinwag.runtime.supervisor import Supervisor
from chinwag.runtime.system import ActorSystem

K = TypeVar("K", bound=Hashable)


class Directory(Generic[K]):
    def __init__(
        self,
        system: ActorSystem,
        factory: Callable[[K], Actor],
        *,
        kind: str,
        idle_timeout: float | None = None,
        mailbox_size: int = 64,
        supervisor: Supervisor | None = None,
    ) -> None:
        self._system = system
        self._factory = factory
        self._kind = kind
        self._idle_timeout = idle_timeout
        self._mailbox_size = mailbox_size
        self._supervisor = supervisor
        self._cells: dict[K, ActorRef] = {}
        self.activations = 0
        self.passivations = 0

    def __len__(self) -> int:
        return len(self._cells)

    def active_keys(self) -> list[K]:
        return [key for key, ref in self._cells.items() if ref.alive]

    def is_active(self, key: K) -> bool:
        ref = self._cells.get(key)
        return ref is not None and ref.alive

    def ref(self, key: K) -> ActorRef:
        """The live activation for `key`, activating one if there is none."""
        ref = self._cells.get(key)
        if ref is not None and ref.alive:
            return ref

        def exited(cell: ActorCell, reason: str) -> None:
            if self._cells.get(key) is cell.ref:
                del self._cells[key]
            if reason == "passivated":
                self.passivations += 1

        ref = self._system.spawn(
            lambda: self._factory(key),
            name=f"{self._kind}:{key}",
            mailbox_size=self._mailbox_size,
            idle_timeout=self._idle_timeout,
            supervisor=self._supervisor,
            on_exit=exited,
        )
        self._cells[key] = ref
        self.activations += 1
        return ref

    async def ask(self, key: K, message: Any) -> Any:
        """Ask the activation for `key`; a passivation racing the call is retried transparently."""
        for _ in range(3):
            ref = self.ref(key)
            try:
                return await ref.ask(message)
            except ActorStopped:
                if ref.alive:
                    raise
                # It passivated (or stopped) between lookup and delivery: activate again.
                if self._cells.get(key) is ref:
                    del self._cells[key]
        raise ActorStopped(f"{self._kind}:{key} could not be activated")

    def tell(self, key: K, message: Any) -> None:
        self.ref(key).tell(message)

    def deactivate(self, key: K) -> None:
        """Stop the activation for `key` (after its queued messages), e.g. when deleted."""
        ref = self._cells.pop(key, None)
        if ref is not None:
            ref.stop()
