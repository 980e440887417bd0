"""Identifiers with control characters (or, for an Idempotency-Key, anything but printable
ASCII) are refused with a 400 naming the field, and nothing is stored."""

from __future__ import annotations

import httpx
from support.server import ServerHandle


async def test_tag_with_control_characters_is_400(server: ServerHandle) -> None:
    client_id = await server.create_client()
    url = f"/api/v1/web-chat-client/{client_id}/sessions"
    for tag in ("a\u0000b", "line\nbreak", "del\u007f", "c1\u0085"):
        response = await server.client.post(url, json={"expires": 3600, "tag": tag})
        assert response.status_code == 400, (tag, response.text)
        body = response.json()
        assert body["data"] is None
        assert body["message"].startswith("tag must be text without control characters"), body
    listed = (await server.client.get(url)).json()["data"]
    assert listed["items"] == []
    ok = await server.client.post(url, json={"expires": 3600, "tag": "Ünïcode tag with spaces"})
    assert ok.status_code == 200, ok.text


async def test_idempotency_key_must_be_printable_ascii(server: ServerHandle) -> None:
    client_id = await server.create_client()
    opened = await server.open_session(client_id)
    prompt = server.public_path(opened["accessKey"], "prompt")
    for raw in (b"key\x7fdel", b"caf\xe9", b"tab\x01key"):
        headers = httpx.Headers([(b"Idempotency-Key", raw)])
        response = await server.anonymous.post(prompt, json={"prompt": "hi"}, headers=headers)
        assert response.status_code == 400, (raw, response.text)
        assert response.json() == {
            "message": "The Idempotency-Key header must be 1 to 200 printable ASCII characters "
            "(letters, digits, punctuation, spaces).",
            "data": None,
        }
    messages = await server.anonymous.get(server.public_path(opened["accessKey"], "messages"))
    assert messages.json()["data"] == []
    fine = await server.anonymous.post(
        prompt, json={"prompt": "hi"}, headers={"Idempotency-Key": "0193a1b2-ok key:1"}
    )
    assert fine.status_code == 200, fine.text
