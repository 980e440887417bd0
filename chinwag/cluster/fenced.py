"""A session actor that writes only while its node owns the session (cluster mode).

`FencedSessionActor` claims the session before loading it, hands the actor a view of the core
whose repository adds the owner-row Check to every commit, and stops the actor for good when a
write is refused (another node took the session over while this one was frozen). It releases the
session when it passivates or the node shuts down, so the next node need not wait for a lease.
SessionActor itself is unchanged: the fence rides on `core.repo.commit`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from chinwag.actors.context import ActorContext
from chinwag.actors.session import CreateSession, SessionActor
from chinwag.cluster.node import Node
from chinwag.cluster.ownership import Fenced, Lease, NotOwner, claim, release
from chinwag.errors import ChinwagError
from chinwag.storage import ownership
from chinwag.storage.engine import Delete, Write
from chinwag.storage.errors import ConditionFailed
from chinwag.storage.repository import Repository

log = logging.getLogger(__name__)


class FencedRepository:
    """The runtime's Repository, but every commit carries the actor's fence."""

    def __init__(self, repo: Repository, actor: FencedSessionActor) -> None:
        self._repo = repo
        self._actor = actor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repo, name)

    async def commit(self, ops: Any) -> None:
        batch: list[Write] = list(ops)
        if not batch:
            return
        lease = self._actor.lease
        if lease is None:
            raise Fenced()
        fence = lease.fence()
        try:
            await self._repo.engine.write(fence, *batch)
        except ConditionFailed as exc:
            if exc.condition != fence:
                raise
            self._actor.fenced()
            raise Fenced() from None


class _CoreView:
    """The shared ActorContext with this actor's fenced repository in place of the plain one."""

    def __init__(self, core: ActorContext, repo: FencedRepository) -> None:
        self._core = core
        self.repo = repo

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)


class FencedSessionActor(SessionActor):
    def __init__(self, core: ActorContext, node: Node, session_id: str) -> None:
        super().__init__(core, session_id)
        self.core = _CoreView(core, FencedRepository(core.repo, self))  # type: ignore[assignment]
        self.node = node
        self.lease: Lease | None = None
        self.refusal: ChinwagError | None = None

    async def started(self) -> None:
        try:
            self.lease = await claim(self.node, self.session_id)
        except NotOwner as exc:
            self._refuse(exc)
            return
        await super().started()
        if self.session is None:  # no such session: leave no owner row behind
            await self._drop_owner_row()

    async def receive(self, message: Any) -> Any:
        if self.refusal is not None:
            raise self.refusal
        if isinstance(message, CreateSession) and self.session is None:
            return await self._create_owned(message)
        return await super().receive(message)

    async def _create_owned(self, message: CreateSession) -> Any:
        """A new session (the registry or the facade drew its id): claim it, then store it.

        `started` left no owner row for the then-absent session; the creating write needs one
        to carry the fence. If the create fails, the row goes again."""
        if self.lease is None:
            try:
                self.lease = await claim(self.node, self.session_id)
            except NotOwner as exc:
                self._refuse(exc)
                raise
        try:
            return await super().receive(message)
        except BaseException:
            if self.session is None:
                with contextlib.suppress(ChinwagError):
                    await self._drop_owner_row()
            raise

    async def stopped(self) -> None:
        await super().stopped()
        if self.lease is not None and self.refusal is None and self.session is not None:
            try:
                await release(self.node, self.lease)
            except ChinwagError as exc:  # the lease then simply runs out
                log.warning("session %s not released: %s", self.session_id, exc)

    def fenced(self) -> None:
        """A write was refused: this activation is superseded. Fail what waits and stop."""
        self.node.counters.fencing_refusals += 1
        log.warning("session %s was taken over by another node; its actor stops", self.session_id)
        self._refuse(Fenced())
        self._abandon_turns(Fenced())

    def _refuse(self, error: ChinwagError) -> None:
        self.refusal = error
        self.lease = None
        self.ref.stop()

    async def _drop_owner_row(self) -> None:
        lease, self.lease = self.lease, None
        if lease is None:
            return
        key = ownership.owner_key(self.session_id)
        with contextlib.suppress(ConditionFailed):
            await self.node.engine.write(lease.fence(), Delete(ownership.OWNERS, key))
