"""Research tool calls reach the public only with clientParameters.showToolCalls.

Real chinwag server, real fake OpenAI-compatible server on 127.0.0.1: the model calls
`fetch_url`, and the URL it asked for and the tool's result must not show in the JSON reply,
the SSE stream or the public conversation unless the client shows tool calls. Management views
keep them.
"""

from __future__ import annotations

import json

from gateways.fake_openai import start_fake_openai, text_reply, tool_call_reply
from httpx_sse import aconnect_sse
from support.server import ServerHandle

SECRET_PATH = "/internal-admin-7f3a"


async def _client(server: ServerHandle, nursery, *, shown: bool):
    fake = await start_fake_openai(nursery)
    client_id = await server.create_client(
        provider="openai",
        baseUrl=fake.base_url,
        model="m",
        research={"fetchUrl": True},
        client_parameters={"showToolCalls": shown},
    )
    port = fake.base_url.split(":")[2].split("/")[0]
    return fake, client_id, f"http://localhost:{port}{SECRET_PATH}"


def _script(fake, target: str, times: int) -> None:
    for _ in range(times):
        fake.script.append(tool_call_reply([("call_1", "fetch_url", {"url": target})]))
        fake.script.append(text_reply("I could not read it."))


async def _sse(server: ServerHandle, key: str) -> list[tuple[str, dict]]:
    events = []
    async with aconnect_sse(
        server.anonymous, "POST", server.public_path(key, "prompt"), json={"prompt": "again"}
    ) as source:
        async for event in source.aiter_sse():
            events.append((event.event, json.loads(event.data)))
    return events


async def test_hidden_tool_calls_reach_no_public_view(server: ServerHandle, nursery) -> None:
    fake, client_id, target = await _client(server, nursery, shown=False)
    _script(fake, target, times=2)
    opened = await server.open_session(client_id)
    key = opened["accessKey"]

    reply = await server.anonymous.post(server.public_path(key, "prompt"), json={"prompt": "go"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["completionText"] == "I could not read it."
    assert reply.json()["data"]["toolCalls"] == []

    events = await _sse(server, key)
    kinds = [kind for kind, _ in events]
    assert "tool" not in kinds and kinds[-1] == "done"

    messages = await server.anonymous.get(server.public_path(key, "messages"))
    assert messages.status_code == 200
    for text in (reply.text, json.dumps(events), messages.text):
        assert SECRET_PATH not in text and "fetch_url" not in text and "refusing" not in text

    # The operator still sees what the model did.
    path = f"/api/v1/web-chat-client/{client_id}/sessions/{opened['sessionId']}/messages"
    managed = await server.client.get(path)
    assert managed.status_code == 200
    assert SECRET_PATH in managed.text and "fetch_url" in managed.text


async def test_shown_tool_calls_reach_the_public(server: ServerHandle, nursery) -> None:
    fake, client_id, target = await _client(server, nursery, shown=True)
    _script(fake, target, times=2)
    key = (await server.open_session(client_id))["accessKey"]

    reply = await server.anonymous.post(server.public_path(key, "prompt"), json={"prompt": "go"})
    (call,) = reply.json()["data"]["toolCalls"]
    assert call["name"] == "fetch_url" and SECRET_PATH in call["arguments"]

    events = await _sse(server, key)
    tools = [data for kind, data in events if kind == "tool"]
    assert [t["result"] is None for t in tools] == [True, False]

    messages = await server.anonymous.get(server.public_path(key, "messages"))
    assert SECRET_PATH in messages.text
