"""Actor ask round-trips per second: chinwag's Trio actors vs pykka ThreadingActor, same run.

Target (issue 2): chinwag >= 10x pykka. Run: .venv/bin/python bench/bench_actor_ask.py
"""

from __future__ import annotations

import threading
import time

import pykka
import trio

from chinwag.runtime import Actor, open_actor_system

ROUNDS = 50_000


class TrioEcho(Actor):
    async def receive(self, message: int) -> int:
        return message


class PykkaEcho(pykka.ThreadingActor):
    def on_receive(self, message: int) -> int:
        return message


async def chinwag_rate(rounds: int) -> float:
    async with open_actor_system() as system:
        ref = system.spawn(TrioEcho, name="echo")
        start = time.perf_counter()
        for i in range(rounds):
            await ref.ask(i)
        elapsed = time.perf_counter() - start
        ref.stop()
    return rounds / elapsed


async def chinwag_concurrent_rate(rounds: int, askers: int) -> float:
    async with open_actor_system() as system:
        ref = system.spawn(TrioEcho, name="echo", mailbox_size=askers)

        async def asker() -> None:
            for i in range(rounds // askers):
                await ref.ask(i)

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(askers):
                nursery.start_soon(asker)
        elapsed = time.perf_counter() - start
        ref.stop()
    return rounds / elapsed


def pykka_concurrent_rate(rounds: int, askers: int) -> float:
    ref = PykkaEcho.start()

    def asker() -> None:
        for i in range(rounds // askers):
            ref.ask(i)

    try:
        threads = [threading.Thread(target=asker) for _ in range(askers)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
    finally:
        ref.stop()
    return rounds / elapsed


def pykka_rate(rounds: int) -> float:
    ref = PykkaEcho.start()
    try:
        start = time.perf_counter()
        for i in range(rounds):
            ref.ask(i)
        elapsed = time.perf_counter() - start
    finally:
        ref.stop()
    return rounds / elapsed


def main() -> None:
    askers = 32
    rows = [
        ("1 asker", trio.run(chinwag_rate, ROUNDS), pykka_rate(ROUNDS // 5)),
        (
            f"{askers} concurrent askers",
            trio.run(chinwag_concurrent_rate, ROUNDS * 2, askers),
            pykka_concurrent_rate(ROUNDS // 5, askers),
        ),
    ]
    print(f"{'actor ask round trips':<24}{'chinwag asks/s':>16}{'pykka asks/s':>14}{'ratio':>8}")
    for label, ours, theirs in rows:
        print(f"{label:<24}{ours:>16,.0f}{theirs:>14,.0f}{ours / theirs:>7.1f}x")
    print("target: chinwag >= 10x pykka ThreadingActor")


if __name__ == "__main__":
    main()
