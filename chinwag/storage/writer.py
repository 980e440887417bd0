"""The one thread that writes: a pykka actor draining a queue of write calls with group commit.

Why one thread: LMDB allows a single write transaction at a time, and a durable commit costs an
fsync (milliseconds) — for PostgreSQL a round trip and a WAL flush. Funnelling every write
through one thread lets it put everything that queued up during the previous fsync into ONE
transaction and pay one fsync for the lot, then acknowledge each caller. Callers never block on
each other's fsyncs and throughput grows with concurrency.

Hot-path shape: a caller appends to a deque and, only if the writer is not already due to run,
tells the actor to drain (so a burst of writes costs one actor message, not one each). Trio callers
are woken with one `run_sync_soon` per Trio run per batch, not one per call.

The queue is engine-neutral: how a batch becomes a transaction is the `Committer` the engine
passes in (lmdb_commit.py for LMDB, postgres.py for PostgreSQL).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import outcome
import pykka
import trio

from chinwag.storage.errors import StorageClosed, StorageError
from chinwag.storage.ops import Write

log = logging.getLogger(__name__)

OnDone = Callable[[BaseException | None], None]

# The engine-specific part: commit a batch of calls (each a sequence of ops) as one transaction
# where it can, and return the errors of the calls that were not applied, by index.
Committer = Callable[[list[Sequence[Write]]], dict[int, BaseException]]


# One queued write call: (ops, on_done, trio token, trio task). A plain tuple because this is the
# hot path: either on_done is set (write_threadsafe) or token and task are (Trio write()).
_Request = tuple[
    Sequence[Write], "OnDone | None", "trio.lowlevel.TrioToken | None", "trio.lowlevel.Task | None"
]


_DRAIN = object()

# Write calls queued or committing in this process, across every writer. Trio callers wait for a
# commit on another thread, which a MockClock cannot see: tests read this (writes_in_flight) so
# virtual time never jumps past deadlines while a commit is still on its way to disk.
_in_flight = 0
_in_flight_lock = threading.Lock()


def writes_in_flight() -> int:
    """How many write calls are queued or being committed right now, in all writers."""
    return _in_flight


def _count(delta: int) -> None:
    global _in_flight
    with _in_flight_lock:
        _in_flight += delta


class _WriterActor(pykka.ThreadingActor):
    """Owns the writer thread; every message means 'drain the queue', stopping drains it last."""

    # A forgotten close() must not hang interpreter exit; unacknowledged writes are not promised.
    use_daemon_thread = True

    def __init__(self, drain: Callable[[], None]) -> None:
        super().__init__()
        self._drain = drain

    def on_receive(self, message: Any) -> None:
        if message is _DRAIN:
            self._drain()

    def on_stop(self) -> None:
        self._drain()


class GroupCommitWriter:
    """Queue + pykka actor; `submit*` from any thread, commits happen on the actor's thread."""

    def __init__(self, commit: Committer, *, group_commit: bool, max_batch: int) -> None:
        self._commit = commit
        self._group_commit = group_commit
        self._max_batch = max(1, max_batch)
        self._queue: deque[_Request] = deque()
        self._lock = threading.Lock()
        self._wake_pending = False
        self._closed = False
        self._actor = _WriterActor.start(self._drain)

    # -- any thread -------------------------------------------------------------------------

    def submit(self, ops: Sequence[Write], on_done: OnDone) -> None:
        """Queue a call whose outcome goes to `on_done` (run on the writer thread)."""
        self.enqueue((ops, on_done, None, None))

    def enqueue(self, request: _Request) -> None:
        """Queue a request tuple; a Trio one has its task rescheduled with the outcome."""
        with self._lock:
            if self._closed:
                raise StorageClosed("the storage engine is closed; the write was not applied")
            self._queue.append(request)
            _count(1)
            if not self._wake_pending:
                self._wake_pending = True
                # Told under the lock so that stop()'s message can never overtake it.
                self._actor.tell(_DRAIN)

    def stop(self) -> None:
        """Refuse new calls, commit and acknowledge everything queued, end the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._actor.stop(block=True)

    # -- writer thread ----------------------------------------------------------------------

    def _drain(self) -> None:
        # Cleared before popping: a submit that saw True appended before this line, so the
        # loop below still finds it; one that sees False sends a fresh (maybe spare) message.
        with self._lock:
            self._wake_pending = False
        queue = self._queue
        while queue:
            batch: list[_Request] = []
            try:
                while len(batch) < self._max_batch:
                    batch.append(queue.popleft())
            except IndexError:
                pass
            if self._group_commit:
                self._settle(batch)
            else:
                for request in batch:
                    self._settle([request])

    def _settle(self, batch: list[_Request]) -> None:
        """Commit then acknowledge; even an unexpected failure is answered, never swallowed."""
        try:
            errors = self._commit([request[0] for request in batch])
        except Exception as exc:  # a bug here must not leave callers waiting forever
            log.exception("the storage writer failed on a batch of %d calls", len(batch))
            error = StorageError(f"the write could not be committed: {exc}")
            errors = dict.fromkeys(range(len(batch)), error)
        try:
            self._acknowledge(batch, errors)
        finally:
            # After the wake-ups are posted: a Trio loop sees them before this reaches zero.
            _count(-len(batch))

    def _acknowledge(self, batch: list[_Request], errors: dict[int, BaseException]) -> None:
        """Tell every caller its outcome: one run_sync_soon per Trio run, on_done per callback."""
        woken: dict[trio.lowlevel.TrioToken, list[Any]] = {}
        for index, (_ops, on_done, token, task) in enumerate(batch):
            error = errors.get(index) if errors else None
            if token is not None:
                tasks = woken.get(token)
                if tasks is None:
                    tasks = woken[token] = []
                tasks.append(task if error is None else (task, outcome.Error(error)))
            elif on_done is not None:
                try:
                    on_done(error)
                except Exception:
                    log.exception("a write_threadsafe on_done callback raised")
        for token, tasks in woken.items():
            try:
                token.run_sync_soon(_reschedule_all, tasks)
            except trio.RunFinishedError:
                log.warning("a Trio run ended before %d writes were acknowledged", len(tasks))


def _reschedule_all(tasks: list[Any]) -> None:
    """Runs on the Trio thread: a bare task succeeded, a (task, Error) pair failed."""
    reschedule = trio.lowlevel.reschedule
    for item in tasks:
        if type(item) is tuple:
            reschedule(*item)
        else:
            reschedule(item)
