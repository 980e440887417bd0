"""The durable state of the chat-app integrations: the inbox and the outbox, beside `Repository`.

Like `Repository`, this is the only code that knows these tables' keys and bytes: the
integrations hand in and get back their own records (`Inbox`/`Outbox` items) and opaque keys.
Writes are built as lists of ops, so marking messages answered and closing their reply is one
atomic commit. The `a…` reads are the ones for the Trio thread (on PostgreSQL a read is a round
trip, made in a worker thread); the plain ones read synchronously (LMDB, tests, the CLI).

The values are plain msgpack of the record (no schema-version wrapper, unlike `codec`): the
format the integrations have always written, so inboxes left by an earlier release still read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, NewType, TypeVar

import msgspec

from chinwag.storage.engine import CompareAndSet, Delete, Put, PutIfAbsent, StorageEngine, Write
from chinwag.storage.keys import bounded_text

INBOX = "inbox"
OUTBOX = "outbox"

Item = TypeVar("Item", bound=msgspec.Struct)
Reply = TypeVar("Reply", bound=msgspec.Struct)
# Told about a stored record that does not decode (key, error); the scan goes on without it.
OnError = Callable[[bytes, Exception], None]
# A stored item's version as read (opaque to callers): `replace_item` writes only over it.
Version = NewType("Version", bytes)

_encoder = msgspec.msgpack.Encoder()


class IntegrationStore(Generic[Item, Reply]):
    """Inbox items and outbox replies by key; records in, records out."""

    def __init__(self, engine: StorageEngine, item: type[Item], reply: type[Reply]) -> None:
        self._engine = engine
        self._items = msgspec.msgpack.Decoder(item)
        self._replies = msgspec.msgpack.Decoder(reply)

    async def commit(self, ops: Iterable[Write]) -> None:
        """Durably and atomically apply ops (returns once synced)."""
        batch = list(ops)
        if batch:
            await self._engine.write(*batch)

    # ---------------------------------------------------------------- inbox

    @staticmethod
    def inbox_key(client_id: str, channel: str, update_key: str) -> bytes:
        """One key per platform update; a platform id too long for a key is stored hashed."""
        return bounded_text(f"{client_id}\x00{channel}\x00", update_key).encode()

    def has_item(self, key: bytes) -> bool:
        return self._engine.get(INBOX, key) is not None

    async def ahas_item(self, key: bytes) -> bool:
        return await self._engine.aget(INBOX, key) is not None

    def item(self, key: bytes) -> Item | None:
        raw = self._engine.get(INBOX, key)
        return None if raw is None else self._items.decode(raw)

    async def aitem(self, key: bytes) -> Item | None:
        raw = await self._engine.aget(INBOX, key)
        return None if raw is None else self._items.decode(raw)

    async def aitems(self, on_error: OnError | None = None) -> list[tuple[bytes, Item]]:
        """`items`, read without blocking the Trio thread."""
        return list(_decode_rows(await self._engine.ascan(INBOX), self._items, on_error))

    def items(self, on_error: OnError | None = None) -> Iterator[tuple[bytes, Item]]:
        """Every stored item; one that does not decode goes to `on_error` (or raises)."""
        return self._decoded(INBOX, self._items, on_error)

    def put_item(self, key: bytes, item: Item) -> list[Write]:
        return [Put(INBOX, key, _encoder.encode(item))]

    def put_item_once(self, key: bytes, item: Item) -> list[Write]:
        """Store `item` only if the key holds nothing (cluster mode: copies of one update
        reaching several nodes are stored once); the commit raises ConditionFailed otherwise."""
        return [PutIfAbsent(INBOX, key, _encoder.encode(item))]

    def versioned_items(
        self, on_error: OnError | None = None
    ) -> Iterator[tuple[bytes, Version, Item]]:
        """Every stored item with its version, for a conditional `replace_item`."""
        return _versioned(self._engine.scan(INBOX), self._items, on_error)

    async def aversioned_items(
        self, on_error: OnError | None = None
    ) -> list[tuple[bytes, Version, Item]]:
        """`versioned_items`, read without blocking the Trio thread."""
        return list(_versioned(await self._engine.ascan(INBOX), self._items, on_error))

    async def aversioned_item(self, key: bytes) -> tuple[Version, Item] | None:
        """One stored item with its version, for a conditional `replace_item`."""
        raw = await self._engine.aget(INBOX, key)
        return None if raw is None else (Version(raw), self._items.decode(raw))

    def replace_item(self, key: bytes, version: Version, item: Item) -> list[Write]:
        """Write `item` only if the key still holds `version` (else ConditionFailed)."""
        return [CompareAndSet(INBOX, key, version, _encoder.encode(item))]

    def delete_items(self, keys: Iterable[bytes]) -> list[Write]:
        return [Delete(INBOX, key) for key in keys]

    def count_items(self) -> int:
        return self._engine.count(INBOX)

    async def acount_items(self) -> int:
        return await self._engine.acount(INBOX)

    # ---------------------------------------------------------------- outbox

    def reply(self, key: bytes) -> Reply | None:
        raw = self._engine.get(OUTBOX, key)
        return None if raw is None else self._replies.decode(raw)

    async def areply(self, key: bytes) -> Reply | None:
        raw = await self._engine.aget(OUTBOX, key)
        return None if raw is None else self._replies.decode(raw)

    async def areplies(self, on_error: OnError | None = None) -> list[tuple[bytes, Reply]]:
        """`replies`, read without blocking the Trio thread."""
        return list(_decode_rows(await self._engine.ascan(OUTBOX), self._replies, on_error))

    def replies(self, on_error: OnError | None = None) -> Iterator[tuple[bytes, Reply]]:
        """Every stored reply; one that does not decode goes to `on_error` (or raises)."""
        return self._decoded(OUTBOX, self._replies, on_error)

    def put_reply(self, key: bytes, reply: Reply) -> list[Write]:
        return [Put(OUTBOX, key, _encoder.encode(reply))]

    def delete_replies(self, keys: Iterable[bytes]) -> list[Write]:
        return [Delete(OUTBOX, key) for key in keys]

    def count_replies(self) -> int:
        return self._engine.count(OUTBOX)

    async def acount_replies(self) -> int:
        return await self._engine.acount(OUTBOX)

    # ---------------------------------------------------------------- scans

    def _decoded(
        self, table: str, decoder: msgspec.msgpack.Decoder, on_error: OnError | None
    ) -> Iterator[tuple[bytes, Item]]:
        return _decode_rows(self._engine.scan(table), decoder, on_error)


def _decode_rows(
    rows: Iterable[tuple[bytes, bytes]], decoder: msgspec.msgpack.Decoder, on_error: OnError | None
) -> Iterator[tuple[bytes, Any]]:
    """(key, record) of each row; one that does not decode goes to `on_error` (or raises)."""
    for key, _version, record in _versioned(rows, decoder, on_error):
        yield key, record


def _versioned(
    rows: Iterable[tuple[bytes, bytes]], decoder: msgspec.msgpack.Decoder, on_error: OnError | None
) -> Iterator[tuple[bytes, Version, Any]]:
    """(key, version, record) of each row (the version: the stored bytes as read)."""
    for key, raw in rows:
        try:
            record = decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            if on_error is None:
                raise
            on_error(key, error)
            continue
        yield key, Version(raw), record
