"""What a node knows of the others, for routing without a store round trip per request.

- `Peers.records`: each other node's liveness row (URL, `lease_until`) as last read: by the
  node's watch loop (one scan of the node rows every renew interval) and by every claim.
- `OwnerCache`: session id -> the live node that owns it, learnt when a claim met a live owner.
  An entry lives at most `ttl` (the renew interval) and never past the owner's known lease; it
  is dropped when a relay to that owner fails or is refused, and when the owner is seen dead.
  The cache only decides where a request is *sent*: the owner's own claim and fence still
  decide who may act, so a stale entry costs at most a relay the owner refuses with the
  retryable 503 (never two activations, never an unfenced write).
- `waiting_on(node)`: a cancel scope for a relay waiting on that node (its answer's headers, or
  the next chunk of a stream). Its deadline is the node's known lease end plus `margin`, pushed
  on each time the watch loop sees the node renew: a live owner may take as long as its reply
  takes, a frozen one (SIGSTOP, a pause, a partition from the store) is given up within its
  lease plus `margin`, after which its sessions can be claimed elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import trio

from chinwag.clock import WallClock
from chinwag.storage.ownership import NodeRecord

# Bound on remembered owners (a few MB at most); the oldest entries go first.
MAX_CACHED_OWNERS = 100_000


@dataclass(slots=True)
class _Owner:
    node_id: str
    until: float  # wall-clock seconds


class OwnerCache:
    """Session id -> owning node id, short-lived (see the module doc)."""

    def __init__(self, clock: WallClock, ttl: float, max_entries: int = MAX_CACHED_OWNERS) -> None:
        self._clock = clock
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, _Owner] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, session_id: str) -> str | None:
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        if entry.until <= self._clock.now():
            del self._entries[session_id]
            return None
        return entry.node_id

    def put(self, session_id: str, node_id: str, lease_until: float) -> None:
        until = min(self._clock.now() + self._ttl, lease_until)
        self._entries.pop(session_id, None)
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[session_id] = _Owner(node_id, until)

    def drop(self, session_id: str) -> None:
        self._entries.pop(session_id, None)

    def drop_node(self, node_id: str) -> None:
        """Forget every session placed on `node_id` (seen dead, or a relay to it failed)."""
        stale = [sid for sid, entry in self._entries.items() if entry.node_id == node_id]
        for session_id in stale:
            del self._entries[session_id]


class Peers:
    """The other nodes as last seen in the store, the owner cache, and relays' deadlines."""

    def __init__(self, clock: WallClock, renew_seconds: float) -> None:
        self._clock = clock
        self.margin = renew_seconds
        self.records: dict[str, NodeRecord] = {}
        self.owners = OwnerCache(clock, ttl=renew_seconds)
        self._waiting: dict[str, set[trio.CancelScope]] = {}

    def alive(self, node_id: str) -> bool:
        record = self.records.get(node_id)
        return record is not None and record.lease_until > self._clock.now()

    def url(self, node_id: str) -> str | None:
        """The URL of `node_id` if it is alive as far as this node knows (no store read)."""
        record = self.records.get(node_id)
        if record is None or record.lease_until <= self._clock.now():
            return None
        return record.url

    def seen(self, node_id: str, record: NodeRecord | None) -> None:
        """A liveness row just read (None: absent). Pushes the deadlines of relays waiting on a
        live node; forgets the sessions of a dead one."""
        if record is None or record.lease_until <= self._clock.now():
            if self.records.pop(node_id, None) is not None:
                self.owners.drop_node(node_id)
            return
        self.records[node_id] = record
        deadline = self._deadline(record)
        for scope in self._waiting.get(node_id, ()):
            scope.deadline = max(scope.deadline, deadline)

    def refresh(self, rows: list[tuple[str, NodeRecord]], own_id: str) -> None:
        """Every node row in the store (the watch loop's scan)."""
        found = {node_id for node_id, _ in rows}
        for node_id in [n for n in self.records if n not in found]:
            self.seen(node_id, None)
        # Relays waiting on a node whose row is gone keep their deadline (it then expires).
        for node_id, record in rows:
            if node_id != own_id:
                self.seen(node_id, record)

    def place(self, session_id: str, node_id: str) -> None:
        """`node_id` (alive, just read) owns `session_id`: send its requests there for a while."""
        record = self.records.get(node_id)
        if record is not None:
            self.owners.put(session_id, node_id, record.lease_until)

    def _deadline(self, record: NodeRecord) -> float:
        return self._clock.trio_deadline(record.lease_until) + self.margin

    @contextmanager
    def waiting_on(self, node_id: str) -> Iterator[trio.CancelScope]:
        """A scope cancelled once `node_id` has not been seen alive for its lease + margin."""
        record = self.records.get(node_id)
        deadline = (
            self._deadline(record) if record is not None else trio.current_time() + self.margin
        )
        scope = trio.CancelScope(deadline=deadline)
        waiting = self._waiting.setdefault(node_id, set())
        waiting.add(scope)
        try:
            with scope:
                yield scope
        finally:
            waiting.discard(scope)
            if not waiting:
                self._waiting.pop(node_id, None)
