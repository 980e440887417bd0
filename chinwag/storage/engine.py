"""The byte-level storage engines: tables of sorted byte keys, durable atomic writes, fast reads.

`StorageEngine` is the contract both engines implement (bytes in, bytes out, no driver types):
async reads (`aget`/`ascan`/`acount`), atomic batch writes with conditions (`write`), close.
Reads are async because a PostgreSQL read is a network round trip that must not block the Trio
thread; LMDB answers them inline with no thread hop and no checkpoint, so the async form costs
LMDB almost nothing. `LocalStorageEngine` adds the synchronous reads that only an embedded engine
can offer (`get`/`scan`/`count`); code that must also run on PostgreSQL uses the async ones.

`LmdbEngine` is the embedded one: one LMDB env with a named database per table. Reads are short
read transactions on the caller's thread (LMDB reads are memory-mapped lookups, far cheaper than a
thread hop). Writes go to the single writer thread (writer.py), which batches concurrent calls into
one transaction and one fsync. `PostgresEngine` (postgres.py) is the shared one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import lmdb
import trio

from chinwag.storage.dirlock import DirLock, lock_directory
from chinwag.storage.errors import ConditionFailed, StorageClosed, StorageError
from chinwag.storage.lmdb_commit import LmdbCommitter
from chinwag.storage.ops import (
    ALL_OPS,
    Check,
    CompareAndSet,
    Delete,
    DeletePrefix,
    Put,
    PutIfAbsent,
    Write,
    key_range,
)
from chinwag.storage.permissions import FILE_MODE
from chinwag.storage.readgate import ReadGate
from chinwag.storage.writer import GroupCommitWriter

log = logging.getLogger(__name__)

__all__ = [
    "Check",
    "CompareAndSet",
    "ConditionFailed",
    "Delete",
    "DeletePrefix",
    "LmdbEngine",
    "LocalStorageEngine",
    "Put",
    "PutIfAbsent",
    "StorageEngine",
    "Write",
]


class StorageEngine(Protocol):
    """What every engine offers; backend-neutral: bytes in, bytes out, no driver types leak out.

    Keys are 1..511 bytes (MAX_KEY_BYTES) and sort as unsigned bytes on both engines.
    """

    name: str
    """"lmdb" or "postgresql" (reported by /healthz)."""

    async def aget(self, table: str, key: bytes) -> bytes | None: ...

    async def ascan(
        self,
        table: str,
        *,
        prefix: bytes = b"",
        start: bytes | None = None,
        end: bytes | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> list[tuple[bytes, bytes]]:
        """Keys k starting with prefix and start <= k < end (each bound only when given)."""
        ...

    async def acount(self, table: str, prefix: bytes = b"") -> int: ...

    async def write(self, *ops: Write) -> None:
        """Return once the ops are durably committed, atomically, without blocking Trio.

        Conditional ops (Check, PutIfAbsent, CompareAndSet) are all checked against the state
        before this call's writes; if one fails nothing is written and ConditionFailed names it.
        """
        ...

    def write_threadsafe(
        self, ops: Sequence[Write], on_done: Callable[[BaseException | None], None]
    ) -> None:
        """From any thread; `on_done` runs on the writer thread after the commit."""
        ...

    @property
    def commit_stats(self) -> tuple[int, int]:
        """(transactions committed, write calls committed): their ratio is the mean batch."""
        ...

    def close(self) -> None:
        """Flush pending writes, stop the writer, release the data directory or connections."""
        ...


class LocalStorageEngine(StorageEngine, Protocol):
    """An embedded engine that can also read synchronously on the caller's thread (LMDB).

    Only an in-process engine can: code that must also run on PostgreSQL uses aget/ascan/acount.
    """

    def get(self, table: str, key: bytes) -> bytes | None: ...

    def scan(
        self,
        table: str,
        *,
        prefix: bytes = b"",
        start: bytes | None = None,
        end: bytes | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> list[tuple[bytes, bytes]]:
        """Keys k starting with prefix and start <= k < end (each bound only when given)."""
        ...

    def count(self, table: str, prefix: bytes = b"") -> int: ...


class LmdbEngine(LocalStorageEngine):
    """LMDB env + one pykka writer thread with group commit + a flock on the directory."""

    name = "lmdb"

    def __init__(
        self,
        env: lmdb.Environment,
        dbs: dict[str, Any],
        dir_lock: DirLock,
        *,
        group_commit: bool,
        max_batch: int,
        sync_after_commit: bool = False,
    ) -> None:
        self._env = env
        self._dbs = dbs
        self._dir_lock = dir_lock
        self._gate = ReadGate()
        self._closed = False
        self._max_key_size = env.max_key_size()
        self._sync_after_commit = sync_after_commit
        self._committer = LmdbCommitter(env, dbs, self._gate, sync_after_commit=sync_after_commit)
        self._writer = GroupCommitWriter(
            self._committer, group_commit=group_commit, max_batch=max_batch
        )
        self._enqueue = self._writer.enqueue

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        tables: Iterable[str],
        *,
        map_size: int = 1 << 30,
        sync: bool = True,
        group_commit: bool = True,
        max_batch: int = 4096,
    ) -> LmdbEngine:
        """Lock `path` (creating it), open the env and one named database per table."""
        names = list(dict.fromkeys(tables))
        if not names:
            raise StorageError("LmdbEngine.open needs at least one table name")
        dir_lock = lock_directory(path)
        # Shared by a worker group: LMDB's write lock serialises the processes' commits, so the
        # meta page's fsync is taken out of it (metasync off keeps LMDB atomic and consistent)
        # and done by the committer after the lock is released, before any caller is told.
        sync_after_commit = sync and dir_lock.shared
        try:
            env = lmdb.open(
                str(Path(path)),
                map_size=map_size,
                max_dbs=len(names),
                sync=sync,
                metasync=sync and not sync_after_commit,
                # Each thread that reads holds a reader slot while it reads; LMDB's default of 126
                # slots is raised so a busy pool of worker threads can never run out.
                max_readers=512,
                # Owner only: the store holds gateway keys and bot tokens (permissions.py).
                mode=FILE_MODE,
            )
        except lmdb.Error as exc:
            dir_lock.release()
            raise StorageError(f"cannot open the LMDB environment in {str(path)!r}: {exc}") from exc
        except BaseException:
            dir_lock.release()
            raise
        try:
            # Reader slots left by a process of a worker group that was killed (SIGKILL) pin old
            # snapshots, so the file could only grow: free them (a no-op when there are none).
            stale = env.reader_check()
            if stale:
                log.info("freed %d stale LMDB reader slot(s) of dead processes", stale)
            dbs = _open_tables(env, names)
        except BaseException:
            env.close()
            dir_lock.release()
            raise
        return cls(
            env,
            dbs,
            dir_lock,
            group_commit=group_commit,
            max_batch=max_batch,
            sync_after_commit=sync_after_commit,
        )

    # -- reads: synchronous, on the caller's thread -------------------------------------------

    def _db(self, table: str) -> Any:
        db = self._dbs.get(table)
        if db is not None:
            return db
        try:
            return self._dbs[table]
        except KeyError:
            raise StorageError(
                f"unknown table {table!r}; the engine was opened with {sorted(self._dbs)}"
            ) from None

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosed("the storage engine is closed")

    def get(self, table: str, key: bytes) -> bytes | None:
        db = self._db(table)
        if not key or len(key) > self._max_key_size:
            return None  # such a key can never have been stored
        gate = self._gate
        while True:
            gate.enter()
            try:
                if self._closed:
                    raise StorageClosed("the storage engine is closed")
                with self._env.begin(db=db) as txn:
                    return txn.get(key)
            except lmdb.MapResizedError:
                pass  # another process grew the map: adopt its size (outside the gate), retry
            finally:
                gate.leave()
            self._adopt_map_size()

    def scan(
        self,
        table: str,
        *,
        prefix: bytes = b"",
        start: bytes | None = None,
        end: bytes | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> list[tuple[bytes, bytes]]:
        db = self._db(table)
        if limit is not None and limit <= 0:
            return []
        bounds = key_range(prefix, start, end)
        if bounds is None:
            return []
        low, high = bounds
        gate = self._gate
        while True:
            gate.enter()
            try:
                self._check_open()
                with self._env.begin(db=db) as txn:
                    cursor = txn.cursor()
                    if reverse:
                        return _scan_backward(cursor, low, high, limit)
                    return _scan_forward(cursor, low, high, limit)
            except lmdb.MapResizedError:
                pass
            finally:
                gate.leave()
            self._adopt_map_size()

    def count(self, table: str, prefix: bytes = b"") -> int:
        db = self._db(table)
        while True:
            try:
                with self._gate.reading():
                    self._check_open()
                    with self._env.begin(db=db) as txn:
                        return _count(txn, db, prefix)
            except lmdb.MapResizedError:
                self._adopt_map_size()

    def _adopt_map_size(self) -> None:
        """Another process (a sibling worker) grew the map past ours (MDB_MAP_RESIZED): take
        the env's size. set_mapsize needs no open transaction in this process, so readers and
        the writer are held off by the gate meanwhile."""
        with self._gate.exclusive():
            self._check_open()
            self._env.set_mapsize(0)
            size = self._env.info()["map_size"]
        log.info("LMDB map size %d adopted from another process", size)

    # -- the async reads of the shared contract: answered inline ------------------------------

    async def aget(self, table: str, key: bytes) -> bytes | None:
        """get() without a thread hop or checkpoint: an LMDB read takes microseconds."""
        return self.get(table, key)

    async def ascan(
        self,
        table: str,
        *,
        prefix: bytes = b"",
        start: bytes | None = None,
        end: bytes | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> list[tuple[bytes, bytes]]:
        return self.scan(table, prefix=prefix, start=start, end=end, reverse=reverse, limit=limit)

    async def acount(self, table: str, prefix: bytes = b"") -> int:
        return self.count(table, prefix)

    # -- writes: handed to the writer thread ------------------------------------------------

    async def write(self, *ops: Write) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if not ops:
            return
        self._validate(ops)
        self._enqueue((ops, None, _current_trio_token(), _current_task()))
        # Once queued, the write happens whatever we do, so cancellation waits for the outcome
        # (Abort.FAILED): the caller always learns whether its data is stored.
        await _wait_task_rescheduled(_cannot_abort)

    def write_threadsafe(
        self, ops: Sequence[Write], on_done: Callable[[BaseException | None], None]
    ) -> None:
        ops = tuple(ops)
        self._validate(ops)
        self._writer.submit(ops, on_done)

    def _validate(self, ops: Sequence[Write]) -> None:
        """Refuse malformed ops before queueing, so the caller gets the error at once."""
        if self._closed:
            raise StorageClosed("the storage engine is closed; the write was not applied")
        dbs = self._dbs
        for op in ops:
            # Fast path for the common case; anything else gets the detailed checks below.
            if (
                type(op) is Put
                and op.table in dbs
                and type(op.key) is bytes
                and type(op.value) is bytes
            ):
                continue
            self._validate_one(op)

    def _validate_one(self, op: Write) -> None:
        validate_op(op, self._db)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the env, unlock; idempotent.

        Blocks until the queue is committed, so call it from the Trio thread only at shutdown
        and never from a write_threadsafe callback (that runs on the writer thread itself).
        """
        if self._closed:
            return
        self._writer.stop()
        with self._gate.exclusive():
            self._closed = True
            self._env.close()
        self._dir_lock.release()

    @property
    def durable(self) -> bool:
        """True when every commit is fsynced (data and meta page) before it is acknowledged."""
        self._check_open()
        flags = self._env.flags()
        return bool(flags["sync"] and (flags["metasync"] or self._sync_after_commit))

    @property
    def commit_stats(self) -> tuple[int, int]:
        """(transactions committed, write calls committed): their ratio is the mean batch."""
        return self._committer.commits, self._committer.calls

    @property
    def map_size(self) -> int:
        """Current LMDB map size in bytes (it grows when the map fills up)."""
        with self._gate.reading():
            self._check_open()
            return self._env.info()["map_size"]


