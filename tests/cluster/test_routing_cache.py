"""The owner cache on real servers: two runtimes + Hypercorn on one PostgreSQL database.

Once a node has met a session's live owner, its further requests for that session are relayed
at once: no session actor started here, no owner or node row read. A stale entry (the session
is in fact here) costs one relay that the named node refuses, after which the request is
served here, once, by the session's one activation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import trio
from httpx_sse import aconnect_sse
from support.server import ServerHandle, running_server

from chinwag.storage import ownership


async def _owner(server: ServerHandle, session_id: str) -> ownership.OwnerRecord:
    raw = await ownership.read_owner(server.service.engine, session_id)
    assert raw is not None
    return ownership.decode_owner(raw)


class _RowReads:
    """Counts this runtime's reads of owner and node rows (an observer; the engine still reads)."""

    def __init__(self, server: ServerHandle) -> None:
        self.count = 0
        engine = server.service.engine
        original = engine.aget

        async def counted(table: str, key: bytes) -> Any:
            if table in (ownership.OWNERS, ownership.NODES):
                self.count += 1
            return await original(table, key)

        engine.aget = counted


async def test_relayed_requests_start_no_actor_and_read_no_row(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        running_server(tmp_path / "a", database_url=database_url) as a,
        running_server(tmp_path / "b", database_url=database_url) as b,
    ):
        client_id = await a.create_client()
        opened = await a.open_session(client_id)
        key, session_id = opened["accessKey"], opened["sessionId"]
        on_a = await a.anonymous.post(a.public_path(key, "prompt"), json={"prompt": "0"})
        assert on_a.status_code == 200, on_a.text
        first = await b.anonymous.post(b.public_path(key, "prompt"), json={"prompt": "1"})
        assert first.status_code == 200, first.text
        assert b.service.node.peers.owners.get(session_id) == a.service.node.id

        reads = _RowReads(b)
        activations = b.service.stats().session_activations
        forwarded = b.service.stats().cluster["forwarded_requests"]
        for index in range(2, 7):
            relayed = await b.anonymous.post(
                b.public_path(key, "prompt"), json={"prompt": str(index)}
            )
            assert relayed.status_code == 200, relayed.text
            assert relayed.json()["data"]["completionText"] == f"You said: {index}"
        stopped = await b.anonymous.post(b.public_path(key, "stop"))
        assert stopped.status_code == 200 and stopped.json()["data"] == {"stopped": False}
        async with aconnect_sse(
            b.anonymous, "POST", b.public_path(key, "prompt"), json={"prompt": "7"}
        ) as source:
            events = [event async for event in source.aiter_sse()]
        assert events[-1].event == "done"
        assert json.loads(events[-1].data)["result"]["completionText"] == "You said: 7"

        assert reads.count == 0
        assert b.service.stats().session_activations == activations
        assert b.service.stats().cluster["forwarded_requests"] == forwarded + 7
        assert not b.service.sessions.is_active(session_id)
        assert (await _owner(a, session_id)).node == a.service.node.id
        texts = [m.content for m in a.service.messages(session_id) if m.role == "user"]
        assert texts == [str(i) for i in range(8)]

        # A forged key is refused here as before (its MAC is checked before any relay).
        forged = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
        refused = await b.anonymous.post(b.public_path(forged, "prompt"), json={"prompt": "x"})
        assert refused.status_code == 401
        assert b.service.stats().cluster["forwarded_requests"] == forwarded + 7


async def test_a_stale_entry_costs_one_refused_relay_and_is_served_here(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        running_server(tmp_path / "a", database_url=database_url) as a,
        running_server(tmp_path / "b", database_url=database_url) as b,
    ):
        client_id = await a.create_client()
        opened = await a.open_session(client_id)
        key, session_id = opened["accessKey"], opened["sessionId"]
        # The session leaves a (passivated: released) and is placed on b by b's request.
        a.service.sessions.deactivate(session_id)
        for _ in range(500):  # its actor stops and writes the release
            if (await _owner(a, session_id)).released:
                break
            await trio.sleep(0.02)
        assert (await _owner(a, session_id)).released
        here = await b.anonymous.post(b.public_path(key, "prompt"), json={"prompt": "on b"})
        assert here.status_code == 200, here.text
        owner = await _owner(b, session_id)
        assert owner.node == b.service.node.id and not owner.released

        # b wrongly believes a owns it: a refuses the relay, and b serves it here.
        b.service.node.peers.place(session_id, a.service.node.id)
        assert b.service.node.peers.owners.get(session_id) == a.service.node.id
        forwarded_b = b.service.stats().cluster["forwarded_requests"]
        for body, accept in (({"prompt": "again"}, "application/json"), ({"prompt": "sse"}, "")):
            b.service.node.peers.place(session_id, a.service.node.id)
            headers = {"Accept": "text/event-stream"} if not accept else {}
            response = await b.anonymous.post(
                b.public_path(key, "prompt"), json=body, headers=headers
            )
            assert response.status_code == 200, response.text
            assert f"You said: {body['prompt']}" in response.text
            assert b.service.node.peers.owners.get(session_id) is None
        assert b.service.stats().cluster["forwarded_requests"] == forwarded_b
        assert a.service.stats().cluster["forwarded_requests"] == 0
        assert not a.service.sessions.is_active(session_id)
        assert await _owner(b, session_id) == owner  # same node, same epoch: one activation
        texts = [m.content for m in b.service.messages(session_id) if m.role == "user"]
        assert texts == ["on b", "again", "sse"]
