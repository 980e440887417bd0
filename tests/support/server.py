"""A real chinwag server for tests: runtime on a data directory + Hypercorn (Trio) on 127.0.0.1.

    async with running_server(tmp_path / "data") as server:
        r = await server.client.get("/api/v1/ai-gateways")     # API key already set

The port is reserved by binding a socket first and handing its file descriptor to Hypercorn,
so there is no race for a "free" port and talkUrl carries the real port. Leaving the block
shuts the server down gracefully and closes the runtime (writes flushed), so a second
`running_server` on the same directory sees everything the first one stored.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
    data_dir: Path | str, *, api_key: str | None = None, **settings_overrides: Any
) -> AsyncIterator[ServerHandle]:
    """Open the runtime on `data_dir`, serve it on a fresh port, yield a handle, shut down."""
    from chinwag.app_runtime import open_runtime

    port, fd = reserve_port()
    settings = Settings(data_dir=str(data_dir), bind=f"127.0.0.1:{port}", **settings_overrides)
    async with open_runtime(settings) as runtime:
        if api_key is None:
            _info, api_key = await runtime.create_api_key("test")
        app = create_app(runtime, settings)
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
