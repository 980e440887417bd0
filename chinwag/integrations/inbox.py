"""The durable inbox: every accepted chat-app update, stored before the webhook is answered.

Keyed by (client, channel, platform id), so a repeated delivery of the same Telegram update_id
or Z-API messageId finds its earlier copy and is acknowledged without being processed again.
Items stay `pending` until their reply is delivered; a restart re-dispatches what is still
pending. Done items are kept (without their text) long enough to recognise late duplicates,
then purged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

import msgspec
import trio

from chinwag.integrations.parse import IncomingMessage
from chinwag.storage.engine import (
    CompareAndSet,
    Delete,
    Put,
    PutIfAbsent,
    StorageEngine,
    Write,
)
from chinwag.storage.errors import ConditionFailed
from chinwag.storage.keys import bounded_text

TABLE = "inbox"
# Telegram keeps undelivered updates for 24 hours; two days covers any redelivery.
DEDUP_RETENTION_SECONDS = 2 * 24 * 3600

ItemState = Literal["pending", "done", "failed"]
# Told about a stored record that does not decode (key, error); the scan goes on without it.
OnError = Callable[[bytes, Exception], None]


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


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(InboxItem)


def inbox_key(client_id: str, channel: str, update_key: str) -> bytes:
    # A platform id too long for an LMDB key is stored hashed (storage.keys.bounded_text).
    return bounded_text(f"{client_id}\x00{channel}\x00", update_key).encode()


def encode_item(item: InboxItem) -> bytes:
    return _encoder.encode(item)


def decode_item(raw: bytes) -> InboxItem:
    return _decoder.decode(raw)


class Inbox:
    """Accept (store once), list pending, mark finished, purge old markers."""

    def __init__(self, engine: StorageEngine, now: Callable[[], float] = time.time) -> None:
        self._engine = engine
        # The runtime's wall clock, so arrival times compare with stored message times.
        self._now = now
        # Cluster mode: this node's id, recorded on every item it stores.
        self.node_id = ""
        self._last_seq = 0
        # Keys whose first copy is being written: a concurrent duplicate waits for that write.
        self._writing: dict[bytes, trio.Event] = {}

    def _next_seq(self) -> int:
        self._last_seq = max(self._last_seq + 1, time.time_ns())
        return self._last_seq

    async def accept(
        self, client_id: str, message: IncomingMessage
    ) -> tuple[bytes, InboxItem] | None:
        """Store `message` durably; None when it was already stored (a duplicate).

        Returns only after the commit, so the webhook may acknowledge right after. If two copies
        arrive together, the second waits for the first one's write and then reports duplicate.
        """
        key = inbox_key(client_id, message.channel, message.update_key)
        while True:
            pending_write = self._writing.get(key)
            if pending_write is not None:
                await pending_write.wait()
                continue
            if self._engine.get(TABLE, key) is not None:
                return None
            item = InboxItem(
                client_id=client_id,
                message=message,
                seq=self._next_seq(),
                received_at=self._now(),
                node=self.node_id,
            )
            done = self._writing[key] = trio.Event()
            try:
                # PutIfAbsent: copies of one update reaching several nodes are stored once.
                await self._engine.write(PutIfAbsent(TABLE, key, encode_item(item)))
            except ConditionFailed:
                return None
            finally:
                del self._writing[key]
                done.set()
            return key, item

    def _decoded(self, on_error: OnError | None) -> Iterator[tuple[bytes, InboxItem]]:
        """Every stored item; one that does not decode goes to `on_error` (or raises)."""
        for key, raw in self._engine.scan(TABLE):
            try:
                item = decode_item(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                if on_error is None:
                    raise
                on_error(key, error)
                continue
            yield key, item

    def pending(self, on_error: OnError | None = None) -> list[tuple[bytes, InboxItem]]:
        """Every stored item not yet answered, oldest first (undecodable ones: `on_error`)."""
        items = [(key, item) for key, item in self._decoded(on_error) if item.state == "pending"]
        items.sort(key=lambda pair: pair[1].seq)
        if items:
            self._last_seq = max(self._last_seq, items[-1][1].seq)
        return items

    async def take_over(self, key: bytes, raw: bytes, node_id: str) -> InboxItem | None:
        """Claim a pending item of a dead node for `node_id` (None when another node won)."""
        item = msgspec.structs.replace(decode_item(raw), node=node_id)
        try:
            await self._engine.write(CompareAndSet(TABLE, key, raw, encode_item(item)))
        except ConditionFailed:
            return None
        return item

    def pending_raw(self) -> list[tuple[bytes, bytes, InboxItem]]:
        """(key, stored bytes, item) of every pending item, oldest first."""
        items = [
            (key, raw, item)
            for key, raw in self._engine.scan(TABLE)
            if (item := decode_item(raw)).state == "pending"
        ]
        items.sort(key=lambda triple: triple[2].seq)
        return items

    def get(self, key: bytes) -> InboxItem | None:
        raw = self._engine.get(TABLE, key)
        return None if raw is None else decode_item(raw)

    def finish_ops(
        self, items: Iterable[tuple[bytes, InboxItem]], state: ItemState = "done"
    ) -> list[Write]:
        """Writes that mark items answered; the text is dropped, the dedup marker stays."""
        now = time.time()
        ops: list[Write] = []
        for key, item in items:
            message = msgspec.structs.replace(item.message, text="")
            finished = msgspec.structs.replace(item, message=message, state=state, finished_at=now)
            ops.append(Put(TABLE, key, encode_item(finished)))
        return ops

    async def purge(
        self, older_than: float = DEDUP_RETENTION_SECONDS, on_error: OnError | None = None
    ) -> int:
        """Delete finished markers older than `older_than` seconds; returns how many."""
        cutoff = time.time() - older_than
        stale = [
            Delete(TABLE, key)
            for key, item in self._decoded(on_error)
            if item.state != "pending" and (item.finished_at or 0) < cutoff
        ]
        for start in range(0, len(stale), 1000):
            await self._engine.write(*stale[start : start + 1000])
        return len(stale)
