"""The shared engine: the StorageEngine contract on PostgreSQL, for several chinwag nodes at once.

Layout: one plain table `chinwag_kv (tbl text, k bytea, v bytea, PRIMARY KEY (tbl, k))`; bytea
sorts as unsigned bytes, so scans order exactly like LMDB's. Only portable SQL: upserts with
INSERT … ON CONFLICT, row locks with SELECT … FOR UPDATE, READ COMMITTED; no advisory locks and no
LISTEN/NOTIFY, so PostgreSQL-compatible distributed databases stay an option.

Client: psycopg 3's synchronous API (the measurement in bench/bench_pg_client.py and the README
say why). Writes go through the same group-commit writer thread as LMDB (writer.py) on one
connection: concurrent calls share a transaction and a WAL flush. Reads run in worker threads
(`trio.to_thread`, bounded by a CapacityLimiter) on a small psycopg_pool of autocommit
connections, so the Trio thread never blocks on the network.

Conditions in one transaction under READ COMMITTED:
- expected value (Check/CompareAndSet with bytes): SELECT … FOR UPDATE locks the row until commit,
  so nobody can change it between the check and the commit.
- expected absent (PutIfAbsent, or None): INSERT … ON CONFLICT DO NOTHING of a placeholder row;
  rowcount 1 means absent, and the uncommitted row makes every racing insert of that key wait for
  us. A placeholder that the call does not overwrite is deleted before commit, so nobody ever
  sees it. Of many racing PutIfAbsent calls, on any number of nodes, exactly one wins.
Deadlocks and serialization failures (other nodes locking rows in another order) roll back and
retry the batch; they never reach the caller unless they persist.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psycopg
import trio
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool

from chinwag.storage.engine import (
    LocalStorageEngine,
    _cannot_abort,
    _current_task,
    _current_trio_token,
    _wait_task_rescheduled,
    validate_op,
)
from chinwag.storage.errors import ConditionFailed, StorageClosed, StorageError
from chinwag.storage.lmdb_commit import condition_reason
from chinwag.storage.ops import (
    MAX_KEY_BYTES,
    CompareAndSet,
    Delete,
    DeletePrefix,
    Put,
    PutIfAbsent,
    Write,
    conditions,
    has_conditions,
    key_range,
)
from chinwag.storage.writer import GroupCommitWriter

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS chinwag_kv (
    tbl text NOT NULL,
    k bytea NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (tbl, k)
)
"""

_UPSERT = (
    "INSERT INTO chinwag_kv (tbl, k, v) VALUES (%s, %s, %s)"
    " ON CONFLICT (tbl, k) DO UPDATE SET v = EXCLUDED.v"
)
_PLACEHOLDER = "INSERT INTO chinwag_kv (tbl, k, v) VALUES (%s, %s, '') ON CONFLICT DO NOTHING"
_LOCK_ROW = "SELECT v FROM chinwag_kv WHERE tbl = %s AND k = %s FOR UPDATE"
_DELETE = "DELETE FROM chinwag_kv WHERE tbl = %s AND k = %s"
_GET = "SELECT v FROM chinwag_kv WHERE tbl = %s AND k = %s"

# A batch that meets a deadlock or serialization failure is retried this many times in all.
MAX_ATTEMPTS = 8
# An interim synchronous read (PostgresEngine.get/scan/count) gives up after this many seconds.
SYNC_READ_TIMEOUT = 2.0
_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


class _CallFailed(Exception):
    """One call of a batch failed in a way that is its own (not the connection's)."""

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


def _range_sql(
    prefix: bytes, start: bytes | None, end: bytes | None
) -> tuple[str, list[bytes]] | None:
    """The WHERE clause (after tbl = %s) and its parameters for a key range; None when empty."""
    bounds = key_range(prefix, start, end)
    if bounds is None:
        return None
    low, high = bounds
    if high is None:
        return " AND k >= %s", [low]
    return " AND k >= %s AND k < %s", [low, high]


