"""Tag lookup latency at 10k vs 1M stored sessions (the read path of a tag call).

Target (issue 2): latency growth from 10k to 1M sessions <= 1.5x. The lookup is the tag index
get plus the session record decode, exactly what a tag call reads before renewing.
Run: .venv/bin/python bench/bench_tag_lookup.py [large_count]
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time

import trio
import uuid_utils

from chinwag.records import Session
from chinwag.storage.codec import encode
from chinwag.storage.engine import LmdbEngine, Put
from chinwag.storage.keys import TABLES, client_session_key, id_bytes, tag_key
from chinwag.storage.repository import Repository

CLIENT = str(uuid_utils.uuid7())
LOOKUPS = 20_000


def session_ops(index: int) -> list[Put]:
    session_id = str(uuid_utils.uuid7())
    session = Session(
        id=session_id,
        client_id=CLIENT,
        tag=f"user-{index}",
        metadata={"crm": index},
        created_at=1.0,
        expires_at=2.0,
    )
    sid = id_bytes(session_id)
    return [
        Put("sessions", sid, encode(session)),
        Put("tags", tag_key(CLIENT, session.tag or ""), sid),
        Put("client_sessions", client_session_key(CLIENT, session_id), b""),
    ]


async def fill(engine: LmdbEngine, count: int) -> None:
    batch = 5_000

    async def writer(start: int) -> None:
        for first in range(start, count, batch * 8):
            ops = [op for i in range(first, min(first + batch, count)) for op in session_ops(i)]
            await engine.write(*ops)

    async with trio.open_nursery() as nursery:
        for lane in range(8):
            nursery.start_soon(writer, lane * batch)


def lookup_latencies(repo: Repository, count: int) -> list[float]:
    rng = random.Random(7)
    tags = [f"user-{rng.randrange(count)}" for _ in range(LOOKUPS)]
    samples = []
    for tag in tags:
        start = time.perf_counter_ns()
        session_id = repo.session_id_by_tag(CLIENT, tag)
        session = repo.session(session_id) if session_id else None
        samples.append((time.perf_counter_ns() - start) / 1000)
        assert session is not None and session.tag == tag
    return samples


def measure(count: int) -> tuple[float, float]:
    engine = LmdbEngine.open(tempfile.mkdtemp(prefix="chinwag-tags-"), TABLES, map_size=1 << 32)
    try:
        trio.run(fill, engine, count)
        repo = Repository(engine)
        lookup_latencies(repo, count)  # warm the page cache like a running server
        samples = sorted(lookup_latencies(repo, count))
        return statistics.median(samples), samples[int(len(samples) * 0.99)]
    finally:
        engine.close()


def main() -> None:
    large = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rows = []
    for count in (10_000, large):
        started = time.perf_counter()
        p50, p99 = measure(count)
        rows.append((count, p50, p99, time.perf_counter() - started))
    print(f"{'stored sessions':>16}{'p50 us':>10}{'p99 us':>10}{'(fill+measure s)':>18}")
    for count, p50, p99, took in rows:
        print(f"{count:>16,}{p50:>10.2f}{p99:>10.2f}{took:>18.1f}")
    growth = rows[1][1] / rows[0][1]
    print(f"p50 growth 10k -> {large:,}: {growth:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
