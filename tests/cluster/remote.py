"""Async helpers that talk to real nodes (tests/cluster/processes.py) over HTTP only."""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio
from httpx_sse import aconnect_sse

from .processes import API_KEY, NodeProcess


def manage(node: NodeProcess, api_key: str = API_KEY) -> httpx.AsyncClient:
    """The management API of `node`, with the admin key."""
    return node.async_client(api_key)


async def create_client(node: NodeProcess, **gateway: Any) -> str:
    """A gateway with `gateway` parameters and a chat client on it; returns the client id."""
    async with manage(node) as http:
        created = await http.post("/api/v1/ai-gateways", json={"name": "g", "parameters": gateway})
        assert created.status_code == 201, created.text
        client = await http.post(
            "/api/v1/web-chat-client",
            json={"name": "c", "aiGatewayId": created.json()["data"]["id"]},
        )
        assert client.status_code == 201, client.text
        return client.json()["data"]["id"]


async def open_session(node: NodeProcess, client_id: str, **body: Any) -> dict[str, Any]:
    async with manage(node) as http:
        opened = await http.post(f"/api/v1/web-chat-client/{client_id}/sessions", json=body)
        assert opened.status_code == 200, opened.text
        return opened.json()["data"]


def public(access_key: str, tail: str) -> str:
    return f"/api/v1/public/chat-clients/{access_key}/{tail}"


async def metric(node: NodeProcess, name: str) -> float:
    """One unlabelled counter or gauge of `node`'s /metrics (0 when absent)."""
    async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


class Events(list[tuple[str | None, str, Any]]):
    """(id, event, data) of an SSE response as they arrive; `until` waits (bounded) for a
    condition on them, so tests order on what arrived rather than on time."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = trio.Event()
        self.status: int | None = None
        self.closed = False

    def append(self, item: tuple[str | None, str, Any]) -> None:
        super().append(item)
        self._changed.set()
        self._changed = trio.Event()

    def ended(self) -> bool:
        return bool(self) and self[-1][1] in ("done", "error")

    async def until(self, condition: Any, within: float = 30) -> None:
        with trio.fail_after(within):
            while not condition(self):
                if self.closed:
                    raise AssertionError(f"the stream ended before the condition held: {self}")
                await self._changed.wait()

    def text(self) -> str:
        return "".join(data["text"] for _, kind, data in self if kind == "content")


async def read_sse(node: NodeProcess, method: str, path: str, into: Events, **kwargs: Any) -> None:
    """Append the events of an SSE response from `node` to `into` (a non-200 status is kept
    in `into.status` and nothing is appended)."""
    try:
        async with (
            httpx.AsyncClient(base_url=node.base_url, timeout=60) as http,
            aconnect_sse(http, method, path, **kwargs) as source,
        ):
            into.status = source.response.status_code
            if into.status != 200:
                return
            async for event in source.aiter_sse():
                into.append((event.id or None, event.event, json.loads(event.data)))
    finally:
        into.closed = True
        into._changed.set()
