"""Routing: two real servers (runtime + Hypercorn) on one PostgreSQL database.

A request reaching the node that does not own the session is relayed to the owner, JSON and SSE
alike, and the SSE tokens arrive through the relay as the owner produces them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse
from support.server import ServerHandle, running_server

from chinwag.cluster import node_auth
from chinwag.http.forward import NODE_KEY_HEADER
from chinwag.storage import ownership


async def _owner(server: ServerHandle, session_id: str) -> str:
    raw = await ownership.read_owner(server.service.engine, session_id)
    assert raw is not None
    return ownership.decode_owner(raw).node


async def test_requests_for_a_session_owned_elsewhere_are_relayed(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        running_server(tmp_path / "a", database_url=database_url) as a,
        running_server(tmp_path / "b", database_url=database_url) as b,
    ):
        assert (await a.anonymous.get("/healthz")).json()["data"]["nodes"] == 2
        client_id = await a.create_client(streamDelaySeconds=0.05)
        opened = await a.open_session(client_id, tag="visitor-7")
        key, session_id = opened["accessKey"], opened["sessionId"]
        first = await a.anonymous.post(a.public_path(key, "prompt"), json={"prompt": "on a"})
        assert first.status_code == 200, first.text
        assert await _owner(a, session_id) == a.service.node.id

        # JSON through the other node: answered by the owner, ownership unchanged.
        relayed = await b.anonymous.post(b.public_path(key, "prompt"), json={"prompt": "via b"})
        assert relayed.status_code == 200, relayed.text
        assert relayed.json()["data"]["completionText"] == "You said: via b"
        assert relayed.headers["x-request-id"]
        assert await _owner(b, session_id) == a.service.node.id

        # SSE through the other node: the tokens arrive one by one, not all at the end.
        words = " ".join(f"w{i}" for i in range(30))
        arrivals: list[tuple[str, float]] = []
        async with aconnect_sse(
            b.anonymous, "POST", b.public_path(key, "prompt"), json={"prompt": words}
        ) as source:
            assert source.response.status_code == 200
            async for event in source.aiter_sse():
                arrivals.append((event.event, time.monotonic()))
                if event.event == "done":
                    done = json.loads(event.data)["result"]
                    assert done["completionText"] == f"You said: {words}"
            assert source.response.headers["content-type"].startswith("text/event-stream")
        tokens = [t for name, t in arrivals if name == "content"]
        assert len(tokens) >= 10
        assert arrivals[-1][0] == "done"
        # 31 words at 0.05 s each: the first token is seen long before the reply ends.
        assert arrivals[-1][1] - tokens[0] > 0.75

        # Management through the other node: the tag's session is renewed by its owner.
        again = await b.client.post(
            f"/api/v1/web-chat-client/{client_id}/sessions", json={"tag": "visitor-7"}
        )
        assert again.status_code == 200, again.text
        assert again.json()["data"]["sessionId"] == session_id

        assert b.service.stats().cluster["forwarded_requests"] == 3
        assert a.service.stats().cluster["forwarded_requests"] == 0
        texts = [m.content for m in b.service.messages(session_id) if m.role == "user"]
        assert texts == ["on a", "via b", words]


async def test_a_wrong_node_key_is_refused(tmp_path: Path, database_url: str) -> None:
    async with running_server(tmp_path / "a", database_url=database_url) as a:
        for presented in ("", "00" * 32, a.service.node.secret[:-2] + "zz"):
            response = await a.client.get(
                "/api/v1/ai-gateways", headers={NODE_KEY_HEADER: presented}
            )
            assert response.status_code == 401
            assert response.json() == {"message": "invalid node credentials", "data": None}
        # The raw secret is no key any more: only a signature of the request is.
        raw = await a.client.get(
            "/api/v1/ai-gateways", headers={NODE_KEY_HEADER: a.service.node.secret}
        )
        assert raw.status_code == 401
        signed = node_auth.sign(
            a.service.node.secret, time.time(), b"GET", b"/api/v1/ai-gateways", b"rid-good-1"
        )
        good = await a.client.get(
            "/api/v1/ai-gateways",
            headers={NODE_KEY_HEADER: signed.decode(), "X-Request-Id": "rid-good-1"},
        )
        assert good.status_code == 200, good.text


async def test_no_relay_on_a_single_lmdb_node(tmp_path: Path) -> None:
    """Without a cluster the node-key header means nothing and is refused."""
    async with running_server(tmp_path / "a") as a:
        response = await a.client.get("/api/v1/ai-gateways", headers={NODE_KEY_HEADER: "x"})
        assert response.status_code == 401
        assert isinstance(a.client, httpx.AsyncClient)
