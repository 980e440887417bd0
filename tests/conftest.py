"""Shared fixtures: `server` is a real chinwag (runtime + Hypercorn) on a tmp data directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.server import ServerHandle, running_server


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "chinwag-data"


@pytest.fixture
async def server(data_dir: Path) -> AsyncIterator[ServerHandle]:
    async with running_server(data_dir) as handle:
        yield handle
