"""The data directory is the owner's only: 0700, its files 0600, older wide modes tightened."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from chinwag.storage import permissions
from chinwag.storage.engine import LmdbEngine


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_data_directory_is_owner_only(data_dir: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask, which gave 0755/0644 before
    try:
        engine = LmdbEngine.open(data_dir, ["t"])
    finally:
        os.umask(old_umask)
    try:
        assert mode(data_dir) == 0o700
        files = sorted(p.name for p in data_dir.iterdir())
        assert {"data.mdb", "lock.mdb", "chinwag.lock"} <= set(files)
        for name in files:
            assert mode(data_dir / name) == 0o600, name
    finally:
        engine.close()


def test_an_existing_wide_directory_is_tightened_at_open(data_dir: Path, caplog) -> None:
    LmdbEngine.open(data_dir, ["t"]).close()
    os.chmod(data_dir, 0o755)
    for file in data_dir.iterdir():
        os.chmod(file, 0o644)
    extra = data_dir / "notes.txt"
    extra.write_text("anything written here")
    os.chmod(extra, 0o666)
    caplog.set_level(logging.INFO, logger=permissions.__name__)
    engine = LmdbEngine.open(data_dir, ["t"])
    try:
        assert mode(data_dir) == 0o700
        for file in data_dir.iterdir():
            assert mode(file) == 0o600, file.name
        assert "tightened the mode" in caplog.text
    finally:
        engine.close()


def test_a_directory_that_cannot_be_tightened_is_warned_about(
    data_dir: Path, caplog, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)

    def refuse(path, new_mode):  # as for a directory owned by someone else
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(permissions.os, "chmod", refuse)
    engine = LmdbEngine.open(data_dir, ["t"])  # still starts
    engine.close()
    assert "could not be tightened" in caplog.text
    assert str(data_dir) in caplog.text
