"""Operations endpoints, restart on the same data directory, embedding and graceful shutdown."""

from __future__ import annotations

import os
import signal
from functools import partial
from pathlib import Path

import httpx
import trio
from httpx_sse import aconnect_sse
from support.server import ServerHandle, reserve_port, running_server

from chinwag.config import Settings
from chinwag.http.server import run_server


async def test_healthz(server: ServerHandle) -> None:
    response = await server.anonymous.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["message"] is None
    data = body["data"]
    assert data["status"] == "ok"
    assert data["storage"] == server.service.engine.name
    assert data["nodes"] == 1  # a single process; on PostgreSQL the one live node
    assert len(data["node"]) == 36
    assert set(data) == {"status", "node", "storage", "nodes"}  # no URL or address


async def test_metrics_count_requests_and_runtime(server: ServerHandle) -> None:
    await server.client.get("/api/v1/ai-gateways")
    await server.client.get("/api/v1/ai-gateways/nope")
    client_id = await server.create_client()
    opened = await server.open_session(client_id)
    await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"), json={"prompt": "count"}
    )
    response = await server.anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'chinwag_http_requests_total{method="GET",route="/api/v1/ai-gateways",status="200"} 1.0'
        in text
    )
    assert 'route="/api/v1/ai-gateways/<gateway_id>",status="404"' in text
    assert "chinwag_http_request_duration_seconds_bucket" in text
    assert "chinwag_live_sessions " in text
    assert "chinwag_passivated_sessions " in text
    assert "chinwag_turns_started_total 1.0" in text
    assert "chinwag_model_errors_total 0.0" in text


async def test_openapi_and_docs(server: ServerHandle) -> None:
    document = (await server.anonymous.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert "post" in paths["/api/v1/web-chat-client/{client_id}/sessions"]
    prompt = paths["/api/v1/public/chat-clients/{access_key}/prompt"]["post"]
    assert prompt["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "PromptBody"
    )
    assert "SessionCreate" in document["components"]["schemas"]
    assert paths["/api/v1/ai-gateways"]["get"]["security"] == [{"apiKey": []}]
    assert "security" not in prompt
    docs = await server.anonymous.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/api/v1/web-chat-client/{client_id}/sessions" in docs.text


async def test_restart_keeps_everything(data_dir: Path) -> None:
    async with running_server(data_dir) as first:
        client_id = await first.create_client(client_parameters={"pageTitle": "Persisted"})
        opened = await first.open_session(client_id, tag="keep", metadata={"k": "v"})
        reply = await first.anonymous.post(
            first.public_path(opened["accessKey"], "prompt"), json={"prompt": "survive"}
        )
        assert reply.status_code == 200
        api_key = first.api_key
    async with running_server(data_dir, client_key=api_key) as second:
        # The API key, the client, the session (same key on a tag call) and history survived.
        client = await second.client.get(f"/api/v1/web-chat-client/{client_id}")
        assert client.status_code == 200
        assert client.json()["data"]["clientParameters"]["pageTitle"] == "Persisted"
        again = await second.open_session(client_id, tag="keep")
        assert again["sessionId"] == opened["sessionId"]
        assert again["accessKey"] == opened["accessKey"]
        messages = await second.anonymous.get(second.public_path(opened["accessKey"], "messages"))
        assert [m["content"] for m in messages.json()["data"]] == [
            "survive",
            "You said: survive",
        ]


async def test_configured_api_key_is_accepted(data_dir: Path) -> None:
    async with running_server(data_dir, client_key="configured-secret") as server:
        assert (await server.client.get("/api/v1/ai-gateways")).status_code == 401
    async with running_server(
        data_dir, client_key="configured-secret", api_key="configured-secret"
    ) as server:
        assert (await server.client.get("/api/v1/ai-gateways")).status_code == 200
        near_miss = await server.anonymous.get(
            "/api/v1/ai-gateways", headers={"Authorization": "Bearer configured-secreT"}
        )
        assert near_miss.status_code == 401


async def test_run_server_bootstraps_and_stops_on_sigterm(tmp_path: Path) -> None:
    port, fd = reserve_port()
    os.close(fd)  # run_server binds by itself
    settings = Settings(data_dir=str(tmp_path / "data"), bind=f"127.0.0.1:{port}")
    lines: list[str] = []
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(run_server, settings, announce=lines.append))
        assert binds == [f"http://127.0.0.1:{port}"]
        output = "\n".join(lines)
        api_key = next(line.strip() for line in lines if line.strip().startswith("cwk_"))
        talk_url = next(
            line.strip() for line in lines if line.strip().startswith("http") and "/chat/" in line
        )
        assert "shown ONCE" in output
        async with httpx.AsyncClient(base_url=binds[0]) as http:
            clients = await http.get(
                "/api/v1/web-chat-client", headers={"Authorization": f"Bearer {api_key}"}
            )
            assert clients.status_code == 200
            assert len(clients.json()["data"]) == 1
            access_key = talk_url.rsplit("/", 1)[1]
            session = await http.get(f"/api/v1/public/chat-clients/{access_key}/session")
            assert session.status_code == 200
        signal.raise_signal(signal.SIGTERM)
    assert lines[-1].startswith("chinwag stopped")
    # A second start on the same directory is not a first start: no new key is printed.
    lines.clear()
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        await nursery.start(partial(run_server, settings, announce=lines.append, stop=stop))
        stop.set()
    assert not any(line.strip().startswith("cwk_") for line in lines)


async def test_shutdown_during_a_stream_keeps_the_partial_reply(data_dir: Path) -> None:
    events: list[str] = []
    streaming = trio.Event()
    async with trio.open_nursery() as outer, running_server(data_dir) as server:
        client_id = await server.create_client(streamDelaySeconds=0.05)
        opened = await server.open_session(client_id)
        api_key = server.api_key
        words = " ".join(f"w{i}" for i in range(400))  # ~20 s of streaming

        async def listen(base_url: str, path: str) -> None:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
                try:
                    async with aconnect_sse(http, "POST", path, json={"prompt": words}) as src:
                        async for event in src.aiter_sse():
                            events.append(event.event)
                            if len(events) == 3:
                                streaming.set()
                except httpx.HTTPError:
                    pass  # the server went away mid-stream: expected

        outer.start_soon(listen, server.base_url, server.public_path(opened["accessKey"], "prompt"))
        await streaming.wait()
        # Leaving the block: graceful shutdown, then the runtime closes and flushes.
    assert "done" not in events[:3]
    async with running_server(data_dir, client_key=api_key) as again:
        messages = await again.anonymous.get(again.public_path(opened["accessKey"], "messages"))
    stored = messages.json()["data"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["status"] == "stopped"
    assert stored[1]["content"].startswith("You said: w0")
    assert len(stored[1]["content"]) < len("You said: " + words)
