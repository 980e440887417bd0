"""How the writer thread turns a batch of write calls into one LMDB transaction.

Every call in the batch shares one write transaction and one fsync. A call's conditions are
checked inside that transaction before any of its ops is applied (so they see the calls committed
before it in the same batch, as if each ran alone in queue order); a failed condition skips only
that call, with nothing of it written. A call whose ops fail half way (LMDB refuses a key) is
dropped and the transaction redone without it, so one bad call never fails its neighbours.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import lmdb

from chinwag.storage.errors import ConditionFailed, StorageError
from chinwag.storage.ops import (
    Check,
    CompareAndSet,
    Delete,
    DeletePrefix,
    Put,
    PutIfAbsent,
    Write,
    conditions,
    has_conditions,
)
from chinwag.storage.readgate import ReadGate

log = logging.getLogger(__name__)

# Growth stops here (1 TiB of address space); a call that needs more fails instead of looping.
MAX_MAP_SIZE = 1 << 40


def check_conditions(
    txn: lmdb.Transaction, dbs: dict[str, Any], ops: Sequence[Write], max_key: int
) -> None:
    """Raise ConditionFailed for the first condition of `ops` that does not hold in `txn`."""
    for op, table, key, expected in conditions(ops):
        current = txn.get(key, db=dbs[table]) if key and len(key) <= max_key else None
        if current != expected:
            raise ConditionFailed(op, condition_reason(expected, current))


def condition_reason(expected: bytes | None, current: bytes | None) -> str:
    """Why a condition failed, without echoing stored bytes (they may be private)."""
    if expected is None:
        return "the key exists"
    if current is None:
        return "the key is absent"
    return "the stored value differs"


def apply_ops(txn: lmdb.Transaction, dbs: dict[str, Any], ops: Sequence[Write]) -> None:
    """Apply one call's ops inside `txn`; LMDB errors become StorageErrors naming the op."""
    op: Write | None = None
    try:
        for op in ops:
            kind = type(op)
            if kind is Put or kind is PutIfAbsent or kind is CompareAndSet:
                txn.put(op.key, op.value, db=dbs[op.table])  # type: ignore[union-attr]
            elif kind is Delete:
                txn.delete(op.key, db=dbs[op.table])  # type: ignore[union-attr]
            elif kind is DeletePrefix:
                _delete_prefix(txn, dbs[op.table], op.prefix)  # type: ignore[union-attr]
            elif kind is not Check:
                raise StorageError(f"unknown write operation {op!r}")
    except lmdb.MapFullError:
        raise  # the writer grows the map and retries; not this call's fault
    except lmdb.Error as exc:
        assert op is not None
        raise StorageError(f"{type(op).__name__} on table {op.table!r} failed: {exc}") from exc


def _delete_prefix(txn: lmdb.Transaction, db: Any, prefix: bytes) -> None:
    if not prefix:
        txn.drop(db, delete=False)  # empties the table, keeps the handle
        return
    cursor = txn.cursor(db)
    if not cursor.set_range(prefix):
        return
    # delete() moves to the next record; an unpositioned cursor's key is b"", which ends the loop.
    while cursor.key().startswith(prefix):
        if not cursor.delete():
            break


