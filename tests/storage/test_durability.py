"""Nothing acknowledged is lost: SIGKILL a writing process, reopen, find every acknowledged key."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from chinwag.storage.engine import LmdbEngine

from .conftest import PYTHON, child_env

CHILD = Path(__file__).with_name("durability_child.py")


def test_every_acknowledged_write_survives_sigkill(data_dir) -> None:
    child = subprocess.Popen(
        [PYTHON, str(CHILD), str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    acknowledged: list[str] = []
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "READY"
        for line in child.stdout:
            acknowledged.append(line.strip())
            if len(acknowledged) >= 3000:
                break
        child.send_signal(signal.SIGKILL)  # mid-stream: writes are in flight right now
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    # Lines already written to the pipe before the kill are acknowledged too.
    assert child.stdout is not None
    acknowledged += [line.strip() for line in child.stdout.read().splitlines() if line.strip()]
    assert len(acknowledged) >= 3000

    engine = LmdbEngine.open(data_dir, ["messages"])
    try:
        missing = [k for k in acknowledged if engine.get("messages", k.encode()) != k.encode() * 20]
        assert missing == []
        # The env is consistent: every stored key is readable and the count matches a scan.
        stored = engine.scan("messages")
        assert len(stored) == engine.count("messages") >= len(acknowledged)
        assert all(value == key * 20 for key, value in stored)
    finally:
        engine.close()
