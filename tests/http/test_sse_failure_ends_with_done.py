"""A streamed prompt whose model fails after the stream started ends with `error` then `done`.

README: an `error` event is followed by `done` (its `result.status` says "error"), so a page
that waits for `done` always learns the turn ended. Real chinwag server, real fake
OpenAI-compatible server on 127.0.0.1 failing two ways: an error chunk, and a dropped connection.
"""

from __future__ import annotations

import json

import pytest
from gateways.fake_openai import start_fake_openai, text_reply
from httpx_sse import aconnect_sse
from support.server import ServerHandle


def _error_chunk():
    reply = text_reply("partial answer here", usage=False)
    reply.chunks = [*reply.chunks[:3], {"error": {"message": "boom", "type": "server_error"}}]
    return reply


def _dropped():
    return text_reply("partial answer here", usage=False, cut_after=3)


@pytest.mark.parametrize("failure", [_error_chunk, _dropped], ids=["error-chunk", "dropped"])
async def test_failure_after_start_ends_with_error_then_done(
    server: ServerHandle, nursery, failure
) -> None:
    fake = await start_fake_openai(nursery)
    fake.script.append(failure())
    client_id = await server.create_client(provider="openai", baseUrl=fake.base_url, model="m")
    key = (await server.open_session(client_id))["accessKey"]
    events = []
    async with aconnect_sse(
        server.anonymous, "POST", server.public_path(key, "prompt"), json={"prompt": "go"}
    ) as source:
        async for event in source.aiter_sse():
            events.append((event.event, json.loads(event.data)))
    kinds = [kind for kind, _ in events]
    assert "content" in kinds, kinds
    assert kinds[-2:] == ["error", "done"], kinds
    assert events[-1][1]["result"]["status"] == "error"
