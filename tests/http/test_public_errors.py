"""No upstream error, URL or credential reaches the public; operators get the redacted detail.

Real chinwag server, real fake OpenAI-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import socket

from gateways.fake_openai import error_reply, start_fake_openai, text_reply, tool_call_reply
from httpx_sse import aconnect_sse
from support.server import ServerHandle

from chinwag.http import i18n

API_KEY = "sk-proj-Zx81QWmVd2KsP0aLbTr5yUe7"
UPSTREAM_401 = f"Incorrect API key provided: {API_KEY}. You can find your API key at ..."
PASSWORD = "hunter2-upstream-pw"
EN_SENTENCE = i18n.strings("en")["modelFailed"]


def _with_userinfo(base_url: str) -> str:
    return base_url.replace("http://", f"http://admin:{PASSWORD}@", 1)


async def _session(server: ServerHandle, base_url: str, **client_parameters) -> tuple[str, dict]:
    client_id = await server.create_client(
        provider="openai",
        baseUrl=base_url,
        model="m",
        apiKey=API_KEY,
        client_parameters=client_parameters,
    )
    return client_id, await server.open_session(client_id)


def _assert_clean(text: str) -> None:
    for secret in (API_KEY, "Incorrect API key", PASSWORD, "admin:", "127.0.0.1", "HTTP 401"):
        assert secret not in text, (secret, text)


async def _transcripts(server: ServerHandle, client_id: str, session_id: str) -> tuple[str, str]:
    base = f"/api/v1/web-chat-client/{client_id}/sessions/{session_id}/transcript"
    as_json = await server.client.get(base, params={"format": "json"})
    as_md = await server.client.get(base, params={"format": "md"})
    assert as_json.status_code == 200 and as_md.status_code == 200
    return as_json.text, as_md.text


async def test_upstream_401_is_a_sentence_with_request_id_for_the_public(
    server: ServerHandle, nursery, caplog
) -> None:
    fake = await start_fake_openai(nursery)
    fake.script.append(error_reply(401, UPSTREAM_401))
    client_id, opened = await _session(server, _with_userinfo(fake.base_url))
    key = opened["accessKey"]
    with caplog.at_level(logging.WARNING):
        response = await server.anonymous.post(
            server.public_path(key, "prompt"), json={"prompt": "hello"}
        )
    assert response.status_code == 502
    request_id = response.headers["X-Request-Id"]
    assert response.json() == {
        "message": f"{EN_SENTENCE} (request id {request_id})",
        "data": None,
    }
    _assert_clean(response.text)

    # The restored conversation shows the failure as the sentence only, with the id of the
    # request that failed (the one its response and the log named).
    messages = await server.anonymous.get(server.public_path(key, "messages"))
    _assert_clean(messages.text)
    failed = [m for m in messages.json()["data"] if m.get("error")]
    assert failed and failed[0]["error"] == f"{EN_SENTENCE} (request id {request_id})"
    assert failed[0]["requestId"] == request_id

    # Operators see what happened, with the key masked.
    as_json, as_md = await _transcripts(server, client_id, opened["sessionId"])
    for text in (as_json, as_md):
        assert "Incorrect API key provided" in text and "sk-***" in text
        assert API_KEY not in text

    # The log names the request id and the redacted detail.
    line = next(r.getMessage() for r in caplog.records if request_id in r.getMessage())
    assert "Incorrect API key provided: sk-***" in line and API_KEY not in caplog.text


async def test_unreachable_base_url_with_password_is_masked(server: ServerHandle, nursery) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://admin:{PASSWORD}@127.0.0.1:{port}/v1"
    client_id, opened = await _session(server, base_url)
    response = await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"), json={"prompt": "hello"}
    )
    assert response.status_code == 502
    _assert_clean(response.text)
    as_json, as_md = await _transcripts(server, client_id, opened["sessionId"])
    for text in (as_json, as_md):
        assert "cannot connect to the model server" in text and "***@127.0.0.1" in text
        assert PASSWORD not in text


async def test_sse_error_event_is_the_public_sentence(server: ServerHandle, nursery) -> None:
    fake = await start_fake_openai(nursery)
    streamed = text_reply("partial answer", usage=False)
    streamed.chunks = [
        *streamed.chunks[:3],  # role, "partial", " answer"
        {"error": {"message": UPSTREAM_401, "type": "invalid_request_error"}},
    ]
    fake.script.append(streamed)
    _client_id, opened = await _session(server, fake.base_url)
    events = []
    async with aconnect_sse(
        server.anonymous,
        "POST",
        server.public_path(opened["accessKey"], "prompt"),
        json={"prompt": "go"},
    ) as source:
        request_id = source.response.headers["X-Request-Id"]
        async for event in source.aiter_sse():
            events.append((event.event, json.loads(event.data)))
    assert "content" in [kind for kind, _ in events]
    error = next(data for kind, data in events if kind == "error")
    assert error["message"] == f"{EN_SENTENCE} (request id {request_id})"
    assert error["requestId"] == request_id
    _assert_clean(json.dumps(events))


async def test_the_sentence_follows_the_client_language(server: ServerHandle, nursery) -> None:
    fake = await start_fake_openai(nursery)
    fake.script.append(error_reply(401, UPSTREAM_401))
    _client_id, opened = await _session(server, fake.base_url, languageCode="pt-BR")
    response = await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"), json={"prompt": "olá"}
    )
    assert response.status_code == 502
    assert response.json()["message"].startswith(i18n.strings("pt-BR")["modelFailed"])
    messages = await server.anonymous.get(server.public_path(opened["accessKey"], "messages"))
    errors = [m["error"] for m in messages.json()["data"] if m.get("error")]
    request_id = response.headers["X-Request-Id"]
    assert errors == [f"{i18n.strings('pt-BR')['modelFailed']} (request id {request_id})"]


async def test_fetch_url_refusal_does_not_say_what_a_name_resolves_to(
    server: ServerHandle, nursery
) -> None:
    fake = await start_fake_openai(nursery)
    port = fake.base_url.split(":")[2].split("/")[0]
    target = f"http://localhost:{port}/internal-admin"
    fake.script.append(tool_call_reply([("call_1", "fetch_url", {"url": target})]))
    fake.script.append(text_reply("I could not read it."))
    client_id = await server.create_client(
        provider="openai",
        baseUrl=fake.base_url,
        model="m",
        research={"fetchUrl": True},
        client_parameters={"showToolCalls": True},
    )
    opened = await server.open_session(client_id)
    response = await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"), json={"prompt": "read it"}
    )
    assert response.status_code == 200, response.text
    (call,) = response.json()["data"]["toolCalls"]
    assert call["result"] == "error: refusing to fetch 'localhost': the address is not allowed"
    sent_back = json.dumps(fake.requests[-1].body)
    assert "127.0.0.1" not in call["result"] and "::1" not in sent_back
    assert not [r for r in fake.page_requests if r.path == "/internal-admin"]
