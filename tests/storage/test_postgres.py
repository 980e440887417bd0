"""PostgreSQL-only behaviour: several engines (nodes) on one database, lost connections, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import trio
import trio.testing
from support.postgres import Cluster

from chinwag.storage.engine import Check, CompareAndSet, ConditionFailed, Put, PutIfAbsent
from chinwag.storage.errors import StorageError
from chinwag.storage.postgres import PostgresEngine

from .contract import Backend, hold_writer, make_backend


@pytest.fixture
def pg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend("postgresql", tmp_path, request)


async def test_put_if_absent_race_across_nodes_has_one_winner(pg: Backend) -> None:
    nodes = [pg.open() for _ in range(3)]
    winners: list[tuple[int, int]] = []

    async def claim(node: int, n: int) -> None:
        try:
            await nodes[node].write(PutIfAbsent("sessions", b"tag", f"{node}:{n}".encode()))
        except ConditionFailed:
            return
        winners.append((node, n))

    for round_ in range(5):
        winners.clear()
        async with trio.open_nursery() as nursery:
            for node in range(3):
                for n in range(20):
                    nursery.start_soon(claim, node, n)
        assert len(winners) == 1, round_
        node, n = winners[0]
        assert await nodes[(node + 1) % 3].aget("sessions", b"tag") == f"{node}:{n}".encode()
        with pytest.raises(ConditionFailed):
            await nodes[0].write(CompareAndSet("sessions", b"tag", None, b"x"))
        # The next round starts from an absent key again.
        with psycopg.connect(pg.location, autocommit=True) as conn:
            conn.execute("DELETE FROM chinwag_kv WHERE tbl = 'sessions'")


async def test_cas_counter_across_nodes_loses_no_update(pg: Backend) -> None:
    nodes = [pg.open() for _ in range(3)]
    await nodes[0].write(Put("keys", b"epoch", b"0"))

    async def bump(node: int) -> None:
        engine = nodes[node]
        while True:
            current = await engine.aget("keys", b"epoch")
            assert current is not None
            try:
                await engine.write(
                    CompareAndSet("keys", b"epoch", current, str(int(current) + 1).encode())
                )
                return
            except ConditionFailed:
                await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for i in range(45):
            nursery.start_soon(bump, i % 3)
    assert await nodes[2].aget("keys", b"epoch") == b"45"


async def test_absent_check_placeholder_is_never_visible(pg: Backend) -> None:
    engine = pg.open()
    await engine.write(Check("keys", b"ghost", None), Put("keys", b"real", b"1"))
    await engine.write(PutIfAbsent("keys", b"p", b"1"), Check("keys", b"ghost2", None))
    assert await engine.aget("keys", b"ghost") is None
    assert await engine.aget("keys", b"ghost2") is None
    assert [k for k, _ in await engine.ascan("keys")] == [b"p", b"real"]
    with psycopg.connect(pg.location) as conn:
        rows = conn.execute("SELECT k FROM chinwag_kv WHERE tbl = 'keys' ORDER BY k").fetchall()
    assert [bytes(r[0]) for r in rows] == [b"p", b"real"]


async def test_writer_and_readers_survive_dropped_connections(pg: Backend) -> None:
    engine = pg.open()
    await engine.write(Put("messages", b"before", b"1"))
    assert await engine.aget("messages", b"before") == b"1"
    with psycopg.connect(pg.location, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None and killed[0] >= 2  # the writer and the readers
    await engine.write(Put("messages", b"after", b"2"))  # reconnects, nothing committed twice
    assert await engine.aget("messages", b"after") == b"2"
    assert await engine.acount("messages") == 2


def test_open_errors_do_not_leak_the_url(pg: Backend) -> None:
    bad = pg.location.replace("://chinwag:", "://chinwag:wrong", 1)
    with pytest.raises(StorageError) as info:
        PostgresEngine.open(bad, ["keys"], connect_timeout=5)
    message = str(info.value)
    assert "cannot open the PostgreSQL database" in message
    assert "127.0.0.1" not in message and "wrong" not in message


async def test_a_call_the_database_refuses_fails_alone(pg: Backend) -> None:
    engine = pg.open()
    # A real server-side refusal that validation cannot foresee: a trigger rejecting one key.
    with psycopg.connect(pg.location, autocommit=True) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION chinwag_poison() RETURNS trigger AS $$ BEGIN"
            " IF NEW.k = '\\x706f69736f6e'::bytea THEN RAISE EXCEPTION 'poisoned'; END IF;"
            " RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            "CREATE TRIGGER chinwag_poison BEFORE INSERT OR UPDATE ON chinwag_kv"
            " FOR EACH ROW EXECUTE FUNCTION chinwag_poison()"
        )
    try:
        outcomes: dict[int, str] = {}

        async def writer(n: int) -> None:
            ops = [Put("messages", f"m{n}".encode(), b"1")]
            if n == 4:
                ops.append(Put("messages", b"poison", b"x"))
            if n % 2:
                ops.append(PutIfAbsent("sessions", f"s{n}".encode(), b"1"))
            try:
                await engine.write(*ops)
            except StorageError as exc:
                outcomes[n] = f"error: {exc}"
            else:
                outcomes[n] = "ok"

        release = hold_writer(engine)
        async with trio.open_nursery() as nursery:
            for n in range(10):
                nursery.start_soon(writer, n)
            await trio.testing.wait_all_tasks_blocked()
            release.set()
        assert outcomes.pop(4).startswith("error: the write failed, nothing was stored")
        assert set(outcomes.values()) == {"ok"}
        assert await engine.aget("messages", b"m4") is None
        assert await engine.acount("messages") == 9
        assert await engine.acount("sessions") == 5
    finally:
        with psycopg.connect(pg.location, autocommit=True) as conn:
            conn.execute("DROP TRIGGER chinwag_poison ON chinwag_kv")


async def test_acknowledged_writes_survive_a_server_crash(
    pg: Backend, postgres_cluster: Cluster
) -> None:
    engine = pg.open()
    acknowledged: list[bytes] = []

    async def writer(n: int) -> None:
        for i in range(20):
            key = f"{n}:{i}".encode()
            await engine.write(Put("messages", key, key * 10), PutIfAbsent("keys", key, b"1"))
            acknowledged.append(key)

    async with trio.open_nursery() as nursery:
        for n in range(16):
            nursery.start_soon(writer, n)
    postgres_cluster.stop("immediate")  # like a power cut: no shutdown checkpoint
    try:
        with pytest.raises(StorageError):
            await engine.aget("messages", b"0:0")
    finally:
        postgres_cluster.start()  # recovers from the WAL
    # The same engine reconnects by itself once the server is back.
    assert len(acknowledged) == 320
    assert await engine.acount("messages") == 320
    for key in acknowledged:
        assert await engine.aget("messages", key) == key * 10
    with pytest.raises(ConditionFailed):
        await engine.write(PutIfAbsent("keys", acknowledged[0], b"2"))
    await engine.write(Put("messages", b"after", b"1"))
    assert await pg.open().aget("messages", b"after") == b"1"


async def test_a_stalled_writer_cannot_block_the_others(pg: Backend) -> None:
    frozen = PostgresEngine.open(pg.location, ["keys"], stalled_after=1.0)
    pg.opened.append(frozen)
    live = pg.open()
    await live.write(Put("keys", b"owner", b"node-a:1"))
    # The frozen node's writer connection stops mid-transaction holding the owner row's lock,
    # as a SIGSTOPped process would (reached through the engine so its session settings apply).
    conn = frozen._committer.connect()
    conn.execute("SELECT v FROM chinwag_kv WHERE tbl = 'keys' AND k = 'owner' FOR UPDATE")
    start = trio.current_time()
    with trio.fail_after(30):
        await live.write(CompareAndSet("keys", b"owner", b"node-a:1", b"node-b:2"))
    waited = trio.current_time() - start
    assert 0.5 < waited < 20  # blocked until the server ended the stalled session
    assert await live.aget("keys", b"owner") == b"node-b:2"
    # When the frozen node wakes, its stale transaction is gone and its fenced write is refused.
    with pytest.raises(ConditionFailed):
        await frozen.write(CompareAndSet("keys", b"owner", b"node-a:1", b"node-a:9"))
    assert await frozen.aget("keys", b"owner") == b"node-b:2"


def test_writer_session_commits_synchronously_whatever_the_default(pg: Backend) -> None:
    with psycopg.connect(pg.location, autocommit=True) as admin:
        admin.execute("ALTER DATABASE chinwag_test SET synchronous_commit = off")
    try:
        engine = pg.open()
        with psycopg.connect(pg.location) as plain:
            assert plain.execute("SHOW synchronous_commit").fetchone() == ("off",)
        writer = engine._committer.connect()  # the connection every write commits on
        assert writer.execute("SHOW synchronous_commit").fetchone() == ("on",)
        writer.rollback()
    finally:
        with psycopg.connect(pg.location, autocommit=True) as admin:
            admin.execute("ALTER DATABASE chinwag_test RESET synchronous_commit")
