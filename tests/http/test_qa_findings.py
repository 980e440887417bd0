"""Findings of a black-box QA pass, each checked through the real HTTP server.

Gateway and client fields out of range are 400 naming the field (never a 500), the gateway view
masks a password in `baseUrl`, ids echoed in messages are cut short.
"""

from __future__ import annotations

import pytest
from support.server import ServerHandle

GATEWAYS = "/api/v1/ai-gateways"
CLIENTS = "/api/v1/web-chat-client"
HUGE = 2**64


def _echo(**parameters) -> dict:
    return {"name": "g", "parameters": {"provider": "echo", **parameters}}


@pytest.mark.parametrize("field", ["maxCompletionTokens", "contextWindowTokens", "maxToolSteps"])
async def test_huge_integers_are_400_naming_the_field(server: ServerHandle, field: str) -> None:
    created = await server.client.post(GATEWAYS, json=_echo(**{field: HUGE}))
    assert created.status_code == 400, created.text
    assert field in created.json()["message"]
    gateway_id = await server.create_gateway()
    path = f"{GATEWAYS}/{gateway_id}"
    updated = await server.client.put(path, json={"parameters": {field: HUGE}})
    assert updated.status_code == 400, updated.text
    assert field in updated.json()["message"]
    assert (await server.client.get(path)).status_code == 200


@pytest.mark.parametrize("value", [1e300, 1e-300, 0, 601])
async def test_gateway_timeout_is_bounded(server: ServerHandle, value: float) -> None:
    created = await server.client.post(GATEWAYS, json=_echo(timeoutSeconds=value))
    assert created.status_code == 400, created.text
    assert "timeoutSeconds" in created.json()["message"]


async def test_gateway_timeout_in_range_is_kept(server: ServerHandle) -> None:
    created = await server.client.post(GATEWAYS, json=_echo(timeoutSeconds=600))
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("name", ["a\x00b", "tab\tname", "line\nbreak", "\x7f"])
async def test_gateway_name_refuses_control_characters(server: ServerHandle, name: str) -> None:
    created = await server.client.post(GATEWAYS, json={"name": name, "parameters": {}})
    assert created.status_code == 400, created.text
    assert "name" in created.json()["message"]


async def test_gateway_create_needs_parameters(server: ServerHandle) -> None:
    created = await server.client.post(GATEWAYS, json={"name": "x"})
    assert created.status_code == 400, created.text
    assert "parameters" in created.json()["message"]
    spec = (await server.anonymous.get("/openapi.json")).json()
    schema = spec["components"]["schemas"]["GatewayCreate"]
    assert "parameters" in schema["required"]


@pytest.mark.parametrize(
    "colour", ["red;}</style><script>", "#12", "#1234567", "url(x)", "#fff;x", "rgb(1,2"]
)
async def test_primary_color_must_be_a_css_colour(server: ServerHandle, colour: str) -> None:
    gateway_id = await server.create_gateway()
    body = {"name": "c", "aiGatewayId": gateway_id, "clientParameters": {"primaryColor": colour}}
    created = await server.client.post(CLIENTS, json=body)
    assert created.status_code == 400, created.text
    assert "primaryColor" in created.json()["message"]


@pytest.mark.parametrize("colour", ["#fff", "#1A2b3C", "rebeccapurple", "rgb(10, 20, 30)"])
async def test_primary_color_accepts_css_colours(server: ServerHandle, colour: str) -> None:
    gateway_id = await server.create_gateway()
    body = {"name": "c", "aiGatewayId": gateway_id, "clientParameters": {"primaryColor": colour}}
    created = await server.client.post(CLIENTS, json=body)
    assert created.status_code == 201, created.text


async def test_gateway_view_masks_the_base_url_password(server: ServerHandle) -> None:
    base_url = "http://admin:s3cret-pw@127.0.0.1:9/v1"
    gateway_id = await server.create_gateway(provider="openai", baseUrl=base_url, model="m")
    for response in (
        await server.client.get(f"{GATEWAYS}/{gateway_id}"),
        await server.client.put(f"{GATEWAYS}/{gateway_id}", json={"name": "renamed"}),
    ):
        assert response.status_code == 200
        assert "s3cret-pw" not in response.text
        assert response.json()["data"]["parameters"]["baseUrl"].startswith("http://admin:")


async def test_a_long_missing_id_is_not_echoed_whole(server: ServerHandle) -> None:
    long_id = "x" * 5000
    response = await server.client.get(f"{GATEWAYS}/{long_id}")
    assert response.status_code in (400, 404), response.text
    assert len(response.text) < 1000


@pytest.mark.parametrize("output", ["md", "json"])
async def test_transcripts_are_never_cached(server: ServerHandle, output: str) -> None:
    client_id = await server.create_client()
    session_id = (await server.open_session(client_id))["sessionId"]
    path = f"{CLIENTS}/{client_id}/sessions/{session_id}/transcript"
    response = await server.client.get(path, params={"format": output})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
