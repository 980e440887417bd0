"""A data directory is opened by one engine at a time, across processes and within one."""

from __future__ import annotations

import subprocess

import pytest

from chinwag.storage.engine import LmdbEngine
from chinwag.storage.errors import DataDirLocked

from .conftest import PYTHON, child_env

OPEN_SCRIPT = """
import sys
from chinwag.storage.engine import LmdbEngine
from chinwag.storage.errors import DataDirLocked
try:
    LmdbEngine.open(sys.argv[1], ["t"]).close()
except DataDirLocked as exc:
    print("LOCKED:", exc)
    sys.exit(3)
print("OPENED")
"""


def open_in_child(path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-c", OPEN_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )


def test_second_process_is_refused_with_the_directory_named(data_dir) -> None:
    engine = LmdbEngine.open(data_dir, ["t"])
    try:
        result = open_in_child(data_dir)
        assert result.returncode == 3, result.stderr
        assert "LOCKED:" in result.stdout
        assert str(data_dir) in result.stdout
    finally:
        engine.close()
    after = open_in_child(data_dir)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == "OPENED"


def test_second_open_in_same_process_is_refused(data_dir) -> None:
    engine = LmdbEngine.open(data_dir, ["t"])
    try:
        with pytest.raises(DataDirLocked, match="already in use"):
            LmdbEngine.open(data_dir, ["t"])
    finally:
        engine.close()
    LmdbEngine.open(data_dir, ["t"]).close()


def test_missing_directory_is_created(tmp_path) -> None:
    path = tmp_path / "deep" / "er" / "data"
    LmdbEngine.open(path, ["t"]).close()
    assert (path / "data.mdb").exists()
    assert (path / "chinwag.lock").exists()
