"""Rows of cluster ownership: node liveness leases and session owners (node, epoch).

The only code that knows their keys and bytes; chinwag/cluster decides what to do with them.
Every decision is a conditional batch, so the store itself settles races between nodes:
- `nodes/<node id>` holds a NodeRecord whose `lease_until` the node pushes forward while alive;
- `owners/<session id>` holds an OwnerRecord (node, epoch). A claim is a CompareAndSet from the
  exact bytes read (or PutIfAbsent), and a takeover also checks that the dead node's row still
  holds what was read (so a node that renewed meanwhile keeps its sessions);
- every write of a session's turn carries `fence(...)`: a Check that the owner row still holds
  this node's (node, epoch), so a node whose session was taken over writes nothing.
"""

from __future__ import annotations

from msgspec import Struct

from chinwag.storage import keys
from chinwag.storage.codec import decode, encode
from chinwag.storage.engine import Check, CompareAndSet, Put, PutIfAbsent, StorageEngine, Write

NODES = "nodes"
OWNERS = "owners"


class NodeRecord(Struct, kw_only=True):
    """A node's liveness row: alive while `lease_until` (Unix seconds) is in the future."""

    url: str
    lease_until: float
    started_at: float


class OwnerRecord(Struct, kw_only=True):
    """Who may write a session: `node` at `epoch`; `released` lets anyone claim it at once."""

    node: str
    epoch: int
    released: bool = False


def node_key(node_id: str) -> bytes:
    return keys.id_bytes(node_id)


def owner_key(session_id: str) -> bytes:
    return keys.id_bytes(session_id)


def encode_owner(owner: OwnerRecord) -> bytes:
    return encode(owner)


def decode_owner(raw: bytes) -> OwnerRecord:
    return decode(raw, OwnerRecord)


def decode_node(raw: bytes) -> NodeRecord:
    return decode(raw, NodeRecord)


def renew(node_id: str, record: NodeRecord) -> list[Write]:
    return [Put(NODES, node_key(node_id), encode(record))]


def retire(node_id: str, raw: bytes, record: NodeRecord) -> list[Write]:
    """Replace exactly `raw` (a node's row as read) by `record` (its lease ended)."""
    return [CompareAndSet(NODES, node_key(node_id), raw, encode(record))]


async def read_owner(engine: StorageEngine, session_id: str) -> bytes | None:
    return await engine.aget(OWNERS, owner_key(session_id))


async def read_node(engine: StorageEngine, node_id: str) -> bytes | None:
    return await engine.aget(NODES, node_key(node_id))


async def all_nodes(engine: StorageEngine) -> list[tuple[str, NodeRecord]]:
    """(node id, record) of every node row, alive or not."""
    rows = await engine.ascan(NODES)
    return [(keys.id_str(k), decode_node(v)) for k, v in rows]


async def live_nodes(engine: StorageEngine, now: float) -> list[tuple[str, NodeRecord]]:
    """(node id, record) of every node whose lease has not run out at `now`."""
    found = await all_nodes(engine)
    return [(node_id, record) for node_id, record in found if record.lease_until > now]


def claim(
    session_id: str,
    previous: bytes | None,
    owner: OwnerRecord,
    *,
    dead_node: tuple[str, bytes | None] | None = None,
) -> list[Write]:
    """Take the owner row from exactly `previous` (None: absent) to `owner`.

    `dead_node` (node id, its row as read): the takeover also requires that row unchanged.
    """
    key = owner_key(session_id)
    value = encode_owner(owner)
    ops: list[Write] = (
        [PutIfAbsent(OWNERS, key, value)]
        if previous is None
        else [CompareAndSet(OWNERS, key, previous, value)]
    )
    if dead_node is not None:
        ops.append(Check(NODES, node_key(dead_node[0]), dead_node[1]))
    return ops


def fence(session_id: str, owner: bytes) -> Check:
    """The condition every write of an owned session carries: the owner row is still ours."""
    return Check(OWNERS, owner_key(session_id), owner)


def release(session_id: str, owner: bytes, released: OwnerRecord) -> list[Write]:
    return [CompareAndSet(OWNERS, owner_key(session_id), owner, encode_owner(released))]