class LmdbCommitter:
    """The writer thread's commit function for one LMDB env, with batch statistics."""

    def __init__(
        self,
        env: lmdb.Environment,
        dbs: dict[str, Any],
        gate: ReadGate,
        *,
        sync_after_commit: bool = False,
    ) -> None:
        self._env = env
        # Worker group (metasync off): flush the meta page after LMDB's write lock is released.
        self._sync_after_commit = sync_after_commit
        self._dbs = dbs
        self._gate = gate
        self._max_key = env.max_key_size()
        # Transactions committed so far; with calls acknowledged it gives the mean batch size.
        self.commits = 0
        self.calls = 0

    def __call__(self, batch: list[Sequence[Write]]) -> dict[int, BaseException]:
        """Commit the batch in one transaction; return the errors of the calls left out.

        A call that raises is dropped and the transaction redone without it. A full map is grown
        and the whole batch retried.
        """
        errors: dict[int, BaseException] = {}
        live = list(range(len(batch)))
        dbs = self._dbs
        while live:
            failed: int | None = None
            # Condition failures of this attempt: redone from scratch with the transaction, since
            # dropping a failed call can change what the later calls' conditions see.
            refused: dict[int, BaseException] = {}
            # The write transaction counts as a reader of the gate, so a read path adopting a
            # sibling process's map size (set_mapsize) waits for it to end.
            self._gate.enter()
            try:
                txn = self._env.begin(write=True)
            except lmdb.MapResizedError:
                self._gate.leave()
                self._adopt()  # a sibling process grew the map; take its size and retry
                continue
            except BaseException:
                self._gate.leave()
                raise
            try:
                for index in live:
                    ops = batch[index]
                    try:
                        if has_conditions(ops):
                            check_conditions(txn, dbs, ops, self._max_key)
                        apply_ops(txn, dbs, ops)
                    except lmdb.MapFullError:
                        raise
                    except ConditionFailed as exc:
                        refused[index] = exc  # nothing of it was applied: carry on
                    except Exception as exc:
                        errors[index] = exc
                        failed = index
                        break
                else:
                    txn.commit()
                    self._gate.leave()
                    self.commits += 1
                    self.calls += len(live) - len(refused)
                    errors.update(refused)
                    if self._sync_after_commit:
                        self._flush(live, errors)
                    return errors
            except lmdb.MapFullError:
                _abort(txn)
                self._gate.leave()
                try:
                    self._grow()
                except StorageError as exc:
                    errors.update(dict.fromkeys(live, exc))
                    return errors
                continue
            except Exception as exc:  # the commit itself failed (disk error): nobody is durable
                _abort(txn)
                self._gate.leave()
                error = StorageError(f"commit failed, nothing of this write was stored: {exc}")
                error.__cause__ = exc
                errors.update(dict.fromkeys(live, error))
                return errors
            _abort(txn)
            self._gate.leave()
            live.remove(failed)  # type: ignore[arg-type]
        return errors

    def _flush(self, live: list[int], errors: dict[int, BaseException]) -> None:
        """fsync the commit's meta page (its data pages were synced inside the commit); the
        sibling processes commit meanwhile, since LMDB's write lock is no longer held."""
        try:
            self._env.sync(True)
        except lmdb.Error as exc:
            error = StorageError(f"the write may or may not be stored (sync failed): {exc}")
            for index in live:
                errors.setdefault(index, error)

    def _adopt(self) -> None:
        """MDB_MAP_RESIZED: take the size another process (a sibling worker) grew the map to."""
        with self._gate.exclusive():
            self._env.set_mapsize(0)
            size = self._env.info()["map_size"]
        log.info("LMDB map size %d adopted from another process", size)

    def _grow(self) -> None:
        """Double the map; readers are held off because set_mapsize needs no open transaction."""
        with self._gate.exclusive():
            size = self._env.info()["map_size"]
            # A sibling process (worker group) may have grown the env already: take its size
            # first, and double only when that brings nothing (set_mapsize(0) never goes below
            # the pages in use; the max() undoes it picking an older, smaller size).
            self._env.set_mapsize(0)
            adopted = self._env.info()["map_size"]
            if adopted > size:
                log.info("LMDB map size %d adopted from another process", adopted)
                return
            size = max(size, adopted)
            if size >= MAX_MAP_SIZE:
                raise StorageError(f"the database is full at its largest map size ({size} bytes)")
            new_size = min(size * 2, MAX_MAP_SIZE)
            self._env.set_mapsize(new_size)
        log.info("LMDB map grown from %d to %d bytes", size, new_size)


def _abort(txn: lmdb.Transaction) -> None:
    with contextlib.suppress(lmdb.Error):  # already finished by a failed commit
        txn.abort()