def _open_tables(env: lmdb.Environment, names: list[str]) -> dict[str, Any]:
    """One named database per table, created if missing (a sibling may have grown the map)."""
    while True:
        try:
            with env.begin(write=True) as txn:
                return {name: env.open_db(name.encode(), txn=txn, create=True) for name in names}
        except lmdb.MapResizedError:
            env.set_mapsize(0)  # nothing else of this engine runs yet


_current_task = trio.lowlevel.current_task
_current_trio_token = trio.lowlevel.current_trio_token
_wait_task_rescheduled = trio.lowlevel.wait_task_rescheduled


def _cannot_abort(_raise_cancel: Any) -> trio.lowlevel.Abort:
    return trio.lowlevel.Abort.FAILED


def validate_op(op: Write, table_check: Callable[[str], object]) -> None:
    """Refuse an op of an unknown kind, table or field type with a StorageError naming it.

    Shared by both engines so they refuse the same things; key length is left to the engine.
    """
    kind = type(op)
    if kind not in ALL_OPS:
        raise StorageError(f"not a write operation: {op!r}")
    table_check(op.table)
    name = kind.__name__
    if kind is DeletePrefix:
        if type(op.prefix) is not bytes:  # type: ignore[union-attr]
            raise StorageError(f"DeletePrefix prefix for table {op.table!r} must be bytes")
        return
    if type(op.key) is not bytes:  # type: ignore[union-attr]
        raise StorageError(f"{name} key for table {op.table!r} must be bytes")
    if kind in (Put, PutIfAbsent, CompareAndSet) and type(op.value) is not bytes:  # type: ignore[union-attr]
        raise StorageError(f"{name} value for table {op.table!r} must be bytes")
    if kind in (Check, CompareAndSet) and not (
        op.expected is None or type(op.expected) is bytes  # type: ignore[union-attr]
    ):
        raise StorageError(f"{name} expected value for table {op.table!r} must be bytes or None")


def _count(txn: lmdb.Transaction, db: Any, prefix: bytes) -> int:
    if not prefix:
        return txn.stat(db)["entries"]
    cursor = txn.cursor()
    if not cursor.set_range(prefix):
        return 0
    total = 0
    for key in cursor.iternext(keys=True, values=False):
        if not key.startswith(prefix):
            break
        total += 1
    return total


def _scan_forward(
    cursor: lmdb.Cursor, low: bytes, high: bytes | None, limit: int | None
) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    if low:
        if not cursor.set_range(low):
            return out
    elif not cursor.first():
        return out
    for key, value in cursor.iternext():
        if high is not None and key >= high:
            break
        out.append((key, value))
        if limit is not None and len(out) >= limit:
            break
    return out


def _scan_backward(
    cursor: lmdb.Cursor, low: bytes, high: bytes | None, limit: int | None
) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    if high is None:
        if not cursor.last():
            return out
    elif cursor.set_range(high):
        if not cursor.prev():
            return out
    elif not cursor.last():
        return out
    for key, value in cursor.iterprev():
        if key < low:
            break
        out.append((key, value))
        if limit is not None and len(out) >= limit:
            break
    return out
