"""The outbox: a reply is recorded before it is sent, and each sent part is ticked off.

After a crash, a recorded reply resumes at its first unsent part instead of asking the model
again, so the user never gets the same answer twice. The one window left is a crash between a
part reaching the platform and its tick being stored: that one part is sent again (chat APIs
have no idempotency key to close it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from chinwag.integrations.inbox import InboxItem
from chinwag.storage.engine import Write
from chinwag.storage.integration_store import IntegrationStore, OnError

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


# The inbox and outbox tables, as storage keeps them (keys and bytes are storage's business).
Store = IntegrationStore[InboxItem, OutboxReply]


class Outbox:
    """Record replies before sending, tick parts off, list unfinished ones, purge old ones."""

    def __init__(self, store: Store, now: Callable[[], float]) -> None:
        self._store = store
        # The runtime's wall clock (it follows Trio's clock in tests).
        self.now = now

    def put_op(self, key: bytes, reply: OutboxReply) -> list[Write]:
        return self._store.put_reply(key, reply)

    async def record(self, key: bytes, reply: OutboxReply) -> None:
        """Store a reply before its first part is sent."""
        if not reply.created_at:
            reply.created_at = self.now()
        await self._store.commit(self.put_op(key, reply))

    def get(self, key: bytes) -> OutboxReply | None:
        return self._store.reply(key)

    async def aget(self, key: bytes) -> OutboxReply | None:
        return await self._store.areply(key)

    async def aunfinished(self, on_error: OnError | None = None) -> list[tuple[bytes, OutboxReply]]:
        """Replies recorded but not completely sent (to resume after a restart)."""
        stored = await self._store.areplies(on_error)
        out = [(key, reply) for key, reply in stored if reply.state == "sending"]
        out.sort(key=lambda pair: pair[1].created_at)
        return out

    async def purge(self, older_than: float, on_error: OnError | None = None) -> int:
        cutoff = self.now() - older_than
        stale = [
            key
            for key, reply in await self._store.areplies(on_error)
            if reply.state != "sending" and (reply.finished_at or 0) < cutoff
        ]
        for start in range(0, len(stale), 1000):
            await self._store.commit(self._store.delete_replies(stale[start : start + 1000]))
        return len(stale)
