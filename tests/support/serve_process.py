"""`python -m chinwag.cli serve` as a child process, for tests that SIGKILL it or measure it.

Each start listens on a fresh loopback port; the data directory stays, so a restart finds
everything the killed process had acknowledged.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import httpx
import trio

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess:
    """One `chinwag serve` process at a time on `data_dir`, configured by environment."""

    def __init__(self, data_dir: Path, api_key: str, **settings: str) -> None:
        self.log = data_dir.parent / "serve.log"
        self.env = {
            **os.environ,
            # The child imports this checkout's chinwag, whatever is installed.
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
            ),
            "CHINWAG_DATA_DIR": str(data_dir),
            "CHINWAG_API_KEY": api_key,
            **{f"CHINWAG_{name.upper()}": value for name, value in settings.items()},
        }
        self.base_url = ""
        self.process: trio.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        env = {**self.env, "CHINWAG_BIND": f"127.0.0.1:{port}"}
        with self.log.open("ab") as log:
            self.process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "chinwag.cli", "serve"],
                stdout=log,
                stderr=log,
                env=env,
                cwd=str(REPO_ROOT),
            )
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            with trio.fail_after(60):
                while True:
                    try:
                        if (await http.get("/healthz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    if self.process.returncode is not None:
                        raise RuntimeError(f"chinwag serve exited; see {self.log}")
                    await trio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no finally blocks, no flush, no graceful shutdown."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.kill()
