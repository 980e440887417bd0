"""The write operations the engine understands: plain data, so they cross threads freely.

Kept apart from engine.py so the writer thread's code can use them without importing the engine;
engine.py re-exports them as the public names.
"""

from __future__ import annotations

from dataclasses import dataclass


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


Write = Put | Delete | DeletePrefix
