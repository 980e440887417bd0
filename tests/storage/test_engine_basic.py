"""Reads and single writes: get/scan/count semantics, deletes, validation, close."""

from __future__ import annotations

import threading

import pytest

from chinwag.errors import ChinwagError
from chinwag.storage.engine import Delete, DeletePrefix, LmdbEngine, Put
from chinwag.storage.errors import StorageClosed, StorageError

KEYS = [b"a", b"a\x00", b"a\xff", b"ab", b"abc", b"abd", b"b", b"b\xff\xff", b"ba", b"c"]


async def fill(engine: LmdbEngine) -> None:
    await engine.write(*(Put("messages", k, b"v:" + k) for k in KEYS))


async def test_put_get_overwrite_and_missing(engine: LmdbEngine) -> None:
    assert engine.get("messages", b"k") is None
    await engine.write(Put("messages", b"k", b"one"))
    assert engine.get("messages", b"k") == b"one"
    await engine.write(Put("messages", b"k", b"two"))
    assert engine.get("messages", b"k") == b"two"
    assert engine.get("sessions", b"k") is None  # tables are separate namespaces
    assert engine.get("messages", b"") is None


async def test_scan_whole_table_in_key_order_and_reverse(engine: LmdbEngine) -> None:
    await fill(engine)
    assert [k for k, _ in engine.scan("messages")] == sorted(KEYS)
    assert [k for k, _ in engine.scan("messages", reverse=True)] == sorted(KEYS, reverse=True)
    assert engine.scan("messages", limit=2) == [(b"a", b"v:a"), (b"a\x00", b"v:a\x00")]
    assert [k for k, _ in engine.scan("messages", reverse=True, limit=2)] == [b"c", b"b\xff\xff"]
    assert engine.scan("messages", limit=0) == []
    assert engine.scan("sessions") == []
    assert engine.scan("sessions", reverse=True) == []


def expected(prefix: bytes, start: bytes | None, end: bytes | None) -> list[bytes]:
    return [
        k
        for k in sorted(KEYS)
        if k.startswith(prefix) and (start is None or k >= start) and (end is None or k < end)
    ]


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"b", b"b\xff", b"\xff", b"zz"])
@pytest.mark.parametrize("start", [None, b"", b"a\x00", b"abd", b"b\xff", b"d"])
@pytest.mark.parametrize("end", [None, b"a", b"abd", b"b\xff\xff", b"c", b"z"])
async def test_scan_bounds_match_a_plain_filter(
    engine: LmdbEngine, prefix: bytes, start: bytes | None, end: bytes | None
) -> None:
    await fill(engine)
    want = expected(prefix, start, end)
    got = engine.scan("messages", prefix=prefix, start=start, end=end)
    assert [k for k, _ in got] == want
    assert all(v == b"v:" + k for k, v in got)
    back = engine.scan("messages", prefix=prefix, start=start, end=end, reverse=True)
    assert [k for k, _ in back] == want[::-1]
    limited = engine.scan("messages", prefix=prefix, start=start, end=end, reverse=True, limit=1)
    assert [k for k, _ in limited] == want[::-1][:1]


async def test_count_whole_table_and_prefix(engine: LmdbEngine) -> None:
    assert engine.count("messages") == 0
    await fill(engine)
    assert engine.count("messages") == len(KEYS)
    assert engine.count("messages", b"a") == 6
    assert engine.count("messages", b"ab") == 3
    assert engine.count("messages", b"b\xff") == 1
    assert engine.count("messages", b"x") == 0


