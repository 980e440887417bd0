"""A real chinwag server for tests: runtime on a data directory + Hypercorn (Trio) on 127.0.0.1.

    async with running_server(tmp_path / "data") as server:
        r = await server.client.get("/api/v1/ai-gateways")     # API key already set

The port is reserved by binding a socket first and handing its file descriptor to Hypercorn,
so there is no race for a "free" port and talkUrl carries the real port. Leaving the block
shuts the server down gracefully and closes the runtime (writes flushed), so a second
`running_server` on the same directory sees everything the first one stored.
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio

from chinwag.config import Settings
from chinwag.http.app import create_app
from chinwag.http.server import serve_app

HTTP_TIMEOUT = 30.0


def reserve_port() -> tuple[int, int]:
    """A listening-ready TCP socket on 127.0.0.1: (port, file descriptor owned by the caller)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    return port, sock.detach()


@dataclass
class ServerHandle:
    base_url: str
    api_key: str
    service: Any
    settings: Settings
    client: httpx.AsyncClient  # base_url and Authorization preset
    anonymous: httpx.AsyncClient  # base_url only: public endpoints, auth failures

    async def create_gateway(self, **parameters: Any) -> str:
        body = {"name": "test gateway", "parameters": {"provider": "echo", **parameters}}
        response = await self.client.post("/api/v1/ai-gateways", json=body)
        assert response.status_code == 201, response.text
        return response.json()["data"]["id"]

    async def create_client(
        self,
        gateway_id: str | None = None,
        *,
        client_parameters: dict[str, Any] | None = None,
        limiting_parameters: dict[str, Any] | None = None,
        **gateway_parameters: Any,
    ) -> str:
        gateway_id = gateway_id or await self.create_gateway(**gateway_parameters)
        body = {
            "name": "test client",
            "aiGatewayId": gateway_id,
            "clientParameters": client_parameters or {},
            "limitingParameters": limiting_parameters or {},
        }
        response = await self.client.post("/api/v1/web-chat-client", json=body)
        assert response.status_code == 201, response.text
        return response.json()["data"]["id"]

    async def open_session(self, client_id: str, **body: Any) -> dict[str, Any]:
        response = await self.client.post(
            f"/api/v1/web-chat-client/{client_id}/sessions", json=body
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def public_path(self, access_key: str, tail: str) -> str:
        return f"/api/v1/public/chat-clients/{access_key}/{tail}"


@asynccontextmanager
async def running_server(
    data_dir: Path | str, *, client_key: str | None = None, **settings_overrides: Any
) -> AsyncIterator[ServerHandle]:
    """Open the runtime on `data_dir`, serve it on a fresh port, yield a handle, shut down.

    The handle's client presents `client_key`, or a key created for the test when None.
    `settings_overrides` are Settings fields (e.g. `api_key=` for CHINWAG_API_KEY).
    """
    from chinwag.wiring import open_runtime

    port, fd = reserve_port()
    settings = Settings(data_dir=str(data_dir), bind=f"127.0.0.1:{port}", **settings_overrides)
    async with open_runtime(settings) as runtime:
        api_key = client_key
        if api_key is None:
            _info, api_key = await runtime.create_api_key("test")
        app = create_app(runtime, settings, runtime.integrations)
        async with trio.open_nursery() as nursery:
            stop = trio.Event()
            binds = await nursery.start(
                partial(
                    serve_app,
                    app,
                    settings,
                    shutdown_trigger=stop.wait,
                    bind=f"fd://{fd}",
                    graceful_timeout=2.0,
                )
            )
            base_url = binds[0]
            async with (
                httpx.AsyncClient(
                    base_url=base_url,
                    headers={"Authorization": f"Bearer {api_key}"},
                    timeout=HTTP_TIMEOUT,
                ) as client,
                httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT) as anonymous,
            ):
                try:
                    yield ServerHandle(
                        base_url=base_url,
                        api_key=api_key,
                        service=runtime,
                        settings=settings,
                        client=client,
                        anonymous=anonymous,
                    )
                finally:
                    stop.set()


@dataclass
class ThreadedServer:
    """A running server owned by another thread (for sync tests such as Hypothesis ones)."""

    base_url: str
    api_key: str
    settings: Settings


@contextmanager
def server_in_thread(data_dir: Path | str, **settings_overrides: Any) -> Iterator[ThreadedServer]:
    """`running_server` in a background thread with its own Trio loop; stops on exit.

    Hypothesis runs every example of an async test in a fresh `trio.run`, which would restart
    the server per example; a sync test talking to this long-lived server stays fast.
    """
    handoff: queue.Queue[Any] = queue.Queue()

    async def main() -> None:
        try:
            async with running_server(data_dir, **settings_overrides) as handle:
                stop = trio.Event()
                handoff.put((handle, trio.lowlevel.current_trio_token(), stop))
                await stop.wait()
        except BaseException as error:
            handoff.put(error)
            raise

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True, name="chinwag-test")
    thread.start()
    started = handoff.get(timeout=60)
    if isinstance(started, BaseException):
        thread.join(10)
        raise RuntimeError("the test server did not start") from started
    handle, token, stop = started
    try:
        yield ThreadedServer(handle.base_url, handle.api_key, handle.settings)
    finally:
        trio.from_thread.run_sync(stop.set, trio_token=token)
        thread.join(60)
