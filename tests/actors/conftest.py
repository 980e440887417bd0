"""Fixtures for runtime-level tests: a chinwag runtime on a temporary LMDB directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio.testing
from support.clock import settling_clock

from chinwag import Chinwag, open_runtime
from chinwag.config import Settings


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    """Autojumps once every task has been idle 0.3 s of real time, so in-flight LMDB commits
    (a writer-thread hop, slow on a loaded machine) finish before virtual time moves on."""
    return settling_clock(autojump_threshold=0.3)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"),
        retention_seconds=7 * 24 * 3600,
        passivate_after_seconds=300,
        max_queued_prompts=2,
    )


@pytest.fixture
async def cw(mock_clock: trio.testing.MockClock, settings: Settings) -> AsyncIterator[Chinwag]:
    async with open_runtime(settings) as runtime:
        yield runtime


async def make_client(
    cw: Chinwag, *, limits: dict | None = None, delay: float = 0.0, **client_parameters
) -> str:
    gateway = await cw.create_gateway("echo", {"provider": "echo", "streamDelaySeconds": delay})
    client = await cw.create_client(
        {
            "name": "support",
            "aiGatewayId": gateway.id,
            "clientParameters": client_parameters,
            "limitingParameters": limits or {},
        }
    )
    return client.id
