"""The writer thread under concurrency: acknowledgements, batch isolation, cancellation."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

from chinwag.storage.engine import LmdbEngine, Put
from chinwag.storage.errors import StorageError


def hold_writer(engine: LmdbEngine) -> threading.Event:
    """Park the writer thread inside an on_done callback until the returned event is set.

    Everything written meanwhile queues up and is committed as one batch afterwards, which makes
    batch behaviour deterministic without reaching into the writer.
    """
    release = threading.Event()
    entered = threading.Event()

    def block(_error: BaseException | None) -> None:
        entered.set()
        release.wait(30)

    engine.write_threadsafe([Put("keys", b"holder", b"1")], block)
    assert entered.wait(10)
    return release


@pytest.mark.parametrize("group_commit", [True, False])
async def test_many_concurrent_writers_all_acknowledged_and_present(
    data_dir, group_commit: bool
) -> None:
    engine = LmdbEngine.open(data_dir, ["messages"], group_commit=group_commit, max_batch=64)
    acknowledged: list[bytes] = []

    async def writer(n: int) -> None:
        for i in range(10):
            key = f"{n:04d}:{i:04d}".encode()
            await engine.write(Put("messages", key, key * 3))
            acknowledged.append(key)

    try:
        async with trio.open_nursery() as nursery:
            for n in range(200):
                nursery.start_soon(writer, n)
        assert len(acknowledged) == 2000
        assert engine.count("messages") == 2000
        assert all(engine.get("messages", k) == k * 3 for k in acknowledged)
    finally:
        engine.close()


async def test_a_failing_call_does_not_fail_its_batch(engine: LmdbEngine) -> None:
    outcomes: dict[int, str] = {}

    async def writer(n: int) -> None:
        key = b"" if n % 3 == 1 else f"k{n}".encode()  # LMDB refuses empty keys
        try:
            await engine.write(
                Put("messages", f"side{n}".encode(), b"1"), Put("messages", key, b"v")
            )
        except StorageError as exc:
            outcomes[n] = f"error: {exc}"
        else:
            outcomes[n] = "ok"

    release = hold_writer(engine)
    async with trio.open_nursery() as nursery:
        for n in range(30):
            nursery.start_soon(writer, n)
        await trio.testing.wait_all_tasks_blocked()
        release.set()  # all 30 calls are queued: they go into one transaction together
    for n in range(30):
        if n % 3 == 1:
            assert outcomes[n].startswith("error: Put on table 'messages' failed")
            assert engine.get("messages", f"side{n}".encode()) is None  # its whole call undone
        else:
            assert outcomes[n] == "ok"
            assert engine.get("messages", f"k{n}".encode()) == b"v"
            assert engine.get("messages", f"side{n}".encode()) == b"1"


async def test_all_calls_of_a_batch_failing_leaves_nothing(engine: LmdbEngine) -> None:
    errors: list[BaseException] = []

    async def bad(n: int) -> None:
        with pytest.raises(StorageError) as info:
            await engine.write(Put("messages", f"x{n}".encode(), b"1"), Put("messages", b"", b""))
        errors.append(info.value)

    release = hold_writer(engine)
    async with trio.open_nursery() as nursery:
        for n in range(5):
            nursery.start_soon(bad, n)
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    assert len(errors) == 5
    assert engine.count("messages") == 0


async def test_cancelled_while_queued_still_learns_the_write_landed(engine: LmdbEngine) -> None:
    release = hold_writer(engine)
    finished: list[str] = []

    async def writer(scope_box: list[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            scope_box.append(scope)
            await engine.write(Put("messages", b"landed", b"1"))
            finished.append("returned")
            await trio.lowlevel.checkpoint()  # the deferred cancellation is delivered here
            finished.append("not reached")

    box: list[trio.CancelScope] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer, box)
        await trio.testing.wait_all_tasks_blocked()
        box[0].cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert finished == []  # still waiting for the commit despite the cancel
        release.set()
    assert finished == ["returned"]
    assert engine.get("messages", b"landed") == b"1"


async def test_cancelled_before_queueing_writes_nothing(engine: LmdbEngine) -> None:
    with trio.CancelScope() as scope:
        scope.cancel()
        await engine.write(Put("messages", b"never", b"1"))
    assert scope.cancelled_caught
    assert engine.get("messages", b"never") is None


async def test_writes_from_threads_and_trio_mix(engine: LmdbEngine) -> None:
    done = threading.Semaphore(0)
    errors: list[BaseException | None] = []

    def on_done(error: BaseException | None) -> None:
        errors.append(error)
        done.release()

    def thread_writer(n: int) -> None:
        for i in range(50):
            engine.write_threadsafe([Put("sessions", f"t{n}:{i}".encode(), b"1")], on_done)

    threads = [threading.Thread(target=thread_writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    async with trio.open_nursery() as nursery:
        for n in range(50):
            nursery.start_soon(engine.write, Put("sessions", f"trio{n}".encode(), b"1"))
    for thread in threads:
        thread.join()
    for _ in range(200):
        assert done.acquire(timeout=10)
    assert errors == [None] * 200
    assert engine.count("sessions") == 250


async def test_close_commits_and_acknowledges_queued_trio_writes(data_dir) -> None:
    engine = LmdbEngine.open(data_dir, ["messages", "keys"])
    release = hold_writer(engine)
    acknowledged: list[int] = []

    async def writer(n: int) -> None:
        await engine.write(Put("messages", f"q{n}".encode(), b"1"))
        acknowledged.append(n)

    async with trio.open_nursery() as nursery:
        for n in range(20):
            nursery.start_soon(writer, n)
        await trio.testing.wait_all_tasks_blocked()
        closing = threading.Thread(target=engine.close)
        closing.start()  # close() now waits behind the queued writes
        release.set()
    closing.join(10)
    assert not closing.is_alive()
    assert sorted(acknowledged) == list(range(20))
    reopened = LmdbEngine.open(data_dir, ["messages", "keys"])
    try:
        assert reopened.count("messages") == 20
    finally:
        reopened.close()


def test_close_racing_writers_loses_no_acknowledged_write(data_dir) -> None:
    engine = LmdbEngine.open(data_dir, ["messages"])
    acknowledged: list[bytes] = []
    submitted: list[bytes] = []
    answered = threading.Semaphore(0)
    started = threading.Barrier(5)
    enough = threading.Event()

    def thread_writer(n: int) -> None:
        started.wait()
        i = 0
        while True:
            key = f"{n}:{i}".encode()

            def on_done(error: BaseException | None, key: bytes = key) -> None:
                if error is None:
                    acknowledged.append(key)
                answered.release()

            try:
                engine.write_threadsafe([Put("messages", key, b"1")], on_done)
            except StorageError:
                return  # closed: this call was refused and never queued
            submitted.append(key)
            if len(submitted) >= 2000:
                enough.set()
            i += 1

    threads = [threading.Thread(target=thread_writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    assert enough.wait(30)
    engine.close()  # while the four threads are still submitting
    for thread in threads:
        thread.join(10)
    for _ in submitted:  # every queued call got exactly one answer...
        assert answered.acquire(timeout=10)
    assert not answered.acquire(timeout=0.01)
    assert len(acknowledged) == len(submitted)  # ...and it was a success
    reopened = LmdbEngine.open(data_dir, ["messages"])
    try:
        assert all(reopened.get("messages", key) == b"1" for key in acknowledged)
    finally:
        reopened.close()
