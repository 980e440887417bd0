"""Memory: RSS per live idle session actor, and per passivated session, vs pykka actors.

Targets (issue 2): <= 8 KiB per live idle session actor; no resident cost once passivated.
The baseline row is a pykka ThreadingActor per session, measured in the same run.
Run: .venv/bin/python bench/bench_session_memory.py [sessions]
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time

import psutil
import pykka
import trio

from chinwag.actors.session import GetSession
from chinwag.config import Settings
from chinwag.wiring import open_runtime

KIB = 1024


def rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def blocks() -> int:
    gc.collect()
    return sys.getallocatedblocks()


async def measure(sessions: int) -> tuple[float, float, float]:
    settings = Settings(
        data_dir=tempfile.mkdtemp(prefix="chinwag-mem-"), passivate_after_seconds=20.0
    )
    async with open_runtime(settings) as cw:
        gateway = await cw.create_gateway("echo", {"provider": "echo"})
        client = await cw.create_client({"name": "mem", "aiGatewayId": gateway.id})
        ids: list[str] = []

        async def create(count: int) -> None:
            for _ in range(count):
                opened = await cw.open_session(client.id, expires=3600, metadata={"user": "u"})
                ids.append(opened.session.id)

        async with trio.open_nursery() as nursery:
            for _ in range(64):
                nursery.start_soon(create, sessions // 64)
        # Warm up one activation so code paths and caches are loaded before measuring.
        await cw.sessions.ask(ids[0], GetSession())
        await trio.sleep(3)
        before = rss()
        before_blocks = blocks()
        for session_id in ids:
            await cw.sessions.ask(session_id, GetSession())
        live = rss()
        assert len(cw.sessions) == len(ids)
        await trio.sleep(settings.passivate_after_seconds + 1.5)
        assert len(cw.sessions) == 0, "sessions should have passivated"
        passivated = rss()
        leftover_blocks = blocks() - before_blocks
    n = len(ids)
    return (live - before) / n, (passivated - before) / n, leftover_blocks / n


class Idle(pykka.ThreadingActor):
    def on_receive(self, message: object) -> object:
        return message


def pykka_per_actor(count: int) -> float:
    before = rss()
    refs = [Idle.start() for _ in range(count)]
    for ref in refs:
        ref.ask("ping")
    after = rss()
    for ref in refs:
        ref.stop()
    return (after - before) / count


def main() -> None:
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    started = time.perf_counter()
    live, passivated, leftover = trio.run(measure, sessions)
    baseline = pykka_per_actor(2_000)
    print(f"sessions: {sessions:,} ({time.perf_counter() - started:.1f} s)")
    print(f"{'per session':<40}{'RSS':>12}")
    print(f"{'chinwag live idle session actor':<40}{live / KIB:>9.2f} KiB   (target <= 8 KiB)")
    print(f"{'chinwag passivated session':<40}{passivated / KIB:>9.2f} KiB   (target ~0)")
    label = "  Python objects left per passivated"
    print(f"{label:<40}{leftover:>9.2f} blocks (the RSS kept is allocator pools)")
    print(f"{'pykka ThreadingActor (baseline)':<40}{baseline / KIB:>9.2f} KiB")
    print(f"ratio pykka/chinwag live: {baseline / max(live, 1):.1f}x")


if __name__ == "__main__":
    main()
