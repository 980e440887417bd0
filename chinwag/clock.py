"""Wall-clock time derived from Trio's clock, so `trio.testing.MockClock` can travel in time.

Session expiry is stored as Unix seconds, but every timer runs on Trio's clock. Anchoring the
wall clock to `trio.current_time()` once makes both move together: a test that jumps the mock
clock 90 days forward sees sessions expire exactly as in production.
"""

from __future__ import annotations

import time

import trio


class WallClock:
    """Unix time that advances with the Trio clock it was created under."""

    def __init__(self) -> None:
        self._offset = time.time() - trio.current_time()

    def now(self) -> float:
        """Current Unix time in seconds (float)."""
        return self._offset + trio.current_time()

    def trio_deadline(self, unix_time: float) -> float:
        """The `trio.current_time()` value at which `unix_time` is reached."""
        return unix_time - self._offset