class PostgresCommitter:
    """The writer thread's commit function: one transaction per batch on one connection."""

    def __init__(self, url: str, connect_timeout: float, stalled_after: float) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        # A writer frozen inside a transaction (SIGSTOP, a long pause) would hold its row locks
        # and stall every node; the server ends such a session after this many milliseconds.
        # Our transactions take milliseconds, so only a stalled process ever reaches it.
        # synchronous_commit=on whatever the server's default: an acknowledged write is flushed.
        self._options = (
            f"-c idle_in_transaction_session_timeout={int(stalled_after * 1000)}"
            " -c synchronous_commit=on"
        )
        self._conn: psycopg.Connection[Any] | None = None
        self.commits = 0
        self.calls = 0

    def connect(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(
                self._url,
                autocommit=False,
                connect_timeout=int(self._connect_timeout),
                options=self._options,
            )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __call__(self, batch: list[Sequence[Write]]) -> dict[int, BaseException]:
        """Commit the batch in one transaction; the errors of the calls left out, by index."""
        delay = 0.005
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                conn = self.connect()
            except psycopg.Error as exc:
                log.warning("cannot connect to PostgreSQL: %s", exc)
                error = StorageError("the database is unreachable; nothing was stored")
                return dict.fromkeys(range(len(batch)), error)
            committing = False
            try:
                errors = self._commit_once(conn, batch)
                committing = True
                conn.commit()
            except _CallFailed as failed:
                self._rollback(conn)
                if len(batch) == 1:
                    return {0: failed.error}
                # Commit the others without the bad call (each alone, so none fails another);
                # when the bad call is not known (index -1), each call is tried alone.
                errors = {} if failed.index < 0 else {failed.index: failed.error}
                for index, ops in enumerate(batch):
                    if index != failed.index:
                        one = self([ops])
                        if one:
                            errors[index] = one[0]
                return errors
            except _RETRYABLE as exc:
                self._rollback(conn)
                log.info("PostgreSQL batch retried (attempt %d): %s", attempt, exc)
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            except psycopg.OperationalError as exc:
                self.close()
                if committing:  # the COMMIT may or may not have reached the disk
                    log.error("PostgreSQL connection lost during COMMIT: %s", exc)
                    error = StorageError(
                        "the database connection was lost while committing; "
                        "the write may or may not be stored"
                    )
                    return dict.fromkeys(range(len(batch)), error)
                log.warning("PostgreSQL connection lost, batch retried: %s", exc)
                continue  # nothing was committed: safe to redo on a new connection
            except psycopg.Error as exc:
                self._rollback(conn)
                log.error("PostgreSQL batch failed: %s", exc)
                error = StorageError(f"the write failed, nothing was stored: {type(exc).__name__}")
                return dict.fromkeys(range(len(batch)), error)
            self.commits += 1
            self.calls += len(batch) - len(errors)
            return errors
        error = StorageError("the write kept conflicting with other nodes; nothing was stored")
        return dict.fromkeys(range(len(batch)), error)

    def _rollback(self, conn: psycopg.Connection[Any]) -> None:
        try:
            conn.rollback()
        except psycopg.Error:
            self.close()

    def _commit_once(
        self, conn: psycopg.Connection[Any], batch: list[Sequence[Write]]
    ) -> dict[int, BaseException]:
        """Run every call in the open transaction; ConditionFailed skips only its own call.

        Pipeline mode: plain writes are queued without waiting for each reply, so a batch of
        64 calls costs a few round trips, not 64. A call's conditions are queued behind the calls
        before it (the server runs them in order, so they see those writes) and decided with one
        sync: one round trip per conditional call. When a statement fails, the calls whose
        statements were in flight are known (`pending`); if that is more than one, each call is
        tried again alone (see __call__).
        """
        errors: dict[int, BaseException] = {}
        placeholders: set[tuple[str, bytes]] = set()
        pending: list[int] = []  # calls whose queued statements have not been synced yet
        try:
            with conn.pipeline() as pipe, conn.cursor() as cur:
                for index, ops in enumerate(batch):
                    if has_conditions(ops):
                        pending.append(index)
                        synced, failed = self._check(conn, pipe, ops, placeholders)
                        if synced:  # the calls before this one are through
                            pending[:] = [index]
                        if failed is not None:
                            errors[index] = failed
                            pending.remove(index)
                            continue
                    else:
                        pending.append(index)
                    self._apply(cur, ops, placeholders)
                if placeholders:
                    cur.executemany(_DELETE, list(placeholders))
        except (psycopg.OperationalError, *_RETRYABLE):
            raise
        except psycopg.Error as exc:
            # Which call failed is known when one call's statements were in flight.
            error = StorageError(f"the write failed, nothing was stored: {type(exc).__name__}")
            culprit = pending[0] if len(pending) == 1 else (0 if len(batch) == 1 else -1)
            raise _CallFailed(culprit, error) from exc
        return errors

    @classmethod
    def _check(
        cls,
        conn: psycopg.Connection[Any],
        pipe: psycopg.Pipeline,
        ops: Sequence[Write],
        placeholders: set[tuple[str, bytes]],
    ) -> tuple[bool, ConditionFailed | None]:
        """Decide a call's conditions with one sync: (whether it synced, its first failure).

        Each condition's statement runs on its own cursor, so every reply is kept: all are
        queued, then one sync. A placeholder inserted for a later condition of a failing call
        is tracked like any other (deleted before commit)."""
        found = list(conditions(ops))
        if len({(table, key) for _, table, key, _ in found}) < len(found):
            return cls._check_one_by_one(conn, pipe, found, placeholders)
        queued: list[tuple[Write, tuple[str, bytes], bytes | None, psycopg.Cursor[Any] | None]]
        queued = []
        for op, table, key, expected in found:
            row_key = (table, key)
            if row_key in placeholders:  # our own uncommitted placeholder: absent, locked
                queued.append((op, row_key, expected, None))
                continue
            cur = conn.cursor()
            cur.execute(_PLACEHOLDER if expected is None else _LOCK_ROW, row_key)
            queued.append((op, row_key, expected, cur))
        synced = any(cur is not None for *_, cur in queued)
        if synced:
            pipe.sync()
        failed: ConditionFailed | None = None
        for op, row_key, expected, cur in queued:
            if cur is None:
                current = None
            elif expected is None:
                if cur.rowcount == 1:
                    placeholders.add(row_key)
                    continue
                failed = failed or ConditionFailed(op, condition_reason(None, b"exists"))
                continue
            else:
                row = cur.fetchone()
                current = None if row is None else bytes(row[0])
            if current != expected and failed is None:
                failed = ConditionFailed(op, condition_reason(expected, current))
        for *_, cur in queued:
            if cur is not None:
                cur.close()
        return synced, failed

    @staticmethod
    def _check_one_by_one(
        conn: psycopg.Connection[Any],
        pipe: psycopg.Pipeline,
        found: list[tuple[Write, str, bytes, bytes | None]],
        placeholders: set[tuple[str, bytes]],
    ) -> tuple[bool, ConditionFailed | None]:
        """A call naming one key in several conditions: each decided in turn (rare)."""
        synced = False
        with conn.cursor() as cur:
            for op, table, key, expected in found:
                row_key = (table, key)
                if row_key in placeholders:
                    current = None
                elif expected is None:
                    cur.execute(_PLACEHOLDER, row_key)
                    pipe.sync()
                    synced = True
                    if cur.rowcount == 1:
                        placeholders.add(row_key)
                        continue
                    return synced, ConditionFailed(op, condition_reason(None, b"exists"))
                else:
                    cur.execute(_LOCK_ROW, row_key)
                    pipe.sync()
                    synced = True
                    row = cur.fetchone()
                    current = None if row is None else bytes(row[0])
                if current != expected:
                    return synced, ConditionFailed(op, condition_reason(expected, current))
        return synced, None

    @staticmethod
    def _apply(
        cur: psycopg.Cursor[Any], ops: Sequence[Write], placeholders: set[tuple[str, bytes]]
    ) -> None:
        for op in ops:
            kind = type(op)
            if kind is Put or kind is PutIfAbsent or kind is CompareAndSet:
                cur.execute(_UPSERT, (op.table, op.key, op.value))  # type: ignore[union-attr]
                placeholders.discard((op.table, op.key))  # type: ignore[union-attr]
            elif kind is Delete:
                cur.execute(_DELETE, (op.table, op.key))  # type: ignore[union-attr]
                placeholders.discard((op.table, op.key))  # type: ignore[union-attr]
            elif kind is DeletePrefix:
                prefix: bytes = op.prefix  # type: ignore[union-attr]
                where = _range_sql(prefix, None, None)
                assert where is not None
                cur.execute(
                    "DELETE FROM chinwag_kv WHERE tbl = %s" + where[0], [op.table, *where[1]]
                )
                for row_key in [p for p in placeholders if p[0] == op.table]:
                    if row_key[1].startswith(prefix):
                        placeholders.discard(row_key)


class PostgresEngine(LocalStorageEngine):
    """psycopg writer connection + group-commit thread, and a reader pool used via to_thread."""

    name = "postgresql"

    def __init__(
        self,
        url: str,
        tables: Iterable[str],
        *,
        readers: int,
        group_commit: bool,
        max_batch: int,
        connect_timeout: float,
        stalled_after: float,
    ) -> None:
        self._tables = frozenset(tables)
        self._closed = False
        self._close_lock = threading.Lock()
        self._committer = PostgresCommitter(url, connect_timeout, stalled_after)
        conn = self._committer.connect()  # fail fast on a wrong URL, before any thread starts
        _create_schema(conn)
        self._pool = ConnectionPool(
            url,
            min_size=readers,
            max_size=readers,
            kwargs={"autocommit": True, "connect_timeout": int(connect_timeout)},
            timeout=connect_timeout,
            open=False,
            name="chinwag-readers",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except BaseException:
            self._committer.close()
            raise
        self._readers = readers
        self._limiter = trio.CapacityLimiter(readers)
        self._url = url
        self._connect_timeout = connect_timeout
        self._sync_conn: psycopg.Connection[Any] | None = None
        self._sync_lock = threading.Lock()
        self._writer = GroupCommitWriter(
            self._committer, group_commit=group_commit, max_batch=max_batch
        )

    @classmethod
    def open(
        cls,
        url: str,
        tables: Iterable[str],
        *,
        readers: int = 4,
        group_commit: bool = True,
        max_batch: int = 1024,
        connect_timeout: float = 10.0,
        stalled_after: float = 5.0,
    ) -> PostgresEngine:
        """Connect (blocking: call before serving or from a thread), create the table if new.

        `stalled_after`: seconds a writer transaction may sit idle before the server ends it,
        releasing its row locks (see PostgresCommitter).
        """
        names = list(dict.fromkeys(tables))
        if not names:
            raise StorageError("PostgresEngine.open needs at least one table name")
        try:
            return cls(
                url,
                names,
                readers=max(1, readers),
                group_commit=group_commit,
                max_batch=max_batch,
                connect_timeout=connect_timeout,
                stalled_after=stalled_after,
            )
        except psycopg.Error as exc:
            # The driver's message can carry the host and user: logged, not returned.
            log.error("cannot open PostgreSQL storage: %s", exc)
            raise StorageError(
                f"cannot open the PostgreSQL database ({type(exc).__name__}); see the log"
            ) from None

    # -- reads: a worker thread per read, bounded by the pool size ---------------------------

    def _table(self, table: str) -> None:
        if table not in self._tables:
            raise StorageError(
                f"unknown table {table!r}; the engine was opened with {sorted(self._tables)}"
            )

    async def _read(self, fn: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        if self._closed:
            raise StorageClosed("the storage engine is closed")
        return await trio.to_thread.run_sync(self._read_sync, fn, limiter=self._limiter)

    def _read_sync(self, fn: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        # A connection dropped since its last use (server restart, idle kill) fails once and is
        # discarded by the pool; every pooled one may be dead, so retry past all of them.
        attempts = self._readers + 1
        for attempt in range(1, attempts + 1):
            try:
                with self._pool.connection() as conn:
                    return fn(conn)
            except psycopg.OperationalError as exc:
                if attempt == attempts or self._closed:
                    log.error("PostgreSQL read failed: %s", exc)
                    raise StorageError("the database is unreachable; the read failed") from None
            except psycopg.Error as exc:
                log.error("PostgreSQL read failed: %s", exc)
                raise StorageError(f"the read failed ({type(exc).__name__})") from None
        raise AssertionError("unreachable")

    async def _arows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """One query's rows from a pooled connection in a worker thread (the async twin of
        `_sync_read`: the same statements, so get/scan/count shape their rows alike)."""
        return await self._read(lambda conn: conn.execute(sql, params).fetchall())

    async def aget(self, table: str, key: bytes) -> bytes | None:
        self._table(table)
        if not key or len(key) > MAX_KEY_BYTES:
            return None  # such a key can never have been stored
        return _value(await self._arows(_GET, (table, key)))

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
        self._table(table)
        query = _scan_query(table, prefix, start, end, reverse, limit)
        if query is None:
            return []
        return _pairs(await self._arows(*query))

    async def acount(self, table: str, prefix: bytes = b"") -> int:
        self._table(table)
        return _count(await self._arows(*_count_query(table, prefix)))

    # -- interim synchronous reads (see LocalStorageEngine) -----------------------------------
    #
    # Callers not yet moved to aget/ascan/acount (the facade's lookups behind HTTP handlers,
    # the integrations' inbox and outbox) still read synchronously. On PostgreSQL such a read is
    # one round trip on the caller's thread over a dedicated connection, bounded by a statement
    # timeout (SYNC_READ_TIMEOUT) and a short connect timeout so the Trio thread can never wait
    # long; a failure is a StorageError like any other. The actors' reads are async already.

    def _sync_read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._closed:
            raise StorageClosed("the storage engine is closed")
        with self._sync_lock:
            for attempt in (1, 2):
                try:
                    conn = self._sync_conn
                    if conn is None or conn.closed or conn.broken:
                        conn = self._sync_conn = psycopg.connect(
                            self._url,
                            autocommit=True,
                            connect_timeout=max(1, int(min(self._connect_timeout, 2))),
                            options=f"-c statement_timeout={int(SYNC_READ_TIMEOUT * 1000)}",
                        )
                    return conn.execute(sql, params).fetchall()
                except psycopg.OperationalError as exc:
                    # A connection dropped since its last use fails once: reconnect and retry.
                    if self._sync_conn is not None:
                        self._sync_conn.close()
                    self._sync_conn = None
                    if attempt == 2 or self._closed:
                        log.error("PostgreSQL read failed: %s", exc)
                        raise StorageError("the database is unreachable; the read failed") from None
                except psycopg.Error as exc:
                    log.error("PostgreSQL read failed: %s", exc)
                    raise StorageError(f"the read failed ({type(exc).__name__})") from None
        raise AssertionError("unreachable")

    def get(self, table: str, key: bytes) -> bytes | None:
        self._table(table)
        if not key or len(key) > MAX_KEY_BYTES:
            return None
        return _value(self._sync_read(_GET, (table, key)))

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
        self._table(table)
        query = _scan_query(table, prefix, start, end, reverse, limit)
        if query is None:
            return []
        return _pairs(self._sync_read(*query))

    def count(self, table: str, prefix: bytes = b"") -> int:
        self._table(table)
        return _count(self._sync_read(*_count_query(table, prefix)))

    # -- writes: handed to the writer thread ------------------------------------------------

    async def write(self, *ops: Write) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if not ops:
            return
        self._validate(ops)
        self._writer.enqueue((ops, None, _current_trio_token(), _current_task()))
        # Once queued, the write happens whatever we do: cancellation waits for the outcome.
        await _wait_task_rescheduled(_cannot_abort)

    def write_threadsafe(
        self, ops: Sequence[Write], on_done: Callable[[BaseException | None], None]
    ) -> None:
        ops = tuple(ops)
        self._validate(ops)
        self._writer.submit(ops, on_done)

    def _validate(self, ops: Sequence[Write]) -> None:
        """Refuse malformed ops and out-of-range keys before queueing, as LMDB would refuse them."""
        if self._closed:
            raise StorageClosed("the storage engine is closed; the write was not applied")
        for op in ops:
            validate_op(op, self._table)
            key = getattr(op, "key", None)
            if key is not None and not 0 < len(key) <= MAX_KEY_BYTES:
                raise StorageError(
                    f"{type(op).__name__} on table {op.table!r} failed: a key must be 1 to "
                    f"{MAX_KEY_BYTES} bytes, not {len(key)}"
                )

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the connections; idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._writer.stop()
            self._closed = True
        self._committer.close()
        self._pool.close()
        with self._sync_lock:
            if self._sync_conn is not None:
                self._sync_conn.close()
                self._sync_conn = None

    @property
    def commit_stats(self) -> tuple[int, int]:
        """(transactions committed, write calls committed): their ratio is the mean batch."""
        return self._committer.commits, self._committer.calls


def _scan_query(
    table: str,
    prefix: bytes,
    start: bytes | None,
    end: bytes | None,
    reverse: bool,
    limit: int | None,
) -> tuple[str, list[Any]] | None:
    """The SELECT of a scan and its parameters; None when the range or the limit is empty."""
    if limit is not None and limit <= 0:
        return None
    where = _range_sql(prefix, start, end)
    if where is None:
        return None
    sql = "SELECT k, v FROM chinwag_kv WHERE tbl = %s" + where[0]
    sql += " ORDER BY k DESC" if reverse else " ORDER BY k"
    params: list[Any] = [table, *where[1]]
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    return sql, params


def _count_query(table: str, prefix: bytes) -> tuple[str, list[Any]]:
    where = _range_sql(prefix, None, None)
    assert where is not None  # a prefix-only range is never empty
    return "SELECT count(*) FROM chinwag_kv WHERE tbl = %s" + where[0], [table, *where[1]]


def _create_schema(conn: psycopg.Connection[Any]) -> None:
    """CREATE TABLE IF NOT EXISTS; nodes starting together may race on it, so retry once."""
    for attempt in (1, 2):
        try:
            conn.execute(SCHEMA)
            conn.commit()
            return
        except pg_errors.UniqueViolation:
            conn.rollback()
            if attempt == 2:
                raise


__all__ = ["PostgresEngine"]


def _value(rows: list[tuple[Any, ...]]) -> bytes | None:
    """A get's result: the value of its one row, if any."""
    return bytes(rows[0][0]) if rows else None


def _pairs(rows: list[tuple[Any, ...]]) -> list[tuple[bytes, bytes]]:
    """A scan's result: (key, value) pairs as bytes (psycopg returns bytea as memoryview)."""
    return [(bytes(k), bytes(v)) for k, v in rows]


def _count(rows: list[tuple[Any, ...]]) -> int:
    return int(rows[0][0]) if rows else 0
