"""This process as a cluster node: an id, a URL, and a liveness lease it keeps renewing.

The lease is a row in the shared store (storage/ownership.py) holding `lease_until`; other nodes
treat the node as dead once it is in the past, and may then take over its sessions. Renewal runs
every `renew_seconds` on the Trio clock (so MockClock tests can freeze and move it); a node that
is frozen longer than `lease_seconds` (SIGSTOP, a long pause, a partition) finds on waking that
its sessions may have moved, and the fencing check refuses its writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx
import trio
import uuid_utils

from chinwag.clock import WallClock
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
    http: httpx.AsyncClient | None = None

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
        """Register, then renew the lease every `renew_seconds` until cancelled."""
        await self.register()
        task_status.started()
        while True:
            await trio.sleep(self.renew_seconds)
            if self.paused:
                continue
            try:
                await self._renew()
            except StorageError as exc:  # the store is down: retried at the next tick
                log.warning("node lease not renewed: %s", exc)

    async def is_alive(self, node_id: str) -> tuple[bool, bytes | None]:
        """(alive, its liveness row as read) of another node: the row guards a takeover."""
        raw = await ownership.read_node(self.engine, node_id)
        if raw is None:
            return False, None
        return ownership.decode_node(raw).lease_until > self.clock.now(), raw

    async def url_of(self, node_id: str) -> str | None:
        """The base URL of a live node (None when it is unknown or its lease ran out)."""
        raw = await ownership.read_node(self.engine, node_id)
        if raw is None:
            return None
        record = ownership.decode_node(raw)
        return record.url if record.lease_until > self.clock.now() else None

    async def owner_url(self, session_id: str) -> str | None:
        """The URL of the live other node that holds `session_id` (None: nobody, or us)."""
        raw = await ownership.read_owner(self.engine, session_id)
        if raw is None:
            return None
        owner = ownership.decode_owner(raw)
        if owner.released or owner.node == self.id:
            return None
        return await self.url_of(owner.node)

    async def live_nodes(self) -> list[dict[str, str]]:
        """The live nodes seen in the store, for /healthz."""
        rows = await ownership.live_nodes(self.engine, self.clock.now())
        return [{"id": node_id, "url": record.url} for node_id, record in rows]


def relay_client() -> httpx.AsyncClient:
    """The HTTP client a node relays requests with (http/forward.py): short connect, no read
    limit, since an SSE reply may stream for minutes (the owner's model timeouts bound it)."""
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0, read=None))
