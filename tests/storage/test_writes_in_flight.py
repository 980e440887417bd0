"""writes_in_flight() and the test settling_clock built on it: virtual time must not jump while a
commit is still on the writer thread (the cause of MockClock flakes on a loaded machine)."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing
from support.clock import held_jumps, settling_clock

from chinwag.storage.writer import GroupCommitWriter, writes_in_flight

COMMIT_SECONDS = 0.4  # real time a commit takes here: far above the clock's 0.01 s threshold


def _slow_writer(started: threading.Event, release: threading.Event) -> GroupCommitWriter:
    def commit(batch: list) -> dict[int, BaseException]:
        started.set()
        release.wait(10)
        return {}

    return GroupCommitWriter(commit, group_commit=True, max_batch=8)


async def _write(writer: GroupCommitWriter) -> None:
    """What LmdbEngine.write does: queue the call, park until the writer thread wakes us."""
    token, task = trio.lowlevel.current_trio_token(), trio.lowlevel.current_task()
    writer.enqueue(((), None, token, task))
    await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)


def _commit_then_timer(clock: trio.testing.MockClock) -> float:
    """Virtual time at which a write that takes COMMIT_SECONDS of real time is acknowledged,
    while another task sleeps 10 virtual seconds."""
    started, release = threading.Event(), threading.Event()
    writer = _slow_writer(started, release)
    threading.Timer(COMMIT_SECONDS, release.set).start()

    async def main() -> float:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep, 10)
            await _write(writer)
            return trio.current_time()

    try:
        return trio.run(main, clock=clock)
    finally:
        release.set()
        writer.stop()


def test_writes_in_flight_counts_queued_and_committing_calls() -> None:
    started, release = threading.Event(), threading.Event()
    writer = _slow_writer(started, release)
    before = writes_in_flight()
    done: list[BaseException | None] = []
    writer.submit((), done.append)
    writer.submit((), done.append)
    assert started.wait(5)
    assert writes_in_flight() == before + 2
    release.set()
    writer.stop()
    assert done == [None, None]
    assert writes_in_flight() == before


def test_settling_clock_waits_for_the_commit() -> None:
    clock = settling_clock(autojump_threshold=0.01)
    assert _commit_then_timer(clock) == pytest.approx(0.0)
    assert held_jumps(clock) > 0


def test_plain_mock_clock_jumps_past_the_commit() -> None:
    """The flake this guards against: an autojump taken while the commit is on disk."""
    assert _commit_then_timer(trio.testing.MockClock(autojump_threshold=0.01)) == 10.0
