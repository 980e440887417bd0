"""Error sentences that say what is actually wrong (QA pass): invalid Unicode in JSON, an
over-long Bearer token, one sentence for an unknown access key on every route, the image size
limit, a prompt whose session is deleted while it runs; and the WWW-Authenticate of a 401."""

from __future__ import annotations

import base64

import trio
from support.server import ServerHandle

UNKNOWN_KEY = "Unknown access key: the link is invalid or its session has been deleted."


async def test_lone_surrogate_is_called_invalid_unicode(server: ServerHandle) -> None:
    body = b'{"name": "x\\ud800", "parameters": {"provider": "echo"}}'
    response = await server.client.post(
        "/api/v1/ai-gateways", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    message = response.json()["message"]
    assert "lone UTF-16 surrogate" in message and "not valid Unicode" in message
    assert "truncated" not in message
    truncated = await server.client.post(
        "/api/v1/ai-gateways", content=b'{"name": "x', headers={"Content-Type": "application/json"}
    )
    assert "truncated" in truncated.json()["message"]  # a real truncation still says so


async def test_bearer_tokens_that_cannot_be_keys_are_named(server: ServerHandle) -> None:
    cases = {
        "Bearer " + "k" * 20_000: "The API key is not valid: it is longer than 512 characters.",
        "Basic dXNlcjpwdw==": "The Authorization header must be `Bearer <api key>` "
        "(got the 'Basic' scheme).",
        "Bearer": "The Authorization header must be `Bearer <api key>`: the key is empty.",
    }
    for header, expected in cases.items():
        response = await server.anonymous.get(
            "/api/v1/ai-gateways", headers={"Authorization": header}
        )
        assert response.status_code == 401
        assert response.json() == {"message": expected, "data": None}
        assert response.headers["www-authenticate"] == 'Bearer realm="chinwag"'
    missing = await server.anonymous.get("/api/v1/ai-gateways")
    assert missing.json()["message"].startswith("Missing API key")
    assert missing.headers["www-authenticate"] == 'Bearer realm="chinwag"'


async def test_unknown_access_key_is_one_sentence_everywhere(server: ServerHandle) -> None:
    client_id = await server.create_client()
    opened = await server.open_session(client_id)
    well_formed = opened["accessKey"][:-4] + "aaaa"
    for key in ("wky_nope", well_formed, "not-a-key"):
        for method, tail, body in (
            ("GET", "session", None),
            ("GET", "messages", None),
            ("POST", "prompt", {"prompt": "hi"}),
            ("POST", "links", {"channel": "telegram"}),
            ("GET", "stream", None),
        ):
            response = await server.anonymous.request(
                method, server.public_path(key, tail), json=body
            )
            assert response.status_code == 401, (key, tail, response.text)
            assert response.json() == {"message": UNKNOWN_KEY, "data": None}, (key, tail)
            assert response.headers["www-authenticate"] == 'AccessKey realm="chinwag"'


async def test_oversized_image_names_the_5_mib_limit(server: ServerHandle) -> None:
    client_id = await server.create_client(client_parameters={"inputModes": ["Image"]})
    opened = await server.open_session(client_id)
    data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (6 * 1024 * 1024)).decode()
    part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
    response = await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"), json={"prompt": [part]}
    )
    assert response.status_code == 400, response.text[:300]
    assert "5 MiB" in response.json()["message"]


async def test_prompt_running_when_its_session_is_deleted_says_deleted(
    server: ServerHandle,
) -> None:
    client_id = await server.create_client(streamDelaySeconds=0.05)
    opened = await server.open_session(client_id)
    words = " ".join(f"w{i}" for i in range(400))
    answers = []

    async def ask() -> None:
        answers.append(
            await server.anonymous.post(
                server.public_path(opened["accessKey"], "prompt"), json={"prompt": words}
            )
        )

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            while True:  # until the reply runs (GET …/stream answers 200, not 204)
                async with server.anonymous.stream(
                    "GET", server.public_path(opened["accessKey"], "stream")
                ) as attached:
                    if attached.status_code == 200:
                        break
                await trio.sleep(0.05)
            deleted = await server.client.delete(
                f"/api/v1/web-chat-client/{client_id}/sessions/{opened['sessionId']}"
            )
            assert deleted.status_code == 200, deleted.text
    [answer] = answers
    assert answer.status_code == 404, answer.text
    assert answer.json() == {
        "message": "the session was deleted while this prompt was waiting or being answered",
        "data": None,
    }


async def test_webhook_401_names_its_challenge(server: ServerHandle) -> None:
    client_id = await server.create_client()
    response = await server.anonymous.post(
        f"/api/v1/webhooks/zapi/{client_id}/not-the-secret", json={"type": "ReceivedCallback"}
    )
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'WebhookSecret realm="chinwag"'
