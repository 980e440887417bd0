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

import lmdb
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


def raw_lmdb_latencies(path: str, count: int) -> list[float]:
    """Baseline: the same two gets with py-lmdb directly (no engine, no decode)."""
    env = lmdb.open(path, max_dbs=len(TABLES) + 1, readonly=True, lock=False)
    tags_db, sessions_db = (
        env.open_db(b"tags", create=False),
        env.open_db(b"sessions", create=False),
    )
    rng = random.Random(7)
    keys = [tag_key(CLIENT, f"user-{rng.randrange(count)}") for _ in range(LOOKUPS)]
    samples = []
    for _ in range(2):  # the first pass warms the page cache
        samples = []
        for key in keys:
            start = time.perf_counter_ns()
            with env.begin() as txn:
                session_id = txn.get(key, db=tags_db)
                raw = txn.get(session_id, db=sessions_db)
            samples.append((time.perf_counter_ns() - start) / 1000)
            assert raw is not None
    env.close()
    return samples


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99)]


def measure(count: int) -> tuple[tuple[float, float], tuple[float, float]]:
    path = tempfile.mkdtemp(prefix="chinwag-tags-")
    engine = LmdbEngine.open(path, TABLES, map_size=1 << 32)
    try:
        trio.run(fill, engine, count)
        repo = Repository(engine)
        lookup_latencies(repo, count)  # warm the page cache like a running server
        ours = percentiles(lookup_latencies(repo, count))
    finally:
        engine.close()
    return ours, percentiles(raw_lmdb_latencies(path, count))


def main() -> None:
    large = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rows = []
    for count in (10_000, large):
        ours, raw = measure(count)
        rows.append((count, ours, raw))
    print(f"{'stored sessions':>16}{'chinwag p50/p99 us':>22}{'raw py-lmdb p50/p99 us':>26}")
    for count, (p50, p99), (raw50, raw99) in rows:
        print(f"{count:>16,}{p50:>13.2f} /{p99:>7.2f}{raw50:>17.2f} /{raw99:>7.2f}")
    growth = rows[1][1][0] / rows[0][1][0]
    raw_growth = rows[1][2][0] / rows[0][2][0]
    print(f"p50 growth 10k -> {large:,}: chinwag {growth:.2f}x, raw py-lmdb {raw_growth:.2f}x")
    print("target: chinwag growth <= 1.5x")


if __name__ == "__main__":
    main()
