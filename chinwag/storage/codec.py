"""Values are msgpack (via msgspec) wrapped as [schema version, record].

The version lets a later release migrate old records on read instead of rewriting the database.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

SCHEMA_VERSION = 1

T = TypeVar("T")

_encoder = msgspec.msgpack.Encoder()
_decoders: dict[type, msgspec.msgpack.Decoder] = {}


def encode(record: Any) -> bytes:
    return _encoder.encode((SCHEMA_VERSION, record))


def decode(raw: bytes, record_type: type[T]) -> T:
    decoder = _decoders.get(record_type)
    if decoder is None:
        decoder = _decoders[record_type] = msgspec.msgpack.Decoder(tuple[int, record_type])
    version, record = decoder.decode(raw)
    if version != SCHEMA_VERSION:
        raise ValueError(f"unsupported record schema version {version}")
    return record
