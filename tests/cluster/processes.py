"""Real `python -m chinwag.cli serve` nodes on the shared PostgreSQL, for kill and freeze tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio
from support.server import reserve_port

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "cluster-test-admin-key"
LEASE = 3.0
RENEW = 1.0
START_WITHIN = 60.0


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

    def output(self) -> str:
        """What the node printed so far (stdout and stderr)."""
        return self.log.read_text(errors="replace")

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
            **kwargs,  # type: ignore[arg-type]
        )

    def async_client(self, api_key: str = API_KEY) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        )


def spawn_node(
    name: str,
    database_url: str | None,
    root: Path,
    *,
    api_key: str | None = API_KEY,
    code_root: Path = REPO_ROOT,
    **settings: str,
) -> NodeProcess:
    """Start a node without waiting for it: on `database_url` (None: a single LMDB node in
    root/name); `api_key` None starts it without CHINWAG_API_KEY; `code_root`: the checkout
    whose chinwag it runs (benchmarks compare against another one); `settings` are extra
    CHINWAG_* values by field name (e.g. node_lease_seconds="10")."""
    port, fd = reserve_port()
    os.close(fd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHINWAG_")}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(code_root), env.get("PYTHONPATH")])),
            "CHINWAG_DATA_DIR": str(root / name),
            "CHINWAG_BIND": f"127.0.0.1:{port}",
            "CHINWAG_NODE_LEASE_SECONDS": str(LEASE),
            "CHINWAG_NODE_RENEW_SECONDS": str(RENEW),
            **{f"CHINWAG_{field.upper()}": value for field, value in settings.items()},
        }
    )
    if api_key is not None:
        env["CHINWAG_API_KEY"] = api_key
    if database_url is not None:
        env["CHINWAG_DATABASE_URL"] = database_url
    root.mkdir(parents=True, exist_ok=True)
    log = root / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chinwag.cli", "serve"],
            env=env,
            cwd=code_root,  # `-m` puts the working directory first on sys.path
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return NodeProcess(name, f"http://127.0.0.1:{port}", process, log)


def wait_ready(node: NodeProcess, within: float = START_WITHIN) -> NodeProcess:
    """Poll /healthz until the node answers 200 (it exited or timed out: RuntimeError)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise RuntimeError(f"node {node.name} exited: {node.output()[-3000:]}")
        try:
            if httpx.get(f"{node.base_url}/healthz", timeout=2).status_code == 200:
                return node
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    node.process.kill()
    raise RuntimeError(f"node {node.name} did not start: {node.output()[-3000:]}")


def start_node(
    name: str,
    database_url: str | None,
    root: Path,
    *,
    api_key: str | None = API_KEY,
    code_root: Path = REPO_ROOT,
    **settings: str,
) -> NodeProcess:
    """`spawn_node`, then wait until it serves."""
    node = spawn_node(name, database_url, root, api_key=api_key, code_root=code_root, **settings)
    return wait_ready(node)


def stop_nodes(nodes: list[NodeProcess]) -> None:
    """SIGTERM every node still running (thawed first), then wait; SIGKILL a node that hangs."""
    for node in nodes:
        if node.process.poll() is None:
            node.thaw()
            node.process.terminate()
    for node in nodes:
        try:
            node.process.wait(30)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(30)


@contextmanager
def cluster(database_url: str, root: Path, count: int) -> Iterator[list[NodeProcess]]:
    """`count` nodes started one after the other (the first one bootstraps); all stopped after."""
    nodes: list[NodeProcess] = []
    try:
        for index in range(count):
            nodes.append(start_node(f"node{index}", database_url, root))
        yield nodes
    finally:
        stop_nodes(nodes)


@asynccontextmanager
async def running_nodes(
    database_url: str,
    root: Path,
    count: int,
    *,
    api_key: str | None = API_KEY,
    **settings: str,
) -> AsyncIterator[list[NodeProcess]]:
    """For Trio tests: `count` nodes launched at the same moment (not one after the other),
    returned once all serve; all stopped after (in a worker thread, so fakes served by the
    test's own Trio loop keep answering while the nodes shut down)."""
    nodes = [
        spawn_node(f"node{index}", database_url, root, api_key=api_key, **settings)
        for index in range(count)
    ]
    try:
        for node in nodes:
            await trio.to_thread.run_sync(wait_ready, node)
        yield nodes
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(stop_nodes, nodes)


def echo_session(node: NodeProcess, delay: float) -> tuple[str, str, str]:
    """(chat client id, session id, access key) of a new session on `node` whose gateway is
    the echo assistant streaming a word every `delay` seconds."""
    with node.client() as http:
        gateway = http.post(
            "/api/v1/ai-gateways",
            json={"name": "g", "parameters": {"provider": "echo", "streamDelaySeconds": delay}},
        ).json()["data"]["id"]
        client = http.post(
            "/api/v1/web-chat-client",
            json={"name": "c", "aiGatewayId": gateway, "clientParameters": {}},
        ).json()["data"]["id"]
        opened = http.post(f"/api/v1/web-chat-client/{client}/sessions", json={}).json()["data"]
    return client, opened["sessionId"], opened["accessKey"]
