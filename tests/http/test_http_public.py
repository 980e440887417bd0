"""Public session API over real HTTP: info, messages, prompt (JSON and SSE), stop, clear."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
import trio.testing
from httpx_sse import aconnect_sse
from support.clock import settling_clock
from support.server import ServerHandle

SECRET = "zq-metadata-marker-7781"
CONTEXT = "zq-extra-context-marker-1193"


async def _session(server: ServerHandle, **client_options) -> dict:
    client_id = await server.create_client(**client_options)
    return await server.open_session(
        client_id, metadata={"crm": SECRET}, extraContext=CONTEXT, tag="visitor"
    )


async def _sse_events(
    server: ServerHandle, access_key: str, body: dict
) -> tuple[httpx.Response, list[tuple[str, dict]]]:
    events: list[tuple[str, dict]] = []
    async with aconnect_sse(
        server.anonymous, "POST", server.public_path(access_key, "prompt"), json=body
    ) as source:
        async for event in source.aiter_sse():
            events.append((event.event, json.loads(event.data)))
    return source.response, events


async def test_session_info_shape(server: ServerHandle) -> None:
    opened = await _session(
        server, client_parameters={"pageTitle": "Help desk", "helloLabel": "Hi"}
    )
    response = await server.anonymous.get(server.public_path(opened["accessKey"], "session"))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["sessionId"] == opened["sessionId"]
    assert data["clientParameters"]["pageTitle"] == "Help desk"
    assert data["expiresAt"] > 0
    assert data["limits"]["blocked"] is False
    assert "usage" not in data  # debug is off
    for forbidden in ("metadata", "extraContext", "aiGatewayId", "parameters", "tag"):
        assert forbidden not in data


async def test_usage_shown_only_with_debug(server: ServerHandle) -> None:
    opened = await _session(server, client_parameters={"debug": True})
    key = opened["accessKey"]
    await server.anonymous.post(server.public_path(key, "prompt"), json={"prompt": "count me"})
    data = (await server.anonymous.get(server.public_path(key, "session"))).json()["data"]
    assert data["usage"]["totalTokens"] > 0


async def test_prompt_json_and_messages_restore(server: ServerHandle) -> None:
    opened = await _session(server)
    key = opened["accessKey"]
    response = await server.anonymous.post(
        server.public_path(key, "prompt"), json={"prompt": "hello there"}
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["completionText"] == "You said: hello there"
    assert data["status"] == "complete"
    assert (
        data["usage"]["totalTokens"] == data["usage"]["inputTokens"] + data["usage"]["outputTokens"]
    )
    assert [m["role"] for m in data["createdMessages"]] == ["user", "assistant"]
    assert set(data) >= {"completionText", "reasoning", "toolCalls", "usage", "createdMessages"}

    # A second, fresh connection (a reload) gets the same conversation back.
    async with httpx.AsyncClient(base_url=server.base_url) as reloaded:
        messages = (await reloaded.get(server.public_path(key, "messages"))).json()["data"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "hello there"
    assert messages[1]["content"] == "You said: hello there"


async def test_prompt_shapes_and_commit_false(server: ServerHandle) -> None:
    opened = await _session(server)
    key = opened["accessKey"]
    url = server.public_path(key, "prompt")
    one = await server.anonymous.post(
        url, json={"prompt": {"role": "user", "content": [{"type": "text", "text": "as parts"}]}}
    )
    assert one.status_code == 200, one.text
    assert "as parts" in one.json()["data"]["completionText"]
    many = await server.anonymous.post(url, json={"prompt": [{"content": "in a list"}]})
    assert many.status_code == 200, many.text
    assert "in a list" in many.json()["data"]["completionText"]

    count = len((await server.anonymous.get(server.public_path(key, "messages"))).json()["data"])
    dry = await server.anonymous.post(url, json={"prompt": "not stored", "commit": False})
    assert dry.status_code == 200
    assert dry.json()["data"]["completionText"] == "You said: not stored"
    after = (await server.anonymous.get(server.public_path(key, "messages"))).json()["data"]
    assert len(after) == count


async def test_prompt_validation(server: ServerHandle) -> None:
    opened = await _session(server)
    url = server.public_path(opened["accessKey"], "prompt")
    cases = [
        ({}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "hi", "commit": "yes"}, "commit"),
        ({"prompt": "hi", "stream": True}, "stream"),
        ({"prompt": {"role": "system", "content": "x"}}, "prompt.role"),
        ({"prompt": {"content": [{"type": "video", "video": 1}]}}, "prompt.content[0].type"),
        ({"prompt": []}, "prompt"),
    ]
    for body, field in cases:
        response = await server.anonymous.post(url, json=body)
        assert response.status_code == 400, (body, response.text)
        assert field in response.json()["message"], (field, response.json()["message"])
    messages = await server.anonymous.get(server.public_path(opened["accessKey"], "messages"))
    assert messages.json()["data"] == []


async def test_image_refused_unless_input_mode_allows_it(server: ServerHandle) -> None:
    opened = await _session(server)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    response = await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"),
        json={"prompt": {"content": [{"type": "text", "text": "look"}, image]}},
    )
    assert response.status_code == 400
    assert response.json()["data"] is None


async def test_sse_stream(server: ServerHandle) -> None:
    opened = await _session(server)
    response, events = await _sse_events(
        server, opened["accessKey"], {"prompt": "stream these words please"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["cache-control"] == "no-cache"
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done"
    assert set(kinds[:-1]) == {"content"}
    text = "".join(data["text"] for kind, data in events if kind == "content")
    assert text == "You said: stream these words please"
    done = events[-1][1]
    assert done["usage"]["totalTokens"] > 0
    assert done["result"]["completionText"] == text
    assert done["result"]["status"] == "complete"


async def test_sse_refusal_before_start_is_a_json_envelope(server: ServerHandle) -> None:
    opened = await _session(server, limiting_parameters={"maxMessages": 2})
    key = opened["accessKey"]
    first = await server.anonymous.post(server.public_path(key, "prompt"), json={"prompt": "one"})
    assert first.status_code == 200
    async with aconnect_sse(
        server.anonymous, "POST", server.public_path(key, "prompt"), json={"prompt": "two"}
    ) as source:
        response = source.response
        await response.aread()
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["data"] is None
    assert "maxMessages" in body["message"]
    info = (await server.anonymous.get(server.public_path(key, "session"))).json()["data"]
    assert info["limits"]["blocked"] is True
    # Clearing the conversation unblocks it.
    cleared = await server.anonymous.delete(server.public_path(key, "messages"))
    assert cleared.status_code == 200
    again = await server.anonymous.post(server.public_path(key, "prompt"), json={"prompt": "3"})
    assert again.status_code == 200


async def test_rate_limit_is_429_with_retry_after(server: ServerHandle) -> None:
    opened = await _session(server, limiting_parameters={"messagesPerHour": 1})
    url = server.public_path(opened["accessKey"], "prompt")
    assert (await server.anonymous.post(url, json={"prompt": "one"})).status_code == 200
    limited = await server.anonymous.post(url, json={"prompt": "two"})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "messagesPerHour" in limited.json()["message"]


async def test_stop_mid_stream_keeps_the_partial_reply(server: ServerHandle) -> None:
    opened = await _session(server, streamDelaySeconds=0.05)
    key = opened["accessKey"]
    words = " ".join(f"w{i}" for i in range(200))
    events: list[tuple[str, dict]] = []
    with trio.fail_after(20):
        async with aconnect_sse(
            server.anonymous, "POST", server.public_path(key, "prompt"), json={"prompt": words}
        ) as source:
            async for event in source.aiter_sse():
                events.append((event.event, json.loads(event.data)))
                if len(events) == 3:
                    stop = await server.anonymous.post(server.public_path(key, "stop"))
                    assert stop.status_code == 200
                    assert stop.json()["data"] == {"stopped": True}
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done"
    result = events[-1][1]["result"]
    assert result["status"] == "stopped"
    partial = "".join(data["text"] for kind, data in events if kind == "content")
    assert partial.startswith("You said: w0")
    assert len(partial) < len("You said: " + words)
    messages = (await server.anonymous.get(server.public_path(key, "messages"))).json()["data"]
    assert messages[-1]["role"] == "assistant"
    assert messages[-1]["status"] == "stopped"
    assert messages[-1]["content"] == result["completionText"]
    idle = await server.anonymous.post(server.public_path(key, "stop"))
    assert idle.json()["data"] == {"stopped": False}


async def test_reconnecting_client_restores_history(server: ServerHandle) -> None:
    opened = await _session(server, streamDelaySeconds=0.01)
    key = opened["accessKey"]
    with trio.fail_after(20):
        async with (
            httpx.AsyncClient(base_url=server.base_url) as first_tab,
            aconnect_sse(
                first_tab,
                "POST",
                server.public_path(key, "prompt"),
                json={"prompt": "remember this sentence for later"},
            ) as source,
        ):
            async for event in source.aiter_sse():
                if event.event == "content":
                    break  # the tab goes away mid-reply
        async with httpx.AsyncClient(base_url=server.base_url) as second_tab:
            while True:
                messages = (await second_tab.get(server.public_path(key, "messages"))).json()
                roles = [m["role"] for m in messages["data"]]
                if roles == ["user", "assistant"]:
                    break
                await trio.sleep(0.02)
    user, assistant = messages["data"]
    assert user["content"] == "remember this sentence for later"
    assert assistant["status"] in ("complete", "stopped")
    assert assistant["content"].startswith("You said:")


async def test_unknown_and_deleted_access_keys_are_401(server: ServerHandle) -> None:
    for key in ("wky_" + "a" * 56, "nonsense", "wky_", "x" * 600):
        for method, tail in (
            ("GET", "session"),
            ("GET", "messages"),
            ("POST", "prompt"),
            ("DELETE", "messages"),
            ("POST", "stop"),
        ):
            response = await server.anonymous.request(
                method, server.public_path(key, tail), json={"prompt": "hi"}
            )
            assert response.status_code == 401, (key, method, tail)
            assert response.json()["data"] is None


async def test_expired_access_key_is_401(
    server: ServerHandle, idle_jump_clock: trio.testing.MockClock
) -> None:
    opened = await _session(server)
    key = opened["accessKey"]
    client_id = await _client_of(server, opened)
    ok = await server.anonymous.get(server.public_path(key, "session"))
    assert ok.status_code == 200
    idle_jump_clock.jump(601 + 3600)
    # Fresh connections: the jump also expired the server's keep-alive timers.
    async with (
        httpx.AsyncClient(base_url=server.base_url) as visitor,
        httpx.AsyncClient(
            base_url=server.base_url, headers={"Authorization": f"Bearer {server.api_key}"}
        ) as admin,
    ):
        for method, tail in (("GET", "session"), ("POST", "prompt")):
            expired = await visitor.request(
                method, server.public_path(key, tail), json={"prompt": "late"}
            )
            assert expired.status_code == 401
            assert "expired" in expired.json()["message"]
        # The management API still reads it (kept read-only until purged).
        got = await admin.get(f"/api/v1/web-chat-client/{client_id}/sessions/{opened['sessionId']}")
    assert got.status_code == 200
    assert got.json()["data"]["expired"] is True


async def _client_of(server: ServerHandle, opened: dict) -> str:
    clients = (await server.client.get("/api/v1/web-chat-client")).json()["data"]
    for client in clients:
        response = await server.client.get(
            f"/api/v1/web-chat-client/{client['id']}/sessions/{opened['sessionId']}"
        )
        if response.status_code == 200:
            return client["id"]
    raise AssertionError("session not found in any client")


async def test_metadata_and_context_never_on_the_public_wire(server: ServerHandle) -> None:
    opened = await _session(server, client_parameters={"debug": True})
    key = opened["accessKey"]
    bodies = []
    bodies.append((await server.anonymous.get(server.public_path(key, "session"))).text)
    bodies.append(
        (await server.anonymous.post(server.public_path(key, "prompt"), json={"prompt": "a"})).text
    )
    async with aconnect_sse(
        server.anonymous, "POST", server.public_path(key, "prompt"), json={"prompt": "b"}
    ) as source:
        bodies.append((await source.response.aread()).decode())
    bodies.append((await server.anonymous.get(server.public_path(key, "messages"))).text)
    for body in bodies:
        assert SECRET not in body
        assert CONTEXT not in body
    # The management API does return the metadata (so the markers are really stored).
    client_id = await _client_of(server, opened)
    managed = await server.client.get(
        f"/api/v1/web-chat-client/{client_id}/sessions/{opened['sessionId']}"
    )
    assert SECRET in managed.text


async def test_metadata_never_reaches_the_model(server: ServerHandle, nursery) -> None:
    from gateways.fake_openai import start_fake_openai

    fake = await start_fake_openai(nursery)
    client_id = await server.create_client(
        provider="openai", baseUrl=fake.base_url, model="m", apiKey="sk-x"
    )
    opened = await server.open_session(client_id, metadata={"crm": SECRET}, extraContext=CONTEXT)
    response = await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"), json={"prompt": "hi model"}
    )
    assert response.status_code == 200, response.text
    assert fake.requests, "the model server was not called"
    sent = json.dumps(fake.requests[-1].body)
    assert CONTEXT in sent  # extra context is for the assistant ...
    assert SECRET not in sent  # ... metadata never is
    assert "crm" not in sent


@pytest.fixture
def idle_jump_clock() -> trio.testing.MockClock:
    """Mock time that also skips ahead when every task has been idle for 0.2 s of real time.

    (pytest-trio runs the test under any Clock a fixture returns.) Real network round trips on
    127.0.0.1 finish well within 0.2 s, so only genuine timer waits (server shutdown) are
    fast-forwarded; the test moves time itself with `jump`.
    """
    return settling_clock(autojump_threshold=0.2)


async def _openai_session(server: ServerHandle, fake, **client_options) -> dict:
    client_id = await server.create_client(
        provider="openai", baseUrl=fake.base_url, model="m", apiKey="sk-x", **client_options
    )
    return await server.open_session(client_id)


async def test_model_failure_mid_stream_is_an_error_event(server: ServerHandle, nursery) -> None:
    from gateways.fake_openai import start_fake_openai, text_reply

    fake = await start_fake_openai(nursery)
    fake.script.append(text_reply("one two three four five six", cut_after=4))
    opened = await _openai_session(server, fake)
    response, events = await _sse_events(server, opened["accessKey"], {"prompt": "go"})
    assert response.status_code == 200
    kinds = [kind for kind, _ in events]
    assert "content" in kinds
    assert "error" in kinds
    error = next(data for kind, data in events if kind == "error")
    assert error["message"] and error["status"] >= 500
    if kinds[-1] == "done":
        assert events[-1][1]["result"]["status"] == "error"


async def test_model_failure_before_start_is_a_json_502(server: ServerHandle, nursery) -> None:
    from gateways.fake_openai import Reply, start_fake_openai

    fake = await start_fake_openai(nursery)
    opened = await _openai_session(server, fake)
    for accept in ("application/json", "text/event-stream"):
        # 400 is not retried by the gateway: the model call fails before anything streamed.
        fake.script.append(Reply(status=400, error_body={"error": {"message": "boom"}}))
        response = await server.anonymous.post(
            server.public_path(opened["accessKey"], "prompt"),
            json={"prompt": "fail please"},
            headers={"Accept": accept},
        )
        assert response.status_code == 502, (accept, response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["data"] is None


async def test_idempotency_key_answers_a_retry_once(server: ServerHandle) -> None:
    opened = await _session(server)
    url = server.public_path(opened["accessKey"], "prompt")
    headers = {"Idempotency-Key": "retry-1"}
    first = await server.anonymous.post(url, json={"prompt": "only once"}, headers=headers)
    again = await server.anonymous.post(url, json={"prompt": "only once"}, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["data"]["completionText"] == first.json()["data"]["completionText"]
    messages = await server.anonymous.get(server.public_path(opened["accessKey"], "messages"))
    assert [m["content"] for m in messages.json()["data"]] == ["only once", "You said: only once"]
    too_long = await server.anonymous.post(
        url, json={"prompt": "x"}, headers={"Idempotency-Key": "k" * 201}
    )
    assert too_long.status_code == 400
    assert "Idempotency-Key" in too_long.json()["message"]


async def test_public_api_allows_cross_origin_calls_management_does_not(
    server: ServerHandle,
) -> None:
    opened = await _session(server)
    path = server.public_path(opened["accessKey"], "prompt")
    preflight = await server.anonymous.options(
        path,
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    answer = await server.anonymous.post(
        path, json={"prompt": "hi"}, headers={"Origin": "https://shop.example"}
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    management = await server.client.get("/api/v1/ai-gateways", headers={"Origin": "https://x"})
    assert "access-control-allow-origin" not in management.headers