async def test_delete_and_delete_prefix(engine: LmdbEngine) -> None:
    await fill(engine)
    await engine.write(Delete("messages", b"abc"), Delete("messages", b"not-there"))
    assert engine.get("messages", b"abc") is None
    await engine.write(DeletePrefix("messages", b"a"))
    assert [k for k, _ in engine.scan("messages")] == [b"b", b"ba", b"b\xff\xff", b"c"]
    await engine.write(DeletePrefix("messages", b"b\xff"))
    assert [k for k, _ in engine.scan("messages")] == [b"b", b"ba", b"c"]
    await engine.write(DeletePrefix("messages", b"nothing"))
    assert engine.count("messages") == 3
    await engine.write(Put("sessions", b"s", b"1"), DeletePrefix("messages", b""))
    assert engine.count("messages") == 0
    assert engine.get("sessions", b"s") == b"1"
    await engine.write(Put("messages", b"again", b"1"))  # the emptied table still works
    assert engine.count("messages") == 1


async def test_one_call_is_atomic(engine: LmdbEngine) -> None:
    await engine.write(Put("messages", b"keep", b"1"))
    with pytest.raises(StorageError, match="messages"):
        # The third op is refused by LMDB (empty key) after two ops were applied in the txn.
        await engine.write(
            Put("messages", b"x1", b"1"), Delete("messages", b"keep"), Put("messages", b"", b"2")
        )
    assert engine.get("messages", b"x1") is None
    assert engine.get("messages", b"keep") == b"1"


async def test_bad_ops_are_refused_before_queueing(engine: LmdbEngine) -> None:
    with pytest.raises(StorageError, match="unknown table 'nope'"):
        await engine.write(Put("messages", b"k", b"v"), Put("nope", b"k", b"v"))
    with pytest.raises(StorageError, match="must be bytes"):
        await engine.write(Put("messages", "k", b"v"))  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="must be bytes"):
        await engine.write(Put("messages", b"k", "v"))  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="not a write operation"):
        await engine.write(("messages", b"k"))  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="unknown table"):
        engine.get("nope", b"k")
    assert engine.get("messages", b"k") is None
    assert issubclass(StorageError, ChinwagError)


async def test_write_threadsafe_from_another_thread(engine: LmdbEngine) -> None:
    done = threading.Event()
    results: list[tuple[BaseException | None, bytes | None]] = []

    def on_done(error: BaseException | None) -> None:
        results.append((error, engine.get("keys", b"t")))
        done.set()

    thread = threading.Thread(
        target=engine.write_threadsafe, args=([Put("keys", b"t", b"from-thread")], on_done)
    )
    thread.start()
    thread.join()
    assert done.wait(10)
    assert results == [(None, b"from-thread")]


async def test_write_threadsafe_reports_failure(engine: LmdbEngine) -> None:
    done = threading.Event()
    errors: list[BaseException | None] = []

    def on_done(error: BaseException | None) -> None:
        errors.append(error)
        done.set()

    engine.write_threadsafe([Put("keys", b"k" * 5000, b"v")], on_done)
    assert done.wait(10)
    assert isinstance(errors[0], StorageError)


async def test_close_flushes_and_is_idempotent(data_dir) -> None:
    engine = LmdbEngine.open(data_dir, ["t"])
    done = threading.Event()
    engine.write_threadsafe([Put("t", b"queued", b"1")], lambda _e: done.set())
    engine.close()
    assert done.is_set()  # close drained the queue before returning
    engine.close()
    with pytest.raises(StorageClosed):
        await engine.write(Put("t", b"k", b"v"))
    with pytest.raises(StorageClosed):
        engine.get("t", b"queued")
    reopened = LmdbEngine.open(data_dir, ["t"])
    try:
        assert reopened.get("t", b"queued") == b"1"
    finally:
        reopened.close()


def test_open_needs_tables(data_dir) -> None:
    with pytest.raises(StorageError, match="at least one table"):
        LmdbEngine.open(data_dir, [])


def test_sync_flag_reaches_lmdb(tmp_path) -> None:
    durable = LmdbEngine.open(tmp_path / "durable", ["t"])
    fast = LmdbEngine.open(tmp_path / "fast", ["t"], sync=False)
    try:
        assert durable.durable is True
        assert fast.durable is False
    finally:
        durable.close()
        fast.close()
