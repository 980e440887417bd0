"""Which PostgreSQL client to drive from Trio: durable writes/s and reads/s at 1 and 64 tasks.

Compared in one run, interleaved rounds, on a throwaway local cluster (fsync on):
- engine      chinwag's PostgresEngine: psycopg 3 sync API; writes on one writer thread with
              group commit (concurrent calls share a transaction), reads via trio.to_thread on a
              psycopg_pool of 8 connections.
- to_thread   psycopg 3 sync API, every op in trio.to_thread on a psycopg_pool of 8 autocommit
              connections (one transaction per write; PostgreSQL's own WAL flush grouping only).
- pg-purepy   a pure-Python Trio-native (anyio) driver, pool of 8, one transaction per write.
              (psycopg's async API is asyncio-only; asyncpg likewise; triopg needs trio-asyncio
              and is unmaintained since 2021.) Skipped with a note when it is not installed.

Run: .venv/bin/python bench/bench_pg_client.py   (needs Debian's postgresql-15, as the tests do)
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.postgres import throwaway_cluster

from chinwag.storage.engine import Put
from chinwag.storage.postgres import PostgresEngine

POOL = 8
VALUE = b"v" * 200
OPS_PER_TASK = {1: 400, 64: 40}
ROUNDS = 5
UPSERT = (
    "INSERT INTO chinwag_kv (tbl, k, v) VALUES (%s, %s, %s)"
    " ON CONFLICT (tbl, k) DO UPDATE SET v = EXCLUDED.v"
)
GET = "SELECT v FROM chinwag_kv WHERE tbl = %s AND k = %s"

Op = Callable[[bytes], Awaitable[object]]


@asynccontextmanager
async def engine_client(url: str) -> AsyncIterator[tuple[Op, Op]]:
    engine = PostgresEngine.open(url, ["bench"], readers=POOL)
    try:

        async def write(key: bytes) -> None:
            await engine.write(Put("bench", key, VALUE))

        async def read(key: bytes) -> object:
            return await engine.aget("bench", key)

        yield write, read
    finally:
        engine.close()


@asynccontextmanager
async def to_thread_client(url: str) -> AsyncIterator[tuple[Op, Op]]:
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(
        url, min_size=POOL, max_size=POOL, kwargs={"autocommit": True}, open=False
    )
    pool.open(wait=True)
    limiter = trio.CapacityLimiter(POOL)
    try:

        def write_sync(key: bytes) -> None:
            with pool.connection() as conn:
                conn.execute(UPSERT, ("bench", key, VALUE))

        def read_sync(key: bytes) -> object:
            with pool.connection() as conn:
                return conn.execute(GET, ("bench", key)).fetchone()

        async def write(key: bytes) -> None:
            await trio.to_thread.run_sync(write_sync, key, limiter=limiter)

        async def read(key: bytes) -> object:
            return await trio.to_thread.run_sync(read_sync, key, limiter=limiter)

        yield write, read
    finally:
        pool.close()


@asynccontextmanager
async def purepy_client(url: str) -> AsyncIterator[tuple[Op, Op]]:
    import structlog
    from pg_purepy import open_pool

    # pg-purepy logs every protocol message at debug level through structlog; measured quiet.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parts = urlsplit(url)
    async with open_pool(
        parts.hostname or "127.0.0.1",
        parts.username or "",
        port=parts.port or 5432,
        password=parts.password,
        database=parts.path.lstrip("/"),
        connection_count=POOL,
    ) as pool:
        upsert = UPSERT.replace("%s", "{}").format(":t", ":k", ":v")
        get = GET.replace("%s", "{}").format(":t", ":k")

        async def write(key: bytes) -> None:
            await pool.execute(upsert, t="bench", k=key, v=VALUE)

        async def read(key: bytes) -> object:
            return await pool.fetch(get, t="bench", k=key)

        yield write, read


CLIENTS: dict[str, Callable[[str], object]] = {
    "engine": engine_client,
    "to_thread": to_thread_client,
    "pg-purepy": purepy_client,
}


async def measure(op: Op, tasks: int, round_: int, name: str) -> float:
    per_task = OPS_PER_TASK[tasks]

    async def worker(t: int) -> None:
        for i in range(per_task):
            await op(f"{name}:{round_}:{t}:{i % 50}".encode())

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for t in range(tasks):
            nursery.start_soon(worker, t)
    return tasks * per_task / (time.perf_counter() - start)


async def run(url: str) -> dict[tuple[str, str, int], list[float]]:
    # The table exists before any client runs (the engine creates it).
    PostgresEngine.open(url, ["bench"]).close()
    results: dict[tuple[str, str, int], list[float]] = {}
    available = {}
    for name, factory in CLIENTS.items():
        try:
            async with factory(url) as _client:  # type: ignore[attr-defined]
                available[name] = factory
        except ImportError as exc:
            print(f"{name}: not installed ({exc.name}); skipped")
    for round_ in range(ROUNDS):
        for name, factory in available.items():
            async with factory(url) as (write, read):  # type: ignore[attr-defined]
                for tasks in (1, 64):
                    for kind, op in (("write", write), ("read", read)):
                        rate = await measure(op, tasks, round_, name)
                        results.setdefault((name, kind, tasks), []).append(rate)
    return results


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    with throwaway_cluster() as cluster:
        results = trio.run(run, cluster.url)
    print(f"PostgreSQL clients from Trio, median of {ROUNDS} interleaved rounds (ops/s):")
    names = list(dict.fromkeys(name for name, _, _ in results))
    for kind in ("write", "read"):
        for tasks in (1, 64):
            base = statistics.median(results[("to_thread", kind, tasks)])
            cells = []
            for name in names:
                rate = statistics.median(results[(name, kind, tasks)])
                cells.append(f"{name} {rate:8.0f} ({rate / base:4.2f}x)")
            print(f"{kind:5} {tasks:2} tasks: " + " | ".join(cells))


if __name__ == "__main__":
    main()
