"""The relay gate (chinwag/http/relay_gate.py) on real servers on one PostgreSQL database.

Requests relayed in front of the app answer as the owner would: the same status, envelope,
request id and public headers; body caps hold as when sent directly (a body above the route's
cap, or a prompt above the public cap without images: 413 here), and a bigger prompt with an
image is read by the app and relayed by it, answered as by the owner directly.
An owner that accepts the connection and never answers is given up at its lease end plus the
margin: a 503 with the app's usual headers, the cache entry dropped, nothing stored anywhere.
"""

from __future__ import annotations

import time
from pathlib import Path

import trio
from support.server import ServerHandle, running_server

from chinwag.storage.ownership import NodeRecord

FAST = {"node_lease_seconds": 1.5, "node_renew_seconds": 0.5}


async def _relayed_session(a: ServerHandle, b: ServerHandle) -> tuple[str, str]:
    """A session active on a, whose owner b has met (b's cache names a)."""
    client_id = await a.create_client()
    opened = await a.open_session(client_id)
    key, session_id = opened["accessKey"], opened["sessionId"]
    first = await b.anonymous.post(b.public_path(key, "prompt"), json={"prompt": "first"})
    assert first.status_code == 200, first.text
    return key, session_id


async def test_relayed_answers_look_like_the_owner_s_and_caps_hold(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        running_server(tmp_path / "a", database_url=database_url) as a,
        running_server(tmp_path / "b", database_url=database_url) as b,
    ):
        key, session_id = await _relayed_session(a, b)
        headers = {"Origin": "https://shop.example", "X-Request-Id": "trace-42"}
        for server in (a, b):
            b.service.node.peers.place(session_id, a.service.node.id)
            answer = await server.anonymous.post(
                server.public_path(key, "prompt"), json={"prompt": "hello"}, headers=headers
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"]["completionText"] == "You said: hello"
            assert answer.headers["x-request-id"] == "trace-42"
            assert answer.headers["access-control-allow-origin"] == "*"
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["content-type"] == "application/json"

        # Above the public cap, no image: 413, as directly (the app reads it, cut at 1 MiB).
        big_text = {"prompt": "x" * (1024 * 1024 + 10)}
        refusals = []
        for server in (a, b):
            b.service.node.peers.place(session_id, a.service.node.id)
            refused = await server.anonymous.post(server.public_path(key, "prompt"), json=big_text)
            refusals.append((refused.status_code, refused.json()))
        assert refusals[0] == refusals[1] and refusals[0][0] == 413, refusals
        # Above the public cap with an image part: read by the app, then relayed (same answer).
        pixel = "data:image/png;base64," + "A" * (1536 * 1024)
        with_image = {
            "prompt": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": pixel}},
                    ],
                }
            ]
        }
        answers = []
        for server in (a, b):
            b.service.node.peers.place(session_id, a.service.node.id)
            before = b.service.stats().cluster["forwarded_requests"]
            answer = await server.anonymous.post(server.public_path(key, "prompt"), json=with_image)
            answers.append((answer.status_code, answer.json()["message"]))
            relayed = b.service.stats().cluster["forwarded_requests"] - before
            assert relayed == (1 if server is b else 0)
        assert answers[0] == answers[1], answers
        # Above the route's cap: refused by the node it reaches, before anything is relayed.
        huge = b'{"prompt": "' + b"y" * (11 * 1024 * 1024) + b'"}'
        forwarded = b.service.stats().cluster["forwarded_requests"]
        for server in (a, b):
            b.service.node.peers.place(session_id, a.service.node.id)
            refused = await server.anonymous.post(
                server.public_path(key, "prompt"),
                content=huge,
                headers={"Content-Type": "application/json"},
            )
            assert refused.status_code == 413, refused.text
            assert "larger than the limit" in refused.json()["message"]
        assert b.service.stats().cluster["forwarded_requests"] == forwarded

        metrics = (await b.client.get("/metrics")).text
        route = 'route="/api/v1/public/chat-clients/<access_key>/prompt"'
        assert any(route in line and 'status="200"' in line for line in metrics.splitlines())
        texts = [m.content for m in a.service.messages(session_id) if m.role == "user"]
        assert texts == ["first", "hello", "hello"]


async def test_an_owner_that_never_answers_is_given_up_after_its_lease(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        running_server(tmp_path / "a", database_url=database_url, **FAST) as a,
        running_server(tmp_path / "b", database_url=database_url, **FAST) as b,
    ):
        key, session_id = await _relayed_session(a, b)
        # A "node" that accepts connections and never answers (frozen inside its lease).
        listener = trio.socket.socket()
        await listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        peers = b.service.node.peers
        b.service.node.paused = True  # its node-row reads would forget the made-up node
        lease_until = b.service.node.clock.now() + 1.0
        peers.seen(
            "silent",
            NodeRecord(url=f"http://127.0.0.1:{port}", lease_until=lease_until, started_at=0),
        )
        peers.place(session_id, "silent")
        forwarded = b.service.stats().cluster["forwarded_requests"]

        started = time.monotonic()
        with trio.fail_after(10):
            answer = await b.anonymous.post(
                b.public_path(key, "prompt"),
                json={"prompt": "lost?"},
                headers={"Origin": "https://shop.example", "X-Request-Id": "trace-43"},
            )
        waited = time.monotonic() - started
        listener.close()
        # Its lease (1 s) plus the margin (one renew interval, 0.5 s), and no more than slack.
        assert 1.0 <= waited <= 1.5 + 2.0, waited
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        assert answer.headers["x-request-id"] == "trace-43"
        assert answer.headers["access-control-allow-origin"] == "*"
        assert answer.json() == {
            "message": "this session's node stopped answering; try again (request id trace-43)",
            "data": None,
        }
        assert str(port) not in answer.text
        assert peers.owners.get(session_id) is None
        assert b.service.stats().cluster["forwarded_requests"] == forwarded
        # Not handled again here: nothing stored anywhere.
        texts = [m.content for m in a.service.messages(session_id) if m.role == "user"]
        assert texts == ["first"]
        assert not b.service.sessions.is_active(session_id)


async def test_a_client_leaving_a_relayed_stream_frees_the_relay(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        running_server(tmp_path / "a", database_url=database_url) as a,
        running_server(tmp_path / "b", database_url=database_url) as b,
    ):
        client_id = await a.create_client(streamDelaySeconds=0.2)
        opened = await a.open_session(client_id)
        key, session_id = opened["accessKey"], opened["sessionId"]
        b.service.node.peers.place(session_id, a.service.node.id)
        words = " ".join(f"w{i}" for i in range(60))  # 12 s of reply
        async with b.anonymous.stream(
            "POST",
            b.public_path(key, "prompt"),
            json={"prompt": words},
            headers={"Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("event: content"):
                    break  # the client leaves mid-reply (the stream is closed on exit)
        pool = b.service.node.http
        for _ in range(40):  # within 2 s, not at the reply's end: the relay stopped
            if all(
                connection.is_idle() or connection.is_closed() for connection in pool.connections
            ):
                break
            await trio.sleep(0.05)
        assert all(c.is_idle() or c.is_closed() for c in pool.connections), pool.connections
        b.service.node.peers.place(session_id, a.service.node.id)
        stopped = await b.anonymous.post(b.public_path(key, "stop"))
        assert stopped.status_code == 200, stopped.text
