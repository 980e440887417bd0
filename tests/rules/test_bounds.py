"""Revision 2 field bounds at their boundary, over a real server: the limit is accepted, one past
it is a 400 naming the field and the limit, and a refused request stores nothing."""

from __future__ import annotations

import base64
from pathlib import Path

from support.server import ServerHandle, running_server

from chinwag.rules import bounds

PNG = b"\x89PNG\r\n\x1a\n"


def _image_part(size: int) -> dict:
    data = base64.b64encode(PNG + b"\0" * (size - len(PNG))).decode()
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}


async def _prompt(server: ServerHandle, access_key: str, body: dict) -> tuple[int, str | None]:
    response = await server.anonymous.post(server.public_path(access_key, "prompt"), json=body)
    return response.status_code, response.json()["message"]


async def _sessions(server: ServerHandle, client_id: str, body: dict) -> tuple[int, str | None]:
    path = f"/api/v1/web-chat-client/{client_id}/sessions"
    response = await server.client.post(path, json=body)
    return response.status_code, response.json()["message"]


async def test_prompt_text_and_instructions_bounds(server: ServerHandle) -> None:
    client_id = await server.create_client()
    key = (await server.open_session(client_id))["accessKey"]
    limit = bounds.DEFAULT_MAX_PROMPT_CHARS
    assert limit == 32_000 and server.settings.max_prompt_chars == limit
    assert await _prompt(server, key, {"prompt": "p" * limit, "commit": False}) == (200, None)
    status, message = await _prompt(server, key, {"prompt": "p" * (limit + 1)})
    assert status == 400
    assert message == (
        "prompt must be at most 32000 characters of text (CHINWAG_MAX_PROMPT_CHARS); it has 32001."
    )
    # Text parts of all the messages of one prompt count together.
    split = [{"content": "a" * 16_000}, {"content": [{"type": "text", "text": "b" * 16_001}]}]
    assert (await _prompt(server, key, {"prompt": split}))[0] == 400
    split[1]["content"][0]["text"] = "b" * 16_000
    assert (await _prompt(server, key, {"prompt": split, "commit": False}))[0] == 200

    instructions = "i" * bounds.MAX_INSTRUCTIONS_CHARS
    ok = {"prompt": "hi", "instructions": instructions, "commit": False}
    assert await _prompt(server, key, ok) == (200, None)
    status, message = await _prompt(
        server, key, {"prompt": "hi", "instructions": instructions + "i"}
    )
    assert (status, message) == (400, "instructions must be at most 4000 characters.")
    listed = await server.anonymous.get(server.public_path(key, "messages"))
    assert listed.json()["data"] == []  # commit false and refused prompts stored nothing


