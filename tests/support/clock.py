"""A MockClock that never jumps while real work is still on its way.

`MockClock(autojump_threshold=t)` jumps to the next deadline once every task has been blocked
for `t` real seconds. It cannot tell "idle" from "waiting on another thread": a storage commit
(writer thread + fsync) or a `trio.to_thread` call that takes longer than `t` on a loaded
machine lets virtual time leap past a debounce window, a typing repeat or an HTTP timeout in the
middle of a request — so a test would check timing that the code never produced.

`settling_clock(t)` makes a MockClock that holds the jump while such work is in flight:
storage writes queued or committing (`chinwag.storage.writer.writes_in_flight`), threads
borrowed from Trio's default thread limiter, and thread wake-ups already posted to the run
loop. Trio calls `_autojump` again after the next idle `t`, so the jump happens as soon as the
work is done. Loopback
sockets need no such guard: a send is readable by the peer at once, so it is never "idle".

(`_autojump` is MockClock's hook for the run loop; trio is pinned in constraints.txt, and
tests/storage/test_writes_in_flight.py fails if the hook stops being called.)
"""

from __future__ import annotations

import time

import trio
import trio.testing

from chinwag.storage.writer import writes_in_flight


def real_work_in_flight() -> bool:
    """True while something outside the Trio run loop is still working for a task."""
    if writes_in_flight():
        return True
    if trio.to_thread.current_default_thread_limiter().borrowed_tokens:
        return True
    return trio.lowlevel.current_statistics().run_sync_soon_queue_size > 0


class _Settling:
    """The replacement `_autojump`: skip (and count) a jump while real work is in flight."""

    def __init__(self, clock: trio.testing.MockClock) -> None:
        self.clock = clock
        self.jump = clock._autojump  # MockClock's own: jump to the next deadline
        self.held = 0

    def __call__(self) -> None:
        if real_work_in_flight():
            self.held += 1
            # With a threshold of 0 the run loop would spin on the GIL the worker needs.
            time.sleep(0.001)
            return
        self.jump()


def settling_clock(autojump_threshold: float) -> trio.testing.MockClock:
    """A MockClock whose autojump waits for storage commits and worker threads to finish.

    MockClock is final, so the run loop's hook is replaced on the instance;
    `held_jumps(clock)` says how often a jump was postponed.
    """
    clock = trio.testing.MockClock(autojump_threshold=autojump_threshold)
    clock._autojump = _Settling(clock)  # type: ignore[method-assign]
    return clock


def held_jumps(clock: trio.testing.MockClock) -> int:
    """How many autojumps a settling_clock postponed because real work was in flight."""
    hook = clock._autojump
    return hook.held if isinstance(hook, _Settling) else 0
