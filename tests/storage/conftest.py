"""Shared fixtures for the storage engine tests: a fresh data directory and an open engine."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chinwag.storage.engine import LmdbEngine

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = ("messages", "sessions", "keys")


def child_env() -> dict[str, str]:
    """Environment for helper subprocesses, so they import this checkout's chinwag."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


PYTHON = sys.executable


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def engine(data_dir: Path) -> Iterator[LmdbEngine]:
    eng = LmdbEngine.open(data_dir, TABLES)
    try:
        yield eng
    finally:
        eng.close()
