"""The outbox: a reply is recorded before it is sent, and each sent part is ticked off.

After a crash, a recorded reply resumes at its first unsent part instead of asking the model
again, so the user never gets the same answer twice. The one window left is a crash between a
part reaching the platform and its tick being stored: that one part is sent again (chat APIs
have no idempotency key to close it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Literal

import msgspec

from chinwag.integrations.inbox import OnError
from chinwag.storage.engine import Put, StorageEngine, Write

TABLE = "outbox"

ReplyState = Literal["sending", "sent", "failed"]


class OutboxReply(msgspec.Struct, kw_only=True):
    client_id: str
    channel: str
    chat_id: str
    # Inbox keys (decoded) this reply answers; they are marked done with the last part.
    inbox_keys: list[str]
    parts: list[str]
    sent: int = 0
    # Where the reply goes inside the chat: the forum topic, and the message it quotes.
    thread_id: int | None = None
    reply_to: str | None = None
    state: ReplyState = "sending"
    created_at: float = 0.0
    finished_at: float | None = None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(OutboxReply)


class Outbox:
    def __init__(self, engine: StorageEngine) -> None:
        self._engine = engine

    @staticmethod
    def put_op(key: bytes, reply: OutboxReply) -> Write:
        return Put(TABLE, key, _encoder.encode(reply))

    async def record(self, key: bytes, reply: OutboxReply) -> None:
        """Store a reply before its first part is sent."""
        if not reply.created_at:
            reply.created_at = time.time()
        await self._engine.write(self.put_op(key, reply))

    def get(self, key: bytes) -> OutboxReply | None:
        raw = self._engine.get(TABLE, key)
        return None if raw is None else _decoder.decode(raw)

    def _decoded(self, on_error: OnError | None) -> Iterator[tuple[bytes, OutboxReply]]:
        """Every stored reply; one that does not decode goes to `on_error` (or raises)."""
        for key, raw in self._engine.scan(TABLE):
            try:
                reply = _decoder.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                if on_error is None:
                    raise
                on_error(key, error)
                continue
            yield key, reply

    def unfinished(self, on_error: OnError | None = None) -> list[tuple[bytes, OutboxReply]]:
        """Replies recorded but not completely sent (to resume after a restart)."""
        out = [(key, reply) for key, reply in self._decoded(on_error) if reply.state == "sending"]
        out.sort(key=lambda pair: pair[1].created_at)
        return out

    async def purge(self, older_than: float, on_error: OnError | None = None) -> int:
        cutoff = time.time() - older_than
        from chinwag.storage.engine import Delete

        stale = [
            Delete(TABLE, key)
            for key, reply in self._decoded(on_error)
            if reply.state != "sending" and (reply.finished_at or 0) < cutoff
        ]
        for start in range(0, len(stale), 1000):
            await self._engine.write(*stale[start : start + 1000])
        return len(stale)
