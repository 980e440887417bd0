"""Durable writes per second: group commit vs one transaction (one fsync) per write call.

Both sides use the real LmdbEngine with sync=True on the same disk, 256 concurrent Trio tasks each
writing chat messages in a loop for a fixed time. The only difference is `group_commit`: the
baseline commits each call on its own, the default drains everything queued into one transaction.

    .venv/bin/python bench/bench_group_commit.py [--seconds 2] [--rounds 3] [--writers 256]
        [--dir PATH]

Put the data directory on a real disk (not tmpfs), or the fsyncs being saved cost nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chinwag.storage.engine import LmdbEngine, Put

MESSAGE = b"m" * 300  # a typical short chat message with its msgpack envelope


@dataclass
class Result:
    label: str
    writes: int
    seconds: float
    commits: int
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.writes / self.seconds


async def run_side(path: Path, *, group_commit: bool, writers: int, seconds: float) -> Result:
    engine = LmdbEngine.open(path, ["messages"], group_commit=group_commit)
    latencies: list[float] = []
    writes = 0
    try:
        deadline = trio.current_time() + seconds
        started = time.perf_counter()

        async def writer(n: int) -> None:
            nonlocal writes
            seq = 0
            session = f"session-{n:05d}:".encode()
            while trio.current_time() < deadline:
                t0 = time.perf_counter()
                await engine.write(Put("messages", session + seq.to_bytes(8, "big"), MESSAGE))
                latencies.append(time.perf_counter() - t0)
                writes += 1
                seq += 1

        async with trio.open_nursery() as nursery:
            for n in range(writers):
                nursery.start_soon(writer, n)
        elapsed = time.perf_counter() - started
        commits, _calls = engine.commit_stats
        assert engine.count("messages") == writes, "an acknowledged write is missing"
    finally:
        engine.close()
    label = "group commit" if group_commit else "txn per write"
    return Result(label, writes, elapsed, commits, latencies)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def main(args: argparse.Namespace) -> None:
    base = Path(args.dir) if args.dir else None
    results: list[Result] = []
    with tempfile.TemporaryDirectory(dir=base, prefix="chinwag-bench-") as tmp:
        # Interleaved rounds: a shared machine's noise hits both sides alike.
        for round_no in range(args.rounds):
            for group_commit in (False, True):
                path = Path(tmp) / f"r{round_no}-{'grouped' if group_commit else 'baseline'}"
                results.append(
                    await run_side(
                        path, group_commit=group_commit, writers=args.writers, seconds=args.seconds
                    )
                )
    print(
        f"durable writes (sync=True), {args.writers} concurrent Trio writers, "
        f"{args.seconds}s per side, {args.rounds} interleaved round(s)"
    )
    header = f"{'mode':<15}{'writes':>9}{'writes/s':>11}{'commits':>9}{'calls/commit':>14}"
    print(header + f"{'p50 ms':>9}{'p99 ms':>9}")
    for r in results:
        print(
            f"{r.label:<15}{r.writes:>9}{r.per_second:>11.0f}{r.commits:>9}"
            f"{r.writes / max(r.commits, 1):>14.1f}"
            f"{percentile(r.latencies, 50) * 1e3:>9.2f}{percentile(r.latencies, 99) * 1e3:>9.2f}"
        )
    baseline = statistics.median(r.per_second for r in results[0::2])
    grouped = statistics.median(r.per_second for r in results[1::2])
    print(
        f"median writes/s: txn per write {baseline:.0f}, group commit {grouped:.0f}; "
        f"speed-up {grouped / baseline:.1f}x (target >= 20x)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writers", type=int, default=256)
    parser.add_argument("--dir", help="parent directory for the data (default: system temp)")
    trio.run(main, parser.parse_args())