async def test_prompt_chars_limit_is_a_setting(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data", max_prompt_chars=10) as server:
        client_id = await server.create_client()
        key = (await server.open_session(client_id))["accessKey"]
        assert (await _prompt(server, key, {"prompt": "0123456789"}))[0] == 200
        status, message = await _prompt(server, key, {"prompt": "0123456789!"})
        assert status == 400 and "at most 10 characters" in message
        assert "CHINWAG_MAX_PROMPT_CHARS" in message


async def test_image_part_bound(server: ServerHandle) -> None:
    client_id = await server.create_client(client_parameters={"inputModes": ["Image"]})
    key = (await server.open_session(client_id))["accessKey"]
    at_limit = {"content": [{"type": "text", "text": "see"}, _image_part(bounds.MAX_IMAGE_BYTES)]}
    assert (await _prompt(server, key, {"prompt": at_limit, "commit": False}))[0] == 200
    over = {"content": [_image_part(bounds.MAX_IMAGE_BYTES + 1)]}
    status, message = await _prompt(server, key, {"prompt": over})
    assert status == 400
    assert message.startswith("prompt.content[0].image_url.url is larger than 5 MiB")


async def test_session_field_bounds(server: ServerHandle) -> None:
    client_id = await server.create_client()
    kib = 1024
    accepted = [
        {"tag": "t" * 256},
        {"tag": "é" * 128},  # 256 bytes
        {"extraContext": "x" * (64 * kib)},
        {"extraContext": "é" * (32 * kib)},  # 64 KiB in UTF-8
        {"metadata": {"m": "x" * (16 * kib - len('{"m":""}'))}},  # 16 KiB once encoded
        {"expires": bounds.MIN_EXPIRES},
        {"expires": bounds.MAX_EXPIRES},
    ]
    for body in accepted:
        status, message = await _sessions(server, client_id, body)
        assert status == 200, (body, message)
    refused = [
        ({"tag": "t" * 257}, "tag must be 1 to 256 characters."),
        ({"tag": "é" * 128 + "t"}, "tag must be at most 256 bytes in UTF-8."),
        ({"extraContext": "x" * (64 * kib + 1)}, "extraContext must be at most 65536 characters."),
        (
            {"extraContext": "é" * (32 * kib) + "x"},
            "extraContext must be at most 64 KiB (65536 bytes) in UTF-8.",
        ),
        (
            {"metadata": {"m": "x" * (16 * kib - len('{"m":""}') + 1)}},
            "metadata must be at most 16 KiB (16384 bytes) once encoded as JSON;"
            " it is 16385 bytes.",
        ),
        (
            {"expires": bounds.MIN_EXPIRES - 1},
            "expires must be between 600 and 7776000 seconds (10 minutes to 90 days).",
        ),
        (
            {"expires": bounds.MAX_EXPIRES + 1},
            "expires must be between 600 and 7776000 seconds (10 minutes to 90 days).",
        ),
    ]
    listed = await server.client.get(f"/api/v1/web-chat-client/{client_id}/sessions")
    count = len(listed.json()["data"]["items"])
    for body, expected in refused:
        assert await _sessions(server, client_id, body) == (400, expected), body
    listed = await server.client.get(f"/api/v1/web-chat-client/{client_id}/sessions")
    assert len(listed.json()["data"]["items"]) == count


async def test_empty_body_means_json_whitespace_only(server: ServerHandle) -> None:
    client_id = await server.create_client()
    path = f"/api/v1/web-chat-client/{client_id}/sessions"
    listed = await server.client.get(path)
    count = len(listed.json()["data"]["items"])
    for raw, content_type, status in [
        (b"\x0c", "text/plain", 415),  # a form feed is not JSON whitespace
        (b"\x0b", "text/plain", 415),
        (b"\x0c", "application/json", 400),
        (b"\xc2\xa0", "text/plain", 415),
    ]:
        response = await server.client.post(
            path, content=raw, headers={"Content-Type": content_type}
        )
        assert response.status_code == status, raw
        assert response.json()["data"] is None
    listed = await server.client.get(path)
    assert len(listed.json()["data"]["items"]) == count
    # Real JSON whitespace is still an empty body: the defaults apply.
    response = await server.client.post(
        path, content=b" \t\r\n", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 200


async def test_query_parameters_are_checked_like_their_schema(server: ServerHandle) -> None:
    client_id = await server.create_client()
    opened = await server.open_session(client_id)
    base = f"/api/v1/web-chat-client/{client_id}/sessions"
    transcript = f"{base}/{opened['sessionId']}/transcript"
    for path, message in [
        (f"{transcript}?format=", "format must be one of: json, md."),
        (f"{transcript}?format=pdf", "format must be one of: json, md."),
        (f"{transcript}?format=&format=md", "Query parameter `format` must be given once."),
        (f"{base}?limit=", "Invalid value for `limit`: expected `int`, got `str`."),
        (f"{base}?limit=201", "limit must be between 1 and 200."),
    ]:
        response = await server.client.get(path)
        assert (response.status_code, response.json()["message"]) == (400, message), path
    # An empty optional text parameter means absent; unknown parameters are ignored.
    assert (await server.client.get(f"{base}?cursor=&filter=&other=1&other=2")).status_code == 200
    assert (await server.client.get(f"{transcript}?format=md")).status_code == 200


async def test_chat_app_credentials_cannot_reach_a_url_raw(server: ServerHandle) -> None:
    """A control character in a bot token once made the setWebhook URL invalid: a 500."""
    client_id = await server.create_client()
    path = f"/api/v1/web-chat-client/{client_id}/integrations"
    telegram = {"integrationType": "Telegram", "integrations": {"telegramIntegration": {}}}
    for token in ["1:a\x00", "1:a\x7f", "1:a/b", "1:a b", "t" * 257]:
        telegram["integrations"]["telegramIntegration"] = {"botToken": token}
        response = await server.client.put(path, json=telegram)
        assert response.status_code == 400, token
        assert "integrations.telegramIntegration.botToken" in response.json()["message"]
    zapi = {"instanceId": "../x", "instanceToken": "t", "clientToken": "c"}
    response = await server.client.put(
        path, json={"integrationType": "Zapi", "integrations": {"zapiIntegration": zapi}}
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith(
        "integrations.zapiIntegration.instanceId must be a Z-API id or token"
    )
    integrations = server.service.get_client(client_id).integrations
    assert integrations.telegram is None and integrations.zapi is None


async def test_a_query_string_has_no_null(server: ServerHandle) -> None:
    client_id = await server.create_client()
    opened = await server.open_session(client_id)
    for path in (
        server.public_path(opened["accessKey"], "messages") + "?before=null",
        f"/api/v1/web-chat-client/{client_id}/sessions?limit=null",
    ):
        http = server.anonymous if "public" in path else server.client
        response = await http.get(path)
        assert response.status_code == 400, path
        assert "expected `int`, got `str`" in response.json()["message"]
    # A text parameter takes "null" as the text it is.
    listed = await server.client.get(f"/api/v1/web-chat-client/{client_id}/sessions?filter=null")
    assert listed.status_code == 200 and listed.json()["data"]["items"] == []
