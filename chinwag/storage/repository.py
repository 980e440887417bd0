"""Records in, records out: the only code that knows the key layout.

The `a…` reads are async (StorageEngine's aget/ascan: a network round trip on PostgreSQL in a
worker thread, inline on LMDB with no checkpoint); everything that runs on the Trio thread in a
request or a turn uses them. The plain reads are synchronous (LocalStorageEngine: memory-mapped
lookups on LMDB, a blocking round trip on PostgreSQL) for the CLI, tests and the callers not yet
moved (see README "Run a cluster"). Writes are built
as lists of ops so a caller can commit several record changes atomically in one durable `commit`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Iterator, Sequence

from msgspec import Struct

from chinwag.records import ChatClient, Feedback, Gateway, Message, Session
from chinwag.storage import keys
from chinwag.storage.codec import decode, encode
from chinwag.storage.engine import (
    Check,
    CompareAndSet,
    Delete,
    DeletePrefix,
    LocalStorageEngine,
    Put,
    PutIfAbsent,
    Write,
)

MAX_SEQ = (1 << 64) - 1
SETUP_MARKER = b"first_start"


class ApiKeyRecord(Struct, kw_only=True):
    id: str
    name: str
    created_at: float


class SetupMarker(Struct, kw_only=True):
    """Who runs the first-start setup of a store (bootstrap), and whether it finished."""

    holder: str  # the cluster node id, or the process id of a single-process runtime
    done: bool = False
    at: float = 0.0


class MessageHead(Struct):
    """The few fields of a stored message needed to find it by id (decoding skips the rest)."""

    id: str
    seq: int
    role: str


class ChannelLink(Struct, kw_only=True):
    """A "continue on Telegram/WhatsApp" code: single use, short-lived, for one web session."""

    client_id: str
    session_id: str
    channel: str
    expires_at: float
    # The chat that used it (its external id), so a redelivered code is recognised as done.
    used_by: str | None = None


class Repository:
    def __init__(self, engine: LocalStorageEngine) -> None:
        self.engine = engine

    async def commit(self, ops: Iterable[Write]) -> None:
        """Durably and atomically apply ops (returns once synced)."""
        batch = list(ops)
        if batch:
            await self.engine.write(*batch)

    # ---------------------------------------------------------------- meta

    def meta(self, name: str) -> bytes | None:
        return self.engine.get("meta", name.encode())

    def put_meta_once(self, name: str, value: bytes) -> list[Write]:
        """Store `value` only if `name` has none yet (ConditionFailed otherwise)."""
        return [PutIfAbsent("meta", name.encode(), value)]

    async def asetup_marker(self) -> tuple[bytes, SetupMarker] | None:
        """The first-start marker as stored (its bytes condition the next claim), or None."""
        raw = await self.engine.aget("meta", SETUP_MARKER)
        return None if raw is None else (raw, decode(raw, SetupMarker))

    def claim_setup(self, seen: bytes | None, marker: SetupMarker) -> tuple[bytes, list[Write]]:
        """Replace the first-start marker only if it still holds `seen` (None: absent), so of
        processes starting together exactly one wins (the others get ConditionFailed).
        Returns the new marker's bytes (what a later `claim_setup` is conditional on)."""
        raw = encode(marker)
        return raw, [CompareAndSet("meta", SETUP_MARKER, seen, raw)]

    # ---------------------------------------------------------------- API keys

    def api_key(self, digest: bytes) -> ApiKeyRecord | None:
        raw = self.engine.get("api_keys", digest)
        return decode(raw, ApiKeyRecord) if raw is not None else None

    async def aapi_key(self, digest: bytes) -> ApiKeyRecord | None:
        raw = await self.engine.aget("api_keys", digest)
        return decode(raw, ApiKeyRecord) if raw is not None else None

    def api_keys(self) -> list[tuple[bytes, ApiKeyRecord]]:
        return [(k, decode(v, ApiKeyRecord)) for k, v in self.engine.scan("api_keys")]

    def put_api_key(self, digest: bytes, record: ApiKeyRecord) -> list[Write]:
        return [Put("api_keys", digest, encode(record))]

    def delete_api_key(self, digest: bytes) -> list[Write]:
        return [Delete("api_keys", digest)]

    # ---------------------------------------------------------------- gateways and clients

    def gateway(self, gateway_id: str) -> Gateway | None:
        raw = self.engine.get("gateways", keys.id_bytes(gateway_id))
        return decode(raw, Gateway) if raw is not None else None

    async def agateway(self, gateway_id: str) -> Gateway | None:
        raw = await self.engine.aget("gateways", keys.id_bytes(gateway_id))
        return decode(raw, Gateway) if raw is not None else None

    def gateways(self) -> list[Gateway]:
        return [decode(v, Gateway) for _, v in self.engine.scan("gateways")]

    def put_gateway(self, gateway: Gateway) -> list[Write]:
        return [Put("gateways", keys.id_bytes(gateway.id), encode(gateway))]

    def delete_gateway(self, gateway_id: str) -> list[Write]:
        return [Delete("gateways", keys.id_bytes(gateway_id))]

    # A gateway's reference version (meta `gateway_refs/<id>`) changes in every batch that
    # points a chat client at the gateway. Deleting the gateway checks the version it read
    # before looking for clients, so a client stored in between fails the delete's batch, and
    # the client's batch checks the gateway record, so it fails once the gateway is gone.

    def gateway_reference(self, gateway_id: str) -> list[Write] | None:
        """Conditions + write for a batch that points a client at `gateway_id`: the gateway
        still holds the bytes read now, and its reference version moves on. None when the
        gateway does not exist."""
        raw = self.engine.get("gateways", keys.id_bytes(gateway_id))
        if raw is None:
            return None
        ref_key = self._gateway_ref_key(gateway_id)
        version = self.engine.get("meta", ref_key)
        following = ((int.from_bytes(version, "big") if version else 0) + 1).to_bytes(8, "big")
        return [
            Check("gateways", keys.id_bytes(gateway_id), raw),
            CompareAndSet("meta", ref_key, version, following),
        ]

    def gateway_delete_guard(self, gateway_id: str) -> list[Write]:
        """Read *before* listing the gateway's clients: conditions that fail the delete's batch
        when a client was pointed at the gateway meanwhile (plus the version's removal)."""
        ref_key = self._gateway_ref_key(gateway_id)
        version = self.engine.get("meta", ref_key)
        return [Check("meta", ref_key, version), Delete("meta", ref_key)]

    @staticmethod
    def _gateway_ref_key(gateway_id: str) -> bytes:
        return b"gateway_refs/" + keys.id_bytes(gateway_id)

    def client(self, client_id: str) -> ChatClient | None:
        raw = self.engine.get("clients", keys.id_bytes(client_id))
        return decode(raw, ChatClient) if raw is not None else None

    async def aclient(self, client_id: str) -> ChatClient | None:
        raw = await self.engine.aget("clients", keys.id_bytes(client_id))
        return decode(raw, ChatClient) if raw is not None else None

    def clients(self) -> list[ChatClient]:
        return [decode(v, ChatClient) for _, v in self.engine.scan("clients")]

    async def aclients(self) -> list[ChatClient]:
        return [decode(v, ChatClient) for _, v in await self.engine.ascan("clients")]

    def put_client(self, client: ChatClient) -> list[Write]:
        return [Put("clients", keys.id_bytes(client.id), encode(client))]

    def delete_client(self, client_id: str) -> list[Write]:
        return [Delete("clients", keys.id_bytes(client_id))]

    # ---------------------------------------------------------------- sessions

    def session(self, session_id: str) -> Session | None:
        raw = self.engine.get("sessions", keys.id_bytes(session_id))
        return decode(raw, Session) if raw is not None else None

    async def asession(self, session_id: str) -> Session | None:
        raw = await self.engine.aget("sessions", keys.id_bytes(session_id))
        return decode(raw, Session) if raw is not None else None

    def client_session_ids(
        self, client_id: str, *, after: str | None = None, limit: int | None = None
    ) -> list[str]:
        """A client's session ids, oldest first (UUIDv7 order), starting after `after`."""
        prefix = keys.id_bytes(client_id)
        start = keys.client_session_key(client_id, after) + b"\x00" if after else None
        rows = self.engine.scan("client_sessions", prefix=prefix, start=start, limit=limit)
        return [keys.id_str(k[16:32]) for k, _ in rows]

    def count_sessions(self) -> int:
        return self.engine.count("sessions")

    def session_id_by_tag(self, client_id: str, tag: str) -> str | None:
        raw = self.engine.get("tags", keys.tag_key(client_id, tag))
        return keys.id_str(raw) if raw is not None else None

    async def asession_id_by_tag(self, client_id: str, tag: str) -> str | None:
        raw = await self.engine.aget("tags", keys.tag_key(client_id, tag))
        return keys.id_str(raw) if raw is not None else None

    async def asession_id_by_channel(
        self, client_id: str, channel: str, external_id: str
    ) -> str | None:
        raw = await self.engine.aget("channels", keys.channel_key(client_id, channel, external_id))
        return keys.id_str(raw) if raw is not None else None

    def session_id_by_channel(self, client_id: str, channel: str, external_id: str) -> str | None:
        raw = self.engine.get("channels", keys.channel_key(client_id, channel, external_id))
        return keys.id_str(raw) if raw is not None else None

    def put_session(self, session: Session, *, previous: Session | None = None) -> list[Write]:
        """Write a session and keep its expiry index entry in step with `expires_at`."""
        sid = keys.id_bytes(session.id)
        ops: list[Write] = [Put("sessions", sid, encode(session))]
        if previous is None:
            ops.append(
                Put("client_sessions", keys.client_session_key(session.client_id, session.id), b"")
            )
            if session.tag is not None:
                ops.append(Put("tags", keys.tag_key(session.client_id, session.tag), sid))
            if session.external_id is not None:
                key = keys.channel_key(session.client_id, session.channel, session.external_id)
                ops.append(Put("channels", key, sid))
        if previous is None or previous.expires_at != session.expires_at:
            if previous is not None:
                ops.append(Delete("expiry", keys.time_key(previous.expires_at, session.id)))
            ops.append(Put("expiry", keys.time_key(session.expires_at, session.id), b""))
        return ops

    def index_guard(self, session: Session, was: str | None) -> Write:
        """Condition: the session's tag (or channel) entry still holds `was` (None: absent)."""
        if session.tag is not None:
            key = keys.tag_key(session.client_id, session.tag)
            table = "tags"
        else:
            assert session.external_id is not None
            key = keys.channel_key(session.client_id, session.channel, session.external_id)
            table = "channels"
        return Check(table, key, keys.id_bytes(was) if was is not None else None)

    async def delete_session(self, session: Session) -> list[Write]:
        """Everything of a session: record, history, and the index entries that point to it.

        Async: finding the index entries and feedback to delete takes reads."""
        sid = keys.id_bytes(session.id)
        ops: list[Write] = [
            Delete("sessions", sid),
            Delete("client_sessions", keys.client_session_key(session.client_id, session.id)),
            Delete("expiry", keys.time_key(session.expires_at, session.id)),
            DeletePrefix("messages", sid),
            *await self._delete_session_feedback(session.id),
            DeletePrefix("idempotency", sid),
            Delete("owners", sid),  # cluster mode's owner row (storage/ownership.py)
        ]
        if (
            session.tag is not None
            and await self.asession_id_by_tag(session.client_id, session.tag) == session.id
        ):
            ops.append(Delete("tags", keys.tag_key(session.client_id, session.tag)))
        if session.external_id is not None:
            key = keys.channel_key(session.client_id, session.channel, session.external_id)
            if await self.engine.aget("channels", key) == sid:
                ops.append(Delete("channels", key))
        for channel, external_id in await self.achats_of_session(session.id):
            key = keys.channel_key(session.client_id, channel, external_id)
            if await self.engine.aget("channels", key) == sid:
                ops.append(Delete("channels", key))
        ops.append(DeletePrefix("session_chats", sid))
        for _, digest in await self.engine.ascan("session_links", prefix=sid):
            ops.append(Delete("links", digest))
        ops.append(DeletePrefix("session_links", sid))
        return ops

    # ---------------------------------------------------------------- chat links

    def channel_link(self, digest: bytes) -> ChannelLink | None:
        found = self.channel_link_version(digest)
        return found[0] if found is not None else None

    def channel_link_version(self, digest: bytes) -> tuple[ChannelLink, bytes] | None:
        """The code's record and the stored bytes it was read from (for `use_channel_link`)."""
        raw = self.engine.get("links", digest)
        return (decode(raw, ChannelLink), raw) if raw is not None else None

    async def achannel_link_version(self, digest: bytes) -> tuple[ChannelLink, bytes] | None:
        raw = await self.engine.aget("links", digest)
        return (decode(raw, ChannelLink), raw) if raw is not None else None

    def put_channel_link(self, digest: bytes, link: ChannelLink) -> list[Write]:
        """Store a code; the session's previous code for the same channel stops working."""
        index = keys.session_channel_key(link.session_id, link.channel)
        ops: list[Write] = []
        previous = self.engine.get("session_links", index)
        if previous is not None and previous != digest:
            ops.append(Delete("links", previous))
        ops.append(Put("links", digest, encode(link)))
        ops.append(Put("session_links", index, digest))
        return ops

    def use_channel_link(self, digest: bytes, version: bytes, used: ChannelLink) -> list[Write]:
        """Mark a code used, only if it still holds the bytes `version` that were read (not used
        meanwhile, on any node): otherwise the batch fails with ConditionFailed, writing nothing."""
        return [CompareAndSet("links", digest, version, encode(used))]

    def attach_chat(
        self, client_id: str, channel: str, external_id: str, session_id: str
    ) -> list[Write]:
        """Point a chat at `session_id` (its messages go to that session from now on)."""
        return [
            Put(
                "channels",
                keys.channel_key(client_id, channel, external_id),
                keys.id_bytes(session_id),
            ),
            Put(
                "session_chats",
                keys.session_chat_key(session_id, channel, external_id),
                encode([channel, external_id]),  # the value, not the key, names the chat
            ),
        ]

    def chats_of_session(self, session_id: str) -> list[tuple[str, str]]:
        """(channel, external id) of the chats attached to a session with a link code."""
        rows = self.engine.scan("session_chats", prefix=keys.id_bytes(session_id), limit=1000)
        return _chats(rows)

    async def achats_of_session(self, session_id: str) -> list[tuple[str, str]]:
        rows = await self.engine.ascan(
            "session_chats", prefix=keys.id_bytes(session_id), limit=1000
        )
        return _chats(rows)

    # ---------------------------------------------------------------- messages

    def messages(
        self, session_id: str, *, limit: int | None = None, newest_first: bool = False
    ) -> list[Message]:
        """A whole history (or its first/last `limit`); serving paths use the paged reads."""
        rows = self.engine.scan(
            "messages", prefix=keys.id_bytes(session_id), reverse=newest_first, limit=limit
        )
        return [decode(v, Message) for _, v in rows]

    def message(self, session_id: str, seq: int) -> Message | None:
        raw = self.engine.get("messages", keys.message_key(session_id, seq))
        return decode(raw, Message) if raw is not None else None

    async def amessage(self, session_id: str, seq: int) -> Message | None:
        raw = await self.engine.aget("messages", keys.message_key(session_id, seq))
        return decode(raw, Message) if raw is not None else None

    def messages_page(
        self, session_id: str, *, limit: int, before: int | None = None
    ) -> list[Message]:
        """At most `limit` messages just before seq `before` (the newest when None), oldest first.

        One reverse range read: its cost depends on `limit`, not on the history's length.
        """
        end = keys.message_key(session_id, min(before, MAX_SEQ)) if before is not None else None
        rows = self.engine.scan(
            "messages", prefix=keys.id_bytes(session_id), end=end, reverse=True, limit=limit
        )
        return [decode(v, Message) for _, v in reversed(rows)]

    async def amessages_page(
        self, session_id: str, *, limit: int, before: int | None = None
    ) -> list[Message]:
        """`messages_page` without blocking the Trio thread (one round trip on PostgreSQL)."""
        end = keys.message_key(session_id, min(before, MAX_SEQ)) if before is not None else None
        rows = await self.engine.ascan(
            "messages", prefix=keys.id_bytes(session_id), end=end, reverse=True, limit=limit
        )
        return [decode(v, Message) for _, v in reversed(rows)]

    def messages_after(self, session_id: str, after: int | None, *, limit: int) -> list[Message]:
        """At most `limit` messages after seq `after` (from the first when None), oldest first."""
        start = keys.message_key(session_id, after + 1) if after is not None else None
        rows = self.engine.scan(
            "messages", prefix=keys.id_bytes(session_id), start=start, limit=limit
        )
        return [decode(v, Message) for _, v in rows]

    def messages_backward(
        self, session_id: str, *, up_to: int | None = None, batch: int = 32
    ) -> Iterator[Message]:
        """Newest first from seq `up_to` (inclusive; the newest when None), read in small
        batches so a caller that stops early (a context budget is full) reads no more."""
        prefix = keys.id_bytes(session_id)
        end = keys.message_key(session_id, up_to + 1) if up_to is not None else None
        while True:
            rows = self.engine.scan("messages", prefix=prefix, end=end, reverse=True, limit=batch)
            for _, value in rows:
                yield decode(value, Message)
            if len(rows) < batch:
                return
            end = rows[-1][0]
            batch = min(batch * 2, 512)

    async def amessages_backward(
        self, session_id: str, *, up_to: int | None = None, batch: int = 32
    ) -> AsyncGenerator[Iterator[Message], None]:
        """`messages_backward` as async batches (newest first): one read per batch, and a
        caller that stops early reads no more. Each batch decodes its messages as they are
        taken (a turn often needs two of the first 32)."""
        prefix = keys.id_bytes(session_id)
        end = keys.message_key(session_id, up_to + 1) if up_to is not None else None
        while True:
            rows = await self.engine.ascan(
                "messages", prefix=prefix, end=end, reverse=True, limit=batch
            )
            if rows:
                yield (decode(value, Message) for _, value in rows)
            if len(rows) < batch:
                return
            end = rows[-1][0]
            batch = min(batch * 2, 512)

    async def anewest_message(self, session_id: str) -> Message | None:
        rows = await self.engine.ascan(
            "messages", prefix=keys.id_bytes(session_id), reverse=True, limit=1
        )
        return decode(rows[0][1], Message) if rows else None

    def put_messages(self, session_id: str, messages: Sequence[Message]) -> list[Write]:
        return self.put_messages_sized(session_id, messages)[0]

    def put_messages_sized(
        self, session_id: str, messages: Sequence[Message]
    ) -> tuple[list[Write], int]:
        """The writes of `messages` and the bytes they take once stored (history size bound)."""
        ops: list[Write] = []
        size = 0
        for m in messages:
            value = encode(m)
            size += len(value)
            ops.append(Put("messages", keys.message_key(session_id, m.seq), value))
        return ops, size

    async def clear_messages(self, session_id: str) -> list[Write]:
        """Async: the feedback to delete is found by a read."""
        sid = keys.id_bytes(session_id)
        return [
            DeletePrefix("messages", sid),
            DeletePrefix("idempotency", sid),
            *await self._delete_session_feedback(session_id),
        ]

    # ---------------------------------------------------------------- idempotency index

    def idempotency_entry(self, session_id: str, key: str) -> tuple[int, int | None] | None:
        """(seq of the user message sent with `key`, seq of its answer or None), if stored."""
        raw = self.engine.get("idempotency", keys.idempotency_key(session_id, key))
        if raw is None:
            return None
        seqs = keys.unpack_seqs(raw)
        return seqs[0], (seqs[1] if len(seqs) > 1 else None)

    async def aidempotency_entry(self, session_id: str, key: str) -> tuple[int, int | None] | None:
        raw = await self.engine.aget("idempotency", keys.idempotency_key(session_id, key))
        if raw is None:
            return None
        seqs = keys.unpack_seqs(raw)
        return seqs[0], (seqs[1] if len(seqs) > 1 else None)

    def put_idempotency(
        self, session_id: str, key: str, user_seq: int, answer_seq: int | None = None
    ) -> list[Write]:
        seqs = (user_seq,) if answer_seq is None else (user_seq, answer_seq)
        return [Put("idempotency", keys.idempotency_key(session_id, key), keys.pack_seqs(*seqs))]

    # ---------------------------------------------------------------- expiry and purge indexes

    def next_due(self, table: str) -> float | None:
        rows = self.engine.scan(table, limit=1)
        return keys.time_of_time_key(rows[0][0]) if rows else None

    async def adue(self, table: str, now: float, limit: int) -> list[tuple[float, str]]:
        """(time, session id) entries of `expiry` or `purge` due at or before `now`."""
        rows = await self.engine.ascan(table, end=keys.time_key_bound(now), limit=limit)
        return [(keys.time_of_time_key(k), keys.session_of_time_key(k)) for k, _ in rows]

    async def anext_due(self, table: str) -> float | None:
        rows = await self.engine.ascan(table, limit=1)
        return keys.time_of_time_key(rows[0][0]) if rows else None

    def move_to_purge(self, expired_at: float, session_id: str, purge_at: float) -> list[Write]:
        return [
            Delete("expiry", keys.time_key(expired_at, session_id)),
            Put("purge", keys.time_key(purge_at, session_id), b""),
        ]

    def drop_purge_entry(self, purge_at: float, session_id: str) -> list[Write]:
        return [Delete("purge", keys.time_key(purge_at, session_id))]

    # ---------------------------------------------------------------- feedback (page-b)

    def message_head(
        self, session_id: str, message_id: str, *, batch: int = 256
    ) -> MessageHead | None:
        """Find a stored message by id, newest first (feedback is mostly on recent replies)."""
        prefix = keys.id_bytes(session_id)
        end: bytes | None = None
        while True:
            rows = self.engine.scan("messages", prefix=prefix, end=end, reverse=True, limit=batch)
            for _key, raw in rows:
                head = decode(raw, MessageHead)
                if head.id == message_id:
                    return head
            if len(rows) < batch:
                return None
            end = rows[-1][0]

    async def amessage_head(
        self, session_id: str, message_id: str, *, batch: int = 256
    ) -> MessageHead | None:
        """`message_head` without blocking the Trio thread (a round trip per batch on PG)."""
        prefix = keys.id_bytes(session_id)
        end: bytes | None = None
        while True:
            rows = await self.engine.ascan(
                "messages", prefix=prefix, end=end, reverse=True, limit=batch
            )
            for _key, raw in rows:
                head = decode(raw, MessageHead)
                if head.id == message_id:
                    return head
            if len(rows) < batch:
                return None
            end = rows[-1][0]

    def feedback(self, session_id: str, seq: int) -> Feedback | None:
        raw = self.engine.get("feedback", keys.feedback_key(session_id, seq))
        return decode(raw, Feedback) if raw is not None else None

    async def afeedback(self, session_id: str, seq: int) -> Feedback | None:
        raw = await self.engine.aget("feedback", keys.feedback_key(session_id, seq))
        return decode(raw, Feedback) if raw is not None else None

    def feedback_between(self, session_id: str, first_seq: int, last_seq: int) -> list[Feedback]:
        """The feedback on messages first_seq..last_seq (one page of messages: one range read)."""
        rows = self.engine.scan(
            "feedback",
            prefix=keys.id_bytes(session_id),
            start=keys.feedback_key(session_id, first_seq),
            end=keys.feedback_key(session_id, last_seq + 1),
        )
        return [decode(v, Feedback) for _, v in rows]

    async def afeedback_between(
        self, session_id: str, first_seq: int, last_seq: int
    ) -> list[Feedback]:
        rows = await self.engine.ascan(
            "feedback",
            prefix=keys.id_bytes(session_id),
            start=keys.feedback_key(session_id, first_seq),
            end=keys.feedback_key(session_id, last_seq + 1),
        )
        return [decode(v, Feedback) for _, v in rows]

    def session_feedback(self, session_id: str) -> list[Feedback]:
        """All feedback of a session's conversation, in message order."""
        rows = self.engine.scan("feedback", prefix=keys.id_bytes(session_id))
        return [decode(v, Feedback) for _, v in rows]

    def put_feedback(self, record: Feedback) -> list[Write]:
        value = encode(record)
        return [
            Put("feedback", keys.feedback_key(record.session_id, record.seq), value),
            Put("client_feedback", self._client_feedback_key(record), value),
        ]

    def delete_feedback(self, record: Feedback) -> list[Write]:
        return [
            Delete("feedback", keys.feedback_key(record.session_id, record.seq)),
            Delete("client_feedback", self._client_feedback_key(record)),
        ]

    def client_feedback(
        self, client_id: str, *, before: bytes | None = None, limit: int
    ) -> list[tuple[bytes, Feedback]]:
        """A client's feedback newest first, strictly older than the `before` cursor."""
        prefix = keys.id_bytes(client_id)
        end = prefix + before if before is not None else None
        rows = self.engine.scan(
            "client_feedback", prefix=prefix, end=end, reverse=True, limit=limit
        )
        return [(k[len(prefix) :], decode(v, Feedback)) for k, v in rows]

    @staticmethod
    def _client_feedback_key(record: Feedback) -> bytes:
        return keys.client_feedback_key(
            record.client_id, record.created_at, record.session_id, record.seq
        )

    async def _delete_session_feedback(self, session_id: str) -> list[Write]:
        ops: list[Write] = [DeletePrefix("feedback", keys.id_bytes(session_id))]
        rows = await self.engine.ascan("feedback", prefix=keys.id_bytes(session_id))
        ops += [
            Delete("client_feedback", self._client_feedback_key(decode(value, Feedback)))
            for _, value in rows
        ]
        return ops


def _chats(rows: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    chats = [decode(value, tuple[str, str]) for _, value in rows]
    return [(channel, external_id) for channel, external_id in chats]
