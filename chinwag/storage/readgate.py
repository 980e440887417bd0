"""A reader count that lets the writer pause reads while it resizes the LMDB map.

lmdb's set_mapsize must only be called while this process has no open transaction. Reads run on
the callers' threads (usually the Trio thread), so the writer cannot see them; every read enters the
gate, and a resize (or close) waits for the readers inside to leave while holding new ones back.
Reads are microseconds long, so the wait is too. Entering and leaving is one uncontended lock
each: reads are hot, so no context-manager machinery on that path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadGate:
    """Shared entry for reads (`enter`/`leave`), exclusive entry for map resizes and closing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._readers = 0
        self._exclusive = False

    def enter(self) -> None:
        """Enter as a reader; blocks only while an exclusive section runs. Pair with leave()."""
        with self._lock:
            if not self._exclusive:
                self._readers += 1
                return
            while self._exclusive:
                self._cond.wait()
            self._readers += 1

    def leave(self) -> None:
        with self._lock:
            self._readers -= 1
            if self._exclusive and not self._readers:
                self._cond.notify_all()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """enter()/leave() as a context manager, for code off the hot path."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Wait until no reader is inside, keep new ones out, run the body, let them in again."""
        with self._lock:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._lock:
                self._exclusive = False
                self._cond.notify_all()
