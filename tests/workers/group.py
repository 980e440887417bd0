"""A real `python -m chinwag.cli serve --workers N` group for tests: start, find its workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from support.serve_process import REPO_ROOT, free_port

API_KEY = "workers-test-admin-key"
WORKER_LINE = re.compile(r"worker (\d+) serving as node (\S+) \(internal (\S+)\)")
STARTED_LINE = re.compile(r"worker (\d+) started \(pid (\d+)\)")


@dataclass
class Group:
    """The parent process, its public URL and its combined log (parent and workers)."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def workers(self) -> dict[str, tuple[int, str]]:
        """node id -> (pid, internal URL) of every worker that ever served."""
        return {node: (int(pid), url) for pid, node, url in WORKER_LINE.findall(self.text())}

    def started_pids(self) -> list[int]:
        return [int(pid) for _slot, pid in STARTED_LINE.findall(self.text())]

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
            **kwargs,  # type: ignore[arg-type]
        )

    def healthz(self, http: httpx.Client | None = None) -> dict:
        response = (http or httpx).get(self.base_url + "/healthz", timeout=10)  # type: ignore[union-attr]
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def wait_live_nodes(self, count: int, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while self.healthz()["nodes"] != count:
            assert time.monotonic() < deadline, f"never {count} live nodes: {self.text()[-3000:]}"
            time.sleep(0.1)

    def stop(self, timeout: float = 40) -> int:
        """SIGTERM to the parent; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def child_env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            "CHINWAG_DATA_DIR": str(data_dir),
            "CHINWAG_API_KEY": API_KEY,
            **{f"CHINWAG_{name.upper()}": value for name, value in settings.items()},
        }
    )
    return env


def start_group(
    root: Path,
    workers: int = 2,
    *,
    data_dir: Path | None = None,
    wait: bool = True,
    **settings: str,
) -> Group:
    """A group on `data_dir` (root/data) listening on a free port; returns once `workers` nodes
    are live. `settings` are CHINWAG_* values by field name."""
    port = free_port()
    settings = {"bind": f"127.0.0.1:{port}", "workers": str(workers), **settings}
    env = child_env(data_dir or root / "data", **settings)
    root.mkdir(parents=True, exist_ok=True)
    log = root / f"group-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chinwag.cli", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=str(REPO_ROOT),
        )
    group = Group(process, f"http://127.0.0.1:{port}", log)
    if not wait:
        return group
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the group exited: {group.text()[-3000:]}")
        if len(group.workers()) >= workers:
            try:
                group.wait_live_nodes(workers, within=10)
                return group
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the group did not start: {group.text()[-3000:]}")
