"""Real `python -m chinwag.cli serve` nodes on the shared PostgreSQL, for kill and freeze tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from support.server import reserve_port

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "cluster-test-admin-key"
LEASE = 3.0
RENEW = 1.0


@dataclass
class NodeProcess:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
            **kwargs,  # type: ignore[arg-type]
        )


def start_node(name: str, database_url: str | None, root: Path, **settings: str) -> NodeProcess:
    """A node on `database_url` (None: a single LMDB node in root/name); `settings` are extra
    CHINWAG_* values by field name (e.g. node_lease_seconds="10")."""
    port, fd = reserve_port()
    os.close(fd)
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            "CHINWAG_DATA_DIR": str(root / name),
            "CHINWAG_API_KEY": API_KEY,
            "CHINWAG_BIND": f"127.0.0.1:{port}",
            "CHINWAG_NODE_LEASE_SECONDS": str(LEASE),
            "CHINWAG_NODE_RENEW_SECONDS": str(RENEW),
            **{f"CHINWAG_{field.upper()}": value for field, value in settings.items()},
        }
    )
    if database_url is not None:
        env["CHINWAG_DATABASE_URL"] = database_url
    root.mkdir(parents=True, exist_ok=True)
    log = root / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chinwag.cli", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    node = NodeProcess(name, f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"node {name} exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{node.base_url}/healthz", timeout=2).status_code == 200:
                return node
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"node {name} did not start: {log.read_text()[-3000:]}")


@contextmanager
def cluster(database_url: str, root: Path, count: int) -> Iterator[list[NodeProcess]]:
    """`count` nodes started one after the other (the first one bootstraps); all stopped after."""
    nodes: list[NodeProcess] = []
    try:
        for index in range(count):
            nodes.append(start_node(f"node{index}", database_url, root))
        yield nodes
    finally:
        for node in nodes:
            if node.process.poll() is None:
                node.thaw()
                node.process.terminate()
        for node in nodes:
            try:
                node.process.wait(30)
            except subprocess.TimeoutExpired:
                node.process.kill()
