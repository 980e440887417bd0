"""Fault injection for supervision tests, kept out of the production message set."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CrashForTest:
    """A message no actor knows: its `receive` raises, as an unexpected bug would."""
