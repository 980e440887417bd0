"""/healthz when the store is down: a fast 503 a load balancer can act on, never a hang or a 500.

PostgreSQL is really stopped (a throwaway cluster of this test's own, so the session's shared one
is untouched); LMDB's failure is a store read that raises, as a broken data directory would."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio
from support.postgres import PostgresUnavailable, fresh_database, throwaway_cluster
from support.server import ServerHandle, running_server

from chinwag.storage.errors import StorageError


def _assert_unavailable(response, elapsed: float, storage: str) -> None:
    assert elapsed < 2.5, f"/healthz took {elapsed:.1f} s"
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["message"] == "The storage is unavailable."
    assert body["data"]["status"] == "unavailable"
    assert body["data"]["storage"] == storage
    assert body["data"]["nodes"] is None
    assert set(body["data"]) == {"status", "node", "storage", "nodes"}
    assert "127.0.0.1" not in response.text and "postgresql://" not in response.text


async def test_healthz_is_503_fast_when_postgresql_is_down(tmp_path: Path) -> None:
    try:
        context = throwaway_cluster()
        cluster = context.__enter__()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        url = fresh_database(cluster.url)
        async with running_server(tmp_path / "data", database_url=url) as server:
            assert (await server.anonymous.get("/healthz")).status_code == 200
            await trio.to_thread.run_sync(cluster.stop)
            for _ in range(2):  # the first check and a later one (no stuck reader)
                started = time.monotonic()
                response = await server.anonymous.get("/healthz")
                _assert_unavailable(response, time.monotonic() - started, "postgresql")
            await trio.to_thread.run_sync(cluster.start)
            for _ in range(100):  # the pool reconnects on its own
                if (await server.anonymous.get("/healthz")).status_code == 200:
                    break
                await trio.sleep(0.2)
            else:
                raise AssertionError("/healthz stayed 503 after PostgreSQL came back")
    finally:
        context.__exit__(None, None, None)


async def test_healthz_is_503_when_the_lmdb_store_fails(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = server.service.engine

    def broken_get(table: str, key: bytes) -> bytes | None:
        raise StorageError("the data directory cannot be read")

    monkeypatch.setattr(engine, "get", broken_get)
    started = time.monotonic()
    response = await server.anonymous.get("/healthz")
    _assert_unavailable(response, time.monotonic() - started, "lmdb")
    assert "data directory" not in response.text
    monkeypatch.undo()
    assert (await server.anonymous.get("/healthz")).status_code == 200
