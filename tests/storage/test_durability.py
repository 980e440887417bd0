"""Nothing acknowledged is lost: SIGKILL a writing process, reopen, find every acknowledged key."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from chinwag.storage.engine import LmdbEngine
from chinwag.storage.postgres import PostgresEngine

from .conftest import PYTHON, child_env
from .contract import empty_postgres

CHILD = Path(__file__).with_name("durability_child.py")


def kill_writer_midstream(where: str, count: int) -> list[str]:
    """Run the child writing to `where`, SIGKILL it after `count` acknowledgements, return them."""
    child = subprocess.Popen(
        [PYTHON, str(CHILD), where],
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
            if len(acknowledged) >= count:
                break
        child.send_signal(signal.SIGKILL)  # mid-stream: writes are in flight right now
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    # Lines already written to the pipe before the kill are acknowledged too.
    assert child.stdout is not None
    acknowledged += [line.strip() for line in child.stdout.read().splitlines() if line.strip()]
    assert len(acknowledged) >= count
    return acknowledged


def test_every_acknowledged_write_survives_sigkill(data_dir) -> None:
    acknowledged = kill_writer_midstream(str(data_dir), 3000)
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


async def test_postgres_keeps_every_acknowledged_write_of_a_killed_node(
    request: pytest.FixtureRequest,
) -> None:
    """A node SIGKILLed mid-stream, then the server crashed too: every acknowledged key is there."""
    cluster = request.getfixturevalue("postgres_cluster")
    empty_postgres(cluster.url)
    acknowledged = kill_writer_midstream(cluster.url, 1000)
    cluster.stop("immediate")  # no checkpoint: what was acknowledged must come back from the WAL
    cluster.start()
    engine = PostgresEngine.open(cluster.url, ["messages"])
    try:
        stored = dict(await engine.ascan("messages"))
        missing = [k for k in acknowledged if stored.get(k.encode()) != k.encode() * 20]
        assert missing == []
        assert len(stored) == await engine.acount("messages") >= len(acknowledged)
        assert all(value == key * 20 for key, value in stored.items())
    finally:
        engine.close()
