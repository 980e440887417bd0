"""A reader count that lets the writer pause reads while it resizes the LMDB map.

lmdb's set_mapsize must only be called while this process has no open transaction. Reads run on
the callers' threads (usually the Trio thread), so the writer cannot see them; every read enters the
gate, and a resize (or close) waits for the readers inside to leave while holding new ones back.
Reads are microseconds long, so the wait is too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadGate:
    """Shared entry for reads, exclusive entry for map resizes and closing."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._exclusive = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Enter as a reader; blocks only while an exclusive section runs."""
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0 and self._exclusive:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Wait until no reader is inside, keep new ones out, run the body, let them in again."""
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()
