"""The engines the contract tests run on: `Backend` opens engines on one store, LMDB or PostgreSQL.

Both open real stores: LMDB on a temp directory, PostgreSQL as a database on the session's
throwaway cluster (tests/support/postgres.py), emptied before each test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from chinwag.storage.engine import LmdbEngine, Put, StorageEngine
from chinwag.storage.postgres import PostgresEngine

TABLES = ("messages", "sessions", "keys")
ENGINES = ["lmdb", "postgresql"]


@dataclass
class Backend:
    """Opens engines on the same store; closes what it opened at the end of the test."""

    kind: str
    location: str
    opened: list[StorageEngine] = field(default_factory=list)

    def open(self, tables: tuple[str, ...] = TABLES) -> StorageEngine:
        engine: StorageEngine
        if self.kind == "lmdb":
            engine = LmdbEngine.open(self.location, tables)
        else:
            engine = PostgresEngine.open(self.location, tables)
        self.opened.append(engine)
        return engine

    def close_all(self) -> None:
        for engine in self.opened:
            engine.close()


def empty_postgres(url: str) -> None:
    """Make the shared test database empty (the engine creates the table if it is new)."""
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('chinwag_kv')").fetchone()
        if exists and exists[0] is not None:
            conn.execute("TRUNCATE chinwag_kv")


def make_backend(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Backend]:
    if kind == "lmdb":
        backend = Backend(kind, str(tmp_path / "lmdb"))
    else:
        url = request.getfixturevalue("postgres_url")
        empty_postgres(url)
        backend = Backend(kind, url)
    try:
        yield backend
    finally:
        backend.close_all()


def hold_writer(engine: StorageEngine) -> threading.Event:
    """Park the engine's writer thread until the returned event is set.

    Everything written meanwhile queues up and is committed as one batch afterwards, which makes
    batch behaviour deterministic on both engines without reaching into the writer.
    """
    release = threading.Event()
    entered = threading.Event()

    def block(_error: BaseException | None) -> None:
        entered.set()
        release.wait(30)

    engine.write_threadsafe([Put("keys", b"holder", b"1")], block)
    assert entered.wait(10)
    return release
