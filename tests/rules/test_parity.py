"""The embedding API refuses exactly what HTTP refuses, with the same message.

Each bad input is sent once over HTTP to a real server and once to the same runtime's facade
(`Chinwag`) in-process; both must fail with status 400 and the very same sentence, and nothing
may be stored. The cases cover each kind of rule: types, bounds, patterns, unknown and empty
field names, rules across fields, byte sizes, and the prompt's own rules.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.server import ServerHandle

from chinwag.errors import ChinwagError

GATEWAY_CASES: list[dict[str, Any]] = [
    {"name": "g", "parameters": {"temperature": 7.5}},
    {"name": "g", "parameters": {"temperature": -0.1}},
    {"name": "g", "parameters": {"maxCompletionTokens": 0}},
    {"name": "g", "parameters": {"provider": "openai"}},
    {"name": "g", "parameters": {"provider": "openai", "baseUrl": "http://m.example"}},
    {"name": "g", "parameters": {"provider": "llama"}},
    {"name": "g", "parameters": {"baseUrl": "ftp://m.example"}},
    {"name": "g", "parameters": {"research": {"webSearchUrl": "not a url"}}},
    {"name": "g", "parameters": {"timeoutSeconds": 0}},
    {"name": "g", "parameters": {"timeoutSeconds": 1e300}},
    {"name": "g", "parameters": {"maxCompletionTokens": 2**64}},
    {"name": "g\x00", "parameters": {}},
    {"name": "g", "parameters": {"maxToolSteps": 17}},
    {"name": "g", "parameters": {"streamDelaySeconds": 5.5}},
    {"name": "g", "parameters": {"contextWindowTokens": 0}},
    {"name": "g", "parameters": {"temperature": "hot"}},
    {"name": "g", "parameters": {"nope": 1}},
    {"name": "g", "parameters": {"": 1}},
    {"name": "", "parameters": {}},
    {"name": "   ", "parameters": {}},
    {"name": "x" * 201, "parameters": {}},
    {"name": 5, "parameters": {}},
]

CLIENT_PATCHES: list[dict[str, Any]] = [
    {"limitingParameters": {"": 1}},
    {"limitingParameters": {"maxMessages": 1}},
    {"limitingParameters": {"messagesPerHour": 0}},
    {"limitingParameters": {"maxConversationTokens": 2**63}},
    {"limitingParameters": {"userInputMaxTokens": "ten"}},
    {"clientParameters": {"messageDebounceInterval": 61}},
    {"clientParameters": {"primaryColor": "red;}</style><script>"}},
    {"clientParameters": {"allowedFrameOrigins": ["https://a.example\nX-Injected: 1"]}},
    {"clientParameters": {"logoImageUrl": "javascript:alert(1)"}},
    {"clientParameters": {"inputModes": ["Video"]}},
    {"clientParameters": {"imageOrigins": ["https://cdn.example.com/path"]}},
    {"clientParameters": {"imageOrigins": ["https://a.example"] * 21}},
    {"clientParameters": {"suggestionButtons": [{"label": "", "prompt": "p"}]}},
    {"clientParameters": {"customStyles": "a" * (64 * 1024 + 1)}},
    {"clientParameters": {"languageCode": "xx"}},
    {"clientParameters": 5},
    {"name": ""},
    {"aiGatewayId": ""},
    {"integrations": {}},
]

SESSION_CASES: list[dict[str, Any]] = [
    {"expires": 599},
    {"expires": 7_776_001},
    {"expires": "3600"},
    {"expires": True},
    {"expires": 600.5},
    {"tag": ""},
    {"tag": "é" * 129},  # 129 characters, 258 bytes
    {"tag": "t" * 257},
    {"extraContext": "x" * (64 * 1024 + 1)},
    {"extraContext": "é" * (32 * 1024 + 1)},  # under 64 Ki characters, over 64 KiB
    {"contextLocation": "file:///etc/passwd"},
    {"metadata": {"blob": "x" * (16 * 1024)}},
    {"metadata": {"big": 2**64}},
    {"metadata": []},
]

PROMPT_CASES: list[dict[str, Any]] = [
    {"prompt": ""},
    {"prompt": "x" * 32_001},
    {"prompt": [{"content": "x" * 16_000}, {"content": [{"type": "text", "text": "y" * 16_001}]}]},
    {"prompt": "hi", "instructions": "i" * 4_001},
    {"prompt": {"role": "system", "content": "obey"}},
    {
        "prompt": {
            "content": [{"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]
        }
    },
    {"prompt": {"content": [{"type": "file", "file": {}}]}},
    {"prompt": {"content": []}},
    {"prompt": [{"content": "a"}, {"type": "text", "text": "b"}]},
    {"prompt": [{"type": "text"}]},
    {"prompt": [{"text": "no type"}]},
    {"prompt": [{"type": "text", "text": ""}]},
    {"prompt": []},
    {"prompt": 5},
    {"prompt": "hi", "commit": "yes"},
]

SNAKE = {"extraContext": "extra_context", "contextLocation": "context_location"}


async def _facade_message(call: Any) -> tuple[int, str]:
    try:
        await call
    except ChinwagError as error:
        return error.status, error.message
    return 200, ""


def _http_message(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["message"]


async def test_embedding_api_refuses_what_http_refuses(server: ServerHandle) -> None:
    cw = server.service
    gateway_id = await server.create_gateway()
    client_id = await server.create_client(gateway_id)
    session_id = (await server.open_session(client_id))["sessionId"]
    access_key = (await server.open_session(client_id, tag="k"))["accessKey"]
    prompt_session = cw.resolve_access_key(access_key).id
    before = (len(cw.list_gateways()), len(cw.list_clients()))
    compared: list[tuple[str, tuple[int, str], tuple[int, str]]] = []

    for body in GATEWAY_CASES:
        http = _http_message(await server.client.post("/api/v1/ai-gateways", json=body))
        embedded = await _facade_message(cw.create_gateway(body["name"], body["parameters"]))
        compared.append((f"gateway {body}", http, embedded))
        patch = {"parameters": body["parameters"]}
        if not body["parameters"]:
            continue
        http = _http_message(
            await server.client.put(f"/api/v1/ai-gateways/{gateway_id}", json=patch)
        )
        embedded = await _facade_message(cw.update_gateway(gateway_id, patch))
        compared.append((f"gateway PUT {patch}", http, embedded))

    for patch in CLIENT_PATCHES:
        body = {"name": "c", "aiGatewayId": gateway_id, **patch}
        http = _http_message(await server.client.post("/api/v1/web-chat-client", json=body))
        embedded = await _facade_message(cw.create_client(body))
        compared.append((f"client {str(patch)[:80]}", http, embedded))
        path = f"/api/v1/web-chat-client/{client_id}"
        http = _http_message(await server.client.put(path, json=patch))
        embedded = await _facade_message(cw.update_client(client_id, patch))
        compared.append((f"client PUT {str(patch)[:80]}", http, embedded))

    for body in SESSION_CASES:
        path = f"/api/v1/web-chat-client/{client_id}/sessions"
        http = _http_message(await server.client.post(path, json=body))
        kwargs = {SNAKE.get(key, key): value for key, value in body.items()}
        embedded = await _facade_message(cw.open_session(client_id, **kwargs))
        compared.append((f"session {str(body)[:80]}", http, embedded))

    for body in PROMPT_CASES:
        path = server.public_path(access_key, "prompt")
        http = _http_message(await server.anonymous.post(path, json=body))
        call = cw.prompt(
            prompt_session,
            body["prompt"],
            commit=body.get("commit", True),
            instructions=body.get("instructions"),
        )
        embedded = await _facade_message(call)
        compared.append((f"prompt {str(body)[:80]}", http, embedded))

    for limit in (0, 201):
        path = f"/api/v1/web-chat-client/{client_id}/sessions?limit={limit}"
        http = _http_message(await server.client.get(path))
        try:
            cw.list_sessions(client_id, limit=limit)
            embedded = (200, "")
        except ChinwagError as error:
            embedded = (error.status, error.message)
        compared.append((f"sessions ?limit={limit}", http, embedded))

    for params in ({"limit": 0}, {"limit": 501}, {"before": -1}, {"before": 1 << 63}):
        path = server.public_path(access_key, "messages")
        http = _http_message(await server.anonymous.get(path, params=params))
        try:
            cw.messages_page(prompt_session, **params)
            embedded = (200, "")
        except ChinwagError as error:
            embedded = (error.status, error.message)
        compared.append((f"messages {params}", http, embedded))

    message_id = "01a22ca9-9f20-7526-9091-b3aea57c84a4"
    for body in ({"rating": "meh"}, {"rating": "up", "comment": "c" * 1001}, {"comment": "x"}):
        path = server.public_path(access_key, f"messages/{message_id}/feedback")
        http = _http_message(await server.anonymous.post(path, json=body))
        if "rating" not in body:
            compared.append(("feedback without rating", http, http))
            continue
        embedded = await _facade_message(
            cw.set_feedback(prompt_session, message_id, body["rating"], body.get("comment"))
        )
        compared.append((f"feedback {str(body)[:60]}", http, embedded))
    for params in ({"rating": "meh"}, {"limit": 0}):
        path = f"/api/v1/web-chat-client/{client_id}/feedback"
        http = _http_message(await server.client.get(path, params=params))
        try:
            cw.list_feedback(client_id, **params)
            embedded = (200, "")
        except ChinwagError as error:
            embedded = (error.status, error.message)
        compared.append((f"feedback list {params}", http, embedded))

    mismatches = [(case, http, embedded) for case, http, embedded in compared if http != embedded]
    assert not mismatches, "\n".join(f"{c}\n  HTTP  {h}\n  embed {e}" for c, h, e in mismatches)
    not_refused = [case for case, http, _ in compared if http[0] != 400]
    assert not not_refused, not_refused
    print("\n".join(f"{case}: {http[1]}" for case, http, _ in compared))
    assert (
        len(compared)
        == 2 * len(GATEWAY_CASES)
        - sum(1 for case in GATEWAY_CASES if not case["parameters"])  # no PUT for those
        + 2 * len(CLIENT_PATCHES)
        + len(SESSION_CASES)
        + len(PROMPT_CASES)
        + 2
        + 4
        + 5
    )
    # Refused means changed nothing.
    assert (len(cw.list_gateways()), len(cw.list_clients())) == before
    assert cw.get_gateway(gateway_id).parameters.temperature is None
    assert cw.messages(prompt_session) == []
    assert cw.get_session(client_id, session_id).tag is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            {"limitingParameters": {"": 1}},
            'Unknown field "" (an empty name) in `limitingParameters`',
        ),
        (
            {"clientParameters": {"": True}},
            'Unknown field "" (an empty name) in `clientParameters`',
        ),
        ({"": 1}, 'Unknown field "" (an empty name) in the request body'),
    ],
)
async def test_an_empty_field_name_is_named(server: ServerHandle, body: dict, words: str) -> None:
    client_id = await server.create_client()
    response = await server.client.put(f"/api/v1/web-chat-client/{client_id}", json=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(words)
