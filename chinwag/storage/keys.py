"""Key layout: how records map to sorted byte keys, so every lookup is a get or one range scan.

Tables and keys (ids are UUIDv7, stored as their 16 bytes, which sort by creation time):
- meta            name                                   -> raw bytes (server secret, schema)
- api_keys        sha256(api key)                        -> ApiKeyRecord
- gateways        gateway id                             -> Gateway
- clients         client id                              -> ChatClient
- sessions        session id                             -> Session
- client_sessions client id + session id                 -> b"" (list a client's sessions)
- tags            client id + bounded(utf8(tag))         -> session id (latest session of a tag)
- channels        client id + channel + 0x00 + bounded(ext id) -> session id
- messages        session id + seq (u64 big-endian)      -> Message (a history is one scan)
- idempotency     session id + sha256(idempotency key)   -> user seq [+ answer seq] (u64 BE each)
- expiry          expiresAt ms (u64 BE) + session id     -> b"" (sweeper: what expires next)
- purge           purge-at ms (u64 BE) + session id      -> b"" (retention end of expired ones)
- feedback        session id + seq (u64 BE)              -> Feedback (on that assistant message)
- client_feedback client id + given-at ms (u64 BE) + session id + seq -> Feedback (newest-first
                  listing per client; a copy of the feedback row, removed with it)
- links           sha256(link code)                      -> ChannelLink ("continue on…" codes)
- session_links   session id + channel                   -> sha256 of its latest link code
- session_chats   session id + channel + 0x00 + ext id   -> [channel, ext id] (chats attached to it)
- inbox, outbox   owned by the integrations (their keys go through `bounded_text`)

Identifiers from outside (tags, chat ids, phones, message ids) have any length, and LMDB refuses
keys over 511 bytes. `bounded` keeps such a component as it is when the whole key fits (so every
key stored before this rule reads the same) and otherwise stores 0xFF + blake2b-256 of it: 0xFF
never occurs in UTF-8, so a hashed component can never equal a raw one.
"""

from __future__ import annotations

import hashlib
import struct

TABLES = (
    "meta",
    "api_keys",
    "gateways",
    "clients",
    "sessions",
    "client_sessions",
    "tags",
    "channels",
    "messages",
    "idempotency",
    "expiry",
    "purge",
    "feedback",
    "client_feedback",
    "links",
    "session_links",
    "session_chats",
    "inbox",
    "outbox",
    "nodes",
    "owners",
)

_U64 = struct.Struct(">Q")

# LMDB's compiled-in key limit (mdb_env_get_maxkeysize); no key this module builds exceeds it.
MAX_KEY_BYTES = 511
HASHED_MARK = b"\xff"
_TEXT_HASHED_MARK = "\x00#"


def _digest(component: bytes) -> bytes:
    return hashlib.blake2b(component, digest_size=32, person=b"chinwag-key-v1").digest()


def _utf8(text: str) -> bytes:
    """UTF-8, with lone surrogates (JSON allows "\\ud800") kept instead of raising."""
    return text.encode("utf-8", "surrogatepass")


def bounded(prefix: bytes, component: bytes) -> bytes:
    """`prefix + component`, with the component hashed when the key would pass MAX_KEY_BYTES."""
    if len(prefix) + len(component) <= MAX_KEY_BYTES:
        return prefix + component
    return prefix + HASHED_MARK + _digest(component)


def bounded_text(prefix: str, component: str) -> str:
    """`bounded` for keys kept as text (the inbox): the hash is hex after a NUL + '#' mark.

    A component that is not clean UTF-8 (lone surrogates) is hashed too, so the key always
    encodes and decodes without error.
    """
    try:
        size = len((prefix + component).encode())
    except UnicodeEncodeError:
        size = MAX_KEY_BYTES + 1
    if size <= MAX_KEY_BYTES:
        return prefix + component
    return prefix + _TEXT_HASHED_MARK + _digest(_utf8(component)).hex()


def id_bytes(record_id: str) -> bytes:
    """16 bytes of a canonical UUID string; raises ValueError for anything else.

    Hand-rolled because ids are parsed on every lookup and `uuid.UUID()` costs ~10x more.
    """
    if (
        len(record_id) != 36
        or record_id[8] != "-"
        or record_id[13] != "-"
        or record_id[18] != "-"
        or record_id[23] != "-"
    ):
        raise ValueError(f"not a UUID: {record_id!r}")
    raw = bytes.fromhex(record_id.replace("-", ""))
    if len(raw) != 16:
        raise ValueError(f"not a UUID: {record_id!r}")
    return raw


def id_str(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def message_key(session_id: str, seq: int) -> bytes:
    return id_bytes(session_id) + _U64.pack(seq)


def seq_of_message_key(key: bytes) -> int:
    return _U64.unpack(key[16:24])[0]


def idempotency_key(session_id: str, key: str) -> bytes:
    """A client-chosen key of any length or alphabet, hashed so it always fits a storage key."""
    return id_bytes(session_id) + hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def pack_seqs(*seqs: int) -> bytes:
    return b"".join(_U64.pack(seq) for seq in seqs)


def unpack_seqs(raw: bytes) -> tuple[int, ...]:
    return tuple(_U64.unpack_from(raw, offset)[0] for offset in range(0, len(raw) - 7, 8))


def tag_key(client_id: str, tag: str) -> bytes:
    return bounded(id_bytes(client_id), _utf8(tag))


def channel_key(client_id: str, channel: str, external_id: str) -> bytes:
    return bounded(id_bytes(client_id) + channel.encode() + b"\x00", _utf8(external_id))


def session_channel_key(session_id: str, channel: str) -> bytes:
    return id_bytes(session_id) + channel.encode()


def session_chat_key(session_id: str, channel: str, external_id: str) -> bytes:
    return bounded(id_bytes(session_id) + channel.encode() + b"\x00", _utf8(external_id))


def client_session_key(client_id: str, session_id: str) -> bytes:
    return id_bytes(client_id) + id_bytes(session_id)


def time_key(unix_seconds: float, session_id: str) -> bytes:
    """Sortable (time, session) key for the expiry and purge indexes."""
    return _U64.pack(max(0, int(unix_seconds * 1000))) + id_bytes(session_id)


def time_key_bound(unix_seconds: float) -> bytes:
    """Upper bound (exclusive) for scanning time keys due at or before `unix_seconds`."""
    return _U64.pack(max(0, int(unix_seconds * 1000)) + 1)


def time_of_time_key(key: bytes) -> float:
    return _U64.unpack(key[:8])[0] / 1000


def session_of_time_key(key: bytes) -> str:
    return id_str(key[8:24])


def feedback_key(session_id: str, seq: int) -> bytes:
    return message_key(session_id, seq)


def client_feedback_key(client_id: str, given_at: float, session_id: str, seq: int) -> bytes:
    """Sorts a client's feedback by time; reverse scans list it newest first."""
    return (
        id_bytes(client_id)
        + _U64.pack(max(0, int(given_at * 1000)))
        + id_bytes(session_id)
        + _U64.pack(seq)
    )
