"""The durable inbox: every accepted chat-app update, stored before the webhook is answered.

Keyed by (client, channel, platform id), so a repeated delivery of the same Telegram update_id
or Z-API messageId finds its earlier copy and is acknowledged without being processed again.
Items stay `pending` until their reply is delivered; a restart re-dispatches what is still
pending. Done items are kept (without their text) long enough to recognise late duplicates,
then purged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import msgspec
import trio

from chinwag.integrations.parse import IncomingMessage
from chinwag.storage.engine import Write
from chinwag.storage.errors import ConditionFailed
from chinwag.storage.integration_store import IntegrationStore, OnError, Version

# Telegram keeps undelivered updates for 24 hours; two days covers any redelivery.
DEDUP_RETENTION_SECONDS = 2 * 24 * 3600

ItemState = Literal["pending", "done", "failed"]


class InboxItem(msgspec.Struct, kw_only=True):
    client_id: str
    message: IncomingMessage
    # Arrival order across the whole process (and across restarts): per-chat order on recovery.
    seq: int
    received_at: float
    state: ItemState = "pending"
    finished_at: float | None = None
    # Cluster mode: the node that answers it (the one that stored it, or one that took it over
    # from a dead node); "" on a single node.
    node: str = ""
    # Cluster mode: handed to `node` by a node that could not answer it because `node` holds
    # the chat's session; `node` picks it up at its next take-over pass.
    handed_over: bool = False


class Inbox:
    """Accept (store once), list pending, mark finished, purge old markers."""

    def __init__(self, store: IntegrationStore[InboxItem, Any], now: Callable[[], float]) -> None:
        self._store = store
        # The runtime's wall clock, so arrival times compare with stored message times.
        self._now = now
        # Cluster mode: this node's id, recorded on every item it stores.
        self.node_id = ""
        self._last_seq = 0
        # Keys whose first copy is being written: a concurrent duplicate waits for that write.
        self._writing: dict[bytes, trio.Event] = {}

    def _next_seq(self) -> int:
        self._last_seq = max(self._last_seq + 1, int(self._now() * 1e9))
        return self._last_seq

    async def accept(
        self, client_id: str, message: IncomingMessage
    ) -> tuple[bytes, InboxItem] | None:
        """Store `message` durably; None when it was already stored (a duplicate).

        Returns only after the commit, so the webhook may acknowledge right after. If two copies
        arrive together, the second waits for the first one's write and then reports duplicate.
        """
        key = self._store.inbox_key(client_id, message.channel, message.update_key)
        while (pending_write := self._writing.get(key)) is not None:
            await pending_write.wait()
        # Registered before the first await below (the store read may yield, e.g. on
        # PostgreSQL), so a concurrent copy always finds it and waits instead of racing us.
        done = self._writing[key] = trio.Event()
        try:
            if await self._store.ahas_item(key):
                return None
            item = InboxItem(
                client_id=client_id,
                message=message,
                seq=self._next_seq(),
                received_at=self._now(),
                node=self.node_id,
            )
            # Stored once: copies of one update reaching several nodes (cluster mode).
            await self._store.commit(self._store.put_item_once(key, item))
        except ConditionFailed:
            return None
        finally:
            del self._writing[key]
            done.set()
        return key, item

    def pending(self, on_error: OnError | None = None) -> list[tuple[bytes, InboxItem]]:
        """Every stored item not yet answered, oldest first (undecodable ones: `on_error`)."""
        return self._oldest_pending(list(self._store.items(on_error)))

    async def apending(self, on_error: OnError | None = None) -> list[tuple[bytes, InboxItem]]:
        """`pending`, read without blocking the Trio thread."""
        return self._oldest_pending(await self._store.aitems(on_error))

    def _oldest_pending(
        self, stored: list[tuple[bytes, InboxItem]]
    ) -> list[tuple[bytes, InboxItem]]:
        items = [(key, item) for key, item in stored if item.state == "pending"]
        items.sort(key=lambda pair: pair[1].seq)
        if items:
            self._last_seq = max(self._last_seq, items[-1][1].seq)
        return items

    async def take_over(
        self, key: bytes, version: Version, item: InboxItem, node_id: str
    ) -> InboxItem | None:
        """Claim a pending item of a dead node (or one handed to us) for `node_id` (None when
        another node won)."""
        claimed = msgspec.structs.replace(item, node=node_id, handed_over=False)
        try:
            await self._store.commit(self._store.replace_item(key, version, claimed))
        except ConditionFailed:
            return None
        return claimed

    async def hand_over(self, key: bytes, node_id: str) -> bool:
        """Give a pending item of this node to `node_id`, the live node holding its chat's
        session (only that node can answer it). False when it is no longer ours to give."""
        found = await self._store.aversioned_item(key)
        if found is None:
            return False
        version, item = found
        if item.state != "pending" or item.node != self.node_id:
            return False
        moved = msgspec.structs.replace(item, node=node_id, handed_over=True)
        try:
            await self._store.commit(self._store.replace_item(key, version, moved))
        except ConditionFailed:
            return False
        return True

    async def apending_versioned(
        self, on_error: OnError | None = None
    ) -> list[tuple[bytes, Version, InboxItem]]:
        """(key, version, item) of every pending item, oldest first (for `take_over`)."""
        stored = await self._store.aversioned_items(on_error)
        items = [entry for entry in stored if entry[2].state == "pending"]
        items.sort(key=lambda triple: triple[2].seq)
        return items

    def get(self, key: bytes) -> InboxItem | None:
        return self._store.item(key)

    async def aget(self, key: bytes) -> InboxItem | None:
        return await self._store.aitem(key)

    def finish_ops(
        self, items: Iterable[tuple[bytes, InboxItem]], state: ItemState = "done"
    ) -> list[Write]:
        """Writes that mark items answered; the text is dropped, the dedup marker stays."""
        now = self._now()
        ops: list[Write] = []
        for key, item in items:
            message = msgspec.structs.replace(item.message, text="")
            finished = msgspec.structs.replace(item, message=message, state=state, finished_at=now)
            ops.extend(self._store.put_item(key, finished))
        return ops

    async def purge(
        self, older_than: float = DEDUP_RETENTION_SECONDS, on_error: OnError | None = None
    ) -> int:
        """Delete finished markers older than `older_than` seconds; returns how many."""
        cutoff = self._now() - older_than
        stale = [
            key
            for key, item in await self._store.aitems(on_error)
            if item.state != "pending" and (item.finished_at or 0) < cutoff
        ]
        for start in range(0, len(stale), 1000):
            await self._store.commit(self._store.delete_items(stale[start : start + 1000]))
        return len(stale)
