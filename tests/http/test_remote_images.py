"""`image_url` parts with an http(s) URL: fetched by chinwag through the address guard and sent
on as data URLs; the model server never receives the URL. Real server, real fake model server."""

from __future__ import annotations

import base64
import json

from gateways.fake_openai import Page, redirect, start_fake_openai
from support.server import ServerHandle, running_server

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def _prompt(url: str) -> dict:
    return {
        "prompt": {
            "content": [
                {"type": "text", "text": "what is in this picture?"},
                {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
            ]
        }
    }


async def _image_session(server: ServerHandle, fake) -> str:
    client_id = await server.create_client(
        provider="openai",
        baseUrl=fake.base_url,
        model="m",
        client_parameters={"inputModes": ["Image"]},
    )
    return (await server.open_session(client_id))["accessKey"]


async def test_metadata_address_is_refused_and_never_reaches_the_model(
    server: ServerHandle, nursery
) -> None:
    fake = await start_fake_openai(nursery)
    key = await _image_session(server, fake)
    for url in (
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "http://localhost:9/x.png",
    ):
        response = await server.anonymous.post(server.public_path(key, "prompt"), json=_prompt(url))
        assert response.status_code == 400, response.text
        message = response.json()["message"]
        assert message.startswith("prompt.content[1].image_url.url could not be fetched")
        assert "the address is not allowed" in message and "127.0.0.1" not in message
    assert fake.requests == []  # the model server was never asked
    messages = await server.anonymous.get(server.public_path(key, "messages"))
    assert messages.json()["data"] == []  # and nothing was stored


async def test_a_public_image_url_is_sent_as_a_data_url(tmp_path, nursery) -> None:
    fake = await start_fake_openai(nursery)
    fake.pages["/cat.png"] = Page(PNG, content_type="image/png")
    fake.pages["/moved.png"] = redirect("/cat.png")
    fake.pages["/page.html"] = Page("<html>hi</html>", content_type="text/html")
    fake.pages["/fake.png"] = Page(b"GIF89a not a png", content_type="image/png")
    fake.pages["/huge.png"] = Page(PNG + bytes(6 * 1024 * 1024), content_type="image/png")
    # The fake lives on 127.0.0.1, so this server lets the guard reach loopback.
    async with running_server(tmp_path / "data", fetch_allow_private=True) as server:
        key = await _image_session(server, fake)
        response = await server.anonymous.post(
            server.public_path(key, "prompt"), json=_prompt(fake.url("/moved.png"))
        )
        assert response.status_code == 200, response.text
        sent = fake.requests[-1].body["messages"][-1]["content"][1]["image_url"]
        expected = "data:image/png;base64," + base64.b64encode(PNG).decode()
        assert sent == {"url": expected, "detail": "low"}
        assert fake.url("/") not in json.dumps(fake.requests[-1].body)
        stored = (await server.anonymous.get(server.public_path(key, "messages"))).json()["data"]
        assert stored[0]["content"][1]["image_url"]["url"] == expected

        for path, words in (
            ("/page.html", "not an accepted type"),
            ("/fake.png", "does not contain image/png data"),
            ("/huge.png", "larger than 5 MiB"),
            ("/missing.png", "answered HTTP 404"),
        ):
            bad = await server.anonymous.post(
                server.public_path(key, "prompt"), json=_prompt(fake.url(path))
            )
            assert bad.status_code == 400, (path, bad.text)
            assert words in bad.json()["message"], (path, bad.json()["message"])
        assert len(fake.requests) == 1


async def test_images_by_url_still_need_the_image_input_mode(server: ServerHandle, nursery) -> None:
    fake = await start_fake_openai(nursery)
    fake.pages["/cat.png"] = Page(PNG, content_type="image/png")
    client_id = await server.create_client(provider="openai", baseUrl=fake.base_url, model="m")
    key = (await server.open_session(client_id))["accessKey"]
    response = await server.anonymous.post(
        server.public_path(key, "prompt"), json=_prompt(fake.url("/cat.png"))
    )
    assert response.status_code == 400
    assert "images are not enabled" in response.json()["message"]
    assert fake.page_requests == []  # refused before anything was fetched


async def test_image_origins_must_be_origins(server: ServerHandle) -> None:
    gateway_id = await server.create_gateway()
    for bad in (
        "https://cdn.example.com/path",
        "cdn.example.com",
        "https://*.example.com",
        "'self'",
    ):
        response = await server.client.post(
            "/api/v1/web-chat-client",
            json={
                "name": "c",
                "aiGatewayId": gateway_id,
                "clientParameters": {"imageOrigins": [bad]},
            },
        )
        assert response.status_code == 400, (bad, response.text)
        assert "clientParameters.imageOrigins[0]" in response.json()["message"]
    client_id = await server.create_client(
        gateway_id, client_parameters={"imageOrigins": ["https://cdn.example.com:8443"]}
    )
    opened = await server.open_session(client_id)
    page = await server.anonymous.get(opened["talkUrl"])
    csp = page.headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://cdn.example.com:8443;" in csp
