"""Claiming, fencing and releasing sessions: one activation per session in the whole cluster.

A node activates a session only after it holds the session's owner row (node, epoch):
- absent row: PutIfAbsent (node, 1);
- row released by its owner (passivation) or held by a node whose lease ran out: CompareAndSet
  from the exact bytes read to (this node, epoch + 1); for a dead node the batch also checks its
  liveness row is unchanged, so a node that renewed in the meantime keeps the session;
- row held by a live other node: NotOwner (the caller retries; routing forwards instead), and
  the node's owner cache remembers it so the next requests are relayed without a claim.
Every write of the session then carries `fence`, so an activation whose epoch was superseded
stores nothing (`Fenced`), whatever it believes.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from chinwag.cluster.node import Node
from chinwag.errors import ServiceUnavailable
from chinwag.storage import ownership
from chinwag.storage.engine import Check, Write
from chinwag.storage.errors import ConditionFailed


class NotOwner(ServiceUnavailable):
    """The session is active on another live node."""

    code = "session_elsewhere"

    def __init__(self, session_id: str, node_id: str) -> None:
        super().__init__(
            "this session is being served by another node; try again shortly", retry_after=1
        )
        self.session_id = session_id
        self.node_id = node_id


class Fenced(ServiceUnavailable):
    """This node lost the session (its lease ran out and another node took it).

    Its write was refused, but earlier writes of the turn may be stored (the user message is,
    once the reply streamed): the same Idempotency-Key on a retry gets the stored answer, or
    the turn once, so the sentence asks for that rather than claiming nothing was stored."""

    code = "session_moved"
    public_text = "sessionMoved"  # the talk page catalog's localized sentence

    def __init__(self) -> None:
        super().__init__(
            "this conversation moved to another server; send it again with the same "
            "Idempotency-Key to get its answer",
            retry_after=1,
        )


@dataclass(frozen=True, slots=True)
class Lease:
    """A held ownership: the owner row's bytes, which every write of the session checks."""

    session_id: str
    raw: bytes
    epoch: int

    def fence(self) -> Check:
        return ownership.fence(self.session_id, self.raw)


async def claim(node: Node, session_id: str) -> Lease:
    """Become the session's owner, or raise NotOwner (a live node holds it)."""
    for _attempt in range(4):  # a lost race re-reads once the winner's row is visible
        previous = await ownership.read_owner(node.engine, session_id)
        dead_node: tuple[str, bytes | None] | None = None
        epoch = 1
        if previous is not None:
            current = ownership.decode_owner(previous)
            epoch = current.epoch + 1
            if current.node != node.id and not current.released:
                alive, row = await node.is_alive(current.node)
                if alive:
                    node.peers.place(session_id, current.node)  # route there, for a while
                    raise NotOwner(session_id, current.node)
                dead_node = (current.node, row)
        mine = ownership.OwnerRecord(node=node.id, epoch=epoch)
        ops: list[Write] = ownership.claim(session_id, previous, mine, dead_node=dead_node)
        try:
            await node.engine.write(*ops)
        except ConditionFailed:
            continue
        node.peers.owners.drop(session_id)
        node.counters.ownership_claims += 1
        if dead_node is not None:
            node.counters.ownership_takeovers += 1
        return Lease(session_id, ownership.encode_owner(mine), epoch)
    raise NotOwner(session_id, "")


async def release(node: Node, lease: Lease) -> None:
    """Hand the session back (on passivation) so any node may claim it without waiting."""
    released = ownership.OwnerRecord(node=node.id, epoch=lease.epoch, released=True)
    with suppress(ConditionFailed):  # already taken over: nothing of ours to release
        await node.engine.write(*ownership.release(lease.session_id, lease.raw, released))
