"""The actor system: spawns actors as tasks in the caller's nursery, and shuts them down cleanly.

No globals: a program may run several systems side by side (tests do).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from chinwag.runtime.actor import Actor, ActorCell, ActorRef
from chinwag.runtime.supervisor import Supervisor


class ActorSystem:
    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._cells: set[ActorCell] = set()
        self._closing = False
        self._all_stopped = trio.Event()
        self._all_stopped.set()

    def spawn(
        self,
        factory: Callable[[], Actor],
        *,
        name: str,
        mailbox_size: int = 64,
        idle_timeout: float | None = None,
        supervisor: Supervisor | None = None,
        on_exit: Callable[[ActorCell, str], None] | None = None,
    ) -> ActorRef:
        """Start an actor now (synchronously registered, so lookups see it at once).

        `idle_timeout` enables passivation: after that many idle seconds the actor stops and
        `on_exit(cell, "passivated")` runs, so a directory can forget it and reactivate later.
        """
        if self._closing:
            raise RuntimeError("the actor system is shutting down")

        def exited(cell: ActorCell, reason: str) -> None:
            self._cells.discard(cell)
            if supervisor is not None and reason != "failed":
                supervisor.forget(cell)
            if not self._cells:
                self._all_stopped.set()
            if on_exit is not None:
                on_exit(cell, reason)

        cell = ActorCell(
            self,
            factory,
            name=name,
            mailbox_size=mailbox_size,
            idle_timeout=idle_timeout,
            supervisor=supervisor,
            on_exit=exited,
        )
        if not self._cells:
            self._all_stopped = trio.Event()
        self._cells.add(cell)
        self._nursery.start_soon(cell.run, name=f"actor:{name}")
        return cell.ref

    async def shutdown(self) -> None:
        """Stop every actor after it drains its mailbox, and wait for all of them."""
        self._closing = True
        for cell in list(self._cells):
            cell.mailbox.close()
        await self._all_stopped.wait()


@asynccontextmanager
async def open_actor_system() -> AsyncIterator[ActorSystem]:
    """Run an actor system inside the caller's Trio program."""
    async with trio.open_nursery() as nursery:
        system = ActorSystem(nursery)
        try:
            yield system
        finally:
            with trio.CancelScope(shield=True):
                await system.shutdown()
