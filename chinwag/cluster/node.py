"""This process as a cluster node: an id, a URL, and a liveness lease it keeps renewing.

The lease is a row in the shared store (storage/ownership.py) holding `lease_until`; other nodes
treat the node as dead once it is in the past, and may then take over its sessions. Renewal runs
every `renew_seconds` on the Trio clock (so MockClock tests can freeze and move it); a node that
is frozen longer than `lease_seconds` (SIGSTOP, a long pause, a partition) finds on waking that
its sessions may have moved, and the fencing check refuses its writes.

Each tick also reads every node row (`Peers`, peers.py): the URLs and leases routing relays
with, without a store round trip per request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpcore
import trio
import uuid_utils

from chinwag.clock import WallClock
from chinwag.cluster.peers import Peers
from chinwag.storage import ownership
from chinwag.storage.engine import StorageEngine
from chinwag.storage.errors import StorageError

log = logging.getLogger(__name__)


@dataclass
class ClusterCounters:
    """For /metrics: sessions claimed (of which taken over from a dead node), writes refused."""

    ownership_claims: int = 0
    ownership_takeovers: int = 0
    fencing_refusals: int = 0
    forwarded_requests: int = 0


@dataclass
class Node:
    engine: StorageEngine
    clock: WallClock
    url: str
    lease_seconds: float
    renew_seconds: float
    id: str = field(default_factory=lambda: str(uuid_utils.uuid7()))
    counters: ClusterCounters = field(default_factory=ClusterCounters)
    started_at: float = 0.0
    # Tests set this to stop renewing (an in-process stand-in for a frozen node).
    paused: bool = False
    # Node-to-node credential (hex), the same on every node: kept in the store (open_runtime).
    secret: str = ""
    # The client requests are relayed with (http/forward.py); set by open_runtime.
    http: httpcore.AsyncConnectionPool | None = None
    # The other nodes as last seen, the owner cache and relays' deadlines (peers.py).
    peers: Peers = field(init=False)

    def __post_init__(self) -> None:
        self.peers = Peers(self.clock, self.renew_seconds)

    async def register(self) -> None:
        """Write the first lease before this node claims anything."""
        self.started_at = self.clock.now()
        await self._renew()

    async def _renew(self) -> None:
        record = ownership.NodeRecord(
            url=self.url,
            lease_until=self.clock.now() + self.lease_seconds,
            started_at=self.started_at,
        )
        await self.engine.write(*ownership.renew(self.id, record))

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Register, then every `renew_seconds` renew the lease and look at the other nodes,
        until cancelled."""
        await self.register()
        await self._look()
        task_status.started()
        while True:
            await trio.sleep(self.renew_seconds)
            if self.paused:
                continue
            try:
                await self._renew()
            except StorageError as exc:  # the store is down: retried at the next tick
                log.warning("node lease not renewed: %s", exc)
            await self._look()

    async def _look(self) -> None:
        """Read every node row: pushes relays' deadlines on, forgets dead owners."""
        try:
            rows = await ownership.all_nodes(self.engine)
        except StorageError as exc:
            log.warning("node rows not read: %s", exc)
            return
        self.peers.refresh(rows, self.id)

    async def is_alive(self, node_id: str) -> tuple[bool, bytes | None]:
        """(alive, its liveness row as read) of another node: the row guards a takeover."""
        raw = await ownership.read_node(self.engine, node_id)
        record = ownership.decode_node(raw) if raw is not None else None
        if node_id != self.id:
            self.peers.seen(node_id, record)
        if record is None:
            return False, None
        return record.lease_until > self.clock.now(), raw

    async def url_of(self, node_id: str) -> str | None:
        """The base URL of a live node (None when it is unknown or its lease ran out); from
        what this node last saw when it can, else read from the store."""
        url = self.peers.url(node_id)
        if url is not None:
            return url
        alive, raw = await self.is_alive(node_id)
        return ownership.decode_node(raw).url if alive and raw is not None else None

    async def owner_of(self, session_id: str) -> str | None:
        """The live other node that holds `session_id` (None: nobody, or us): the owner cache,
        else the owner row (which then fills the cache)."""
        cached = self.peers.owners.get(session_id)
        if cached is not None:
            return cached
        raw = await ownership.read_owner(self.engine, session_id)
        if raw is None:
            return None
        owner = ownership.decode_owner(raw)
        if owner.released or owner.node == self.id:
            return None
        alive, _ = await self.is_alive(owner.node)
        if not alive:
            return None
        self.peers.place(session_id, owner.node)
        return owner.node

    async def live_nodes(self) -> list[dict[str, str]]:
        """The live nodes seen in the store, for /healthz."""
        rows = await ownership.live_nodes(self.engine, self.clock.now())
        return [{"id": node_id, "url": record.url} for node_id, record in rows]


def relay_client() -> httpcore.AsyncConnectionPool:
    """The HTTP connection pool a node relays requests with (http/forward.py).

    httpcore rather than httpx: the relay passes raw headers and bytes through and needs none of
    httpx's request/response models, which were a third of a hop's cost. Connections to each
    node are kept alive and reused (no connection limit: an SSE relay holds one for as long as
    its reply streams). The relay gives connecting 1 s and bounds reading and writing by the
    owner's liveness (`Peers.waiting_on`): a live owner may stream for minutes, a frozen one is
    given up once its lease ends. Idle connections are dropped after 4 s, before Hypercorn's
    5 s keep-alive timeout closes them from the other side (a request sent on a connection the
    owner is just closing would fail)."""
    return httpcore.AsyncConnectionPool(
        max_connections=None, max_keepalive_connections=64, keepalive_expiry=4.0
    )
