"""The write operations the engine understands: plain data, so they cross threads freely.

Kept apart from engine.py so the writer thread's code can use them without importing the engine;
engine.py re-exports them as the public names.

Conditional ops (`Check`, `PutIfAbsent`, `CompareAndSet`) let the store itself decide races such as
"who owns this session" or "was this webhook update already stored". The rule both engines follow:
every condition of one `write()` call is checked against the state before that call's writes, and
if any fails the call writes nothing and raises `ConditionFailed` naming the condition; the other
calls sharing its transaction (group commit) are not affected.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# The longest key both engines accept (LMDB's compiled-in limit); PostgreSQL enforces the same so
# that data moves between them and a key valid on one engine is valid on the other.
MAX_KEY_BYTES = 511


@dataclass(frozen=True, slots=True)
class Put:
    """Set `key` to `value` in `table`, replacing any previous value."""

    table: str
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove `key` from `table`; a missing key is not an error."""

    table: str
    key: bytes


@dataclass(frozen=True, slots=True)
class DeletePrefix:
    """Remove every key of `table` that starts with `prefix` (all keys when it is empty)."""

    table: str
    prefix: bytes


@dataclass(frozen=True, slots=True)
class Check:
    """Condition only: `key` must hold exactly `expected` (None: must be absent). Writes nothing."""

    table: str
    key: bytes
    expected: bytes | None


@dataclass(frozen=True, slots=True)
class PutIfAbsent:
    """Condition `key` is absent, then Put: of racing calls exactly one stores its value."""

    table: str
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class CompareAndSet:
    """Condition `key` holds `expected` (None: absent), then Put `value`."""

    table: str
    key: bytes
    expected: bytes | None
    value: bytes


Write = Put | Delete | DeletePrefix | Check | PutIfAbsent | CompareAndSet

CONDITIONAL = (Check, PutIfAbsent, CompareAndSet)
ALL_OPS = (Put, Delete, DeletePrefix, Check, PutIfAbsent, CompareAndSet)


def conditions(ops: Sequence[Write]) -> Iterator[tuple[Write, str, bytes, bytes | None]]:
    """(op, table, key, expected value or None for absent) for each conditional op, in order."""
    for op in ops:
        kind = type(op)
        if kind is PutIfAbsent:
            yield op, op.table, op.key, None  # type: ignore[union-attr]
        elif kind is Check or kind is CompareAndSet:
            yield op, op.table, op.key, op.expected  # type: ignore[union-attr]


def has_conditions(ops: Sequence[Write]) -> bool:
    """True when any op is conditional (the hot path of plain writes skips the checks)."""
    return any(type(op) in CONDITIONAL for op in ops)


def describe(op: Write) -> str:
    """A short, log-safe name for an op: kind, table and a hex prefix of the key."""
    key = getattr(op, "key", None)
    if key is None:
        key = getattr(op, "prefix", b"")
    shown = key[:32].hex() if isinstance(key, bytes) else repr(key)
    more = "…" if isinstance(key, bytes) and len(key) > 32 else ""
    return f"{type(op).__name__} on table {op.table!r} key {shown}{more}"


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key above every key starting with `prefix`; None when there is none."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def key_range(
    prefix: bytes, start: bytes | None, end: bytes | None
) -> tuple[bytes, bytes | None] | None:
    """The [low, high) byte range a scan covers (high None: unbounded); None when it is empty."""
    low = prefix if start is None or start < prefix else start
    high = prefix_end(prefix)
    if end is not None and (high is None or end < high):
        high = end
    if high is not None and high <= low:
        return None
    return low, high
