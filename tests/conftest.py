"""Shared fixtures: `server` is a real chinwag (runtime + Hypercorn) on a tmp data directory;
`postgres_cluster` / `postgres_url` is a throwaway PostgreSQL for the whole test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio.testing
from support.clock import settling_clock
from support.postgres import Cluster, PostgresUnavailable, fresh_database, throwaway_cluster
from support.server import ServerHandle, running_server


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """pytest-trio's autojump clock (threshold 0), but never jumping while a storage commit or a
    worker thread (e.g. a getaddrinfo) is still in flight: see tests/support/clock.py."""
    return settling_clock(autojump_threshold=0)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "chinwag-data"


@pytest.fixture
async def server(data_dir: Path) -> AsyncIterator[ServerHandle]:
    async with running_server(data_dir) as handle:
        yield handle


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A PostgreSQL started for this session (stopped at its end, even on failure).

    Skips only when PostgreSQL is not installed; a cluster that is installed but fails to start
    is an error, not a skip.
    """
    try:
        context = throwaway_cluster()
        cluster = context.__enter__()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield cluster
    finally:
        context.__exit__(None, None, None)


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: Cluster) -> str:
    """The URL of the session cluster's test database."""
    return postgres_cluster.url


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """An empty PostgreSQL database of its own for one test (CHINWAG_DATABASE_URL)."""
    return fresh_database(postgres_url)


@pytest.fixture
async def pg_server(data_dir: Path, database_url: str) -> AsyncIterator[ServerHandle]:
    """`server`, but with every piece of state in PostgreSQL instead of LMDB."""
    async with running_server(data_dir, database_url=database_url) as handle:
        yield handle
