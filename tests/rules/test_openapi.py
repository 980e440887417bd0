"""The OpenAPI document says what the server enforces: it is generated from the same types."""

from __future__ import annotations

from typing import Any

import msgspec
from support.server import ServerHandle

from chinwag.http.openapi import undocumented_endpoints
from chinwag.rules import bounds
from chinwag.rules.inputs import SessionCreate

PUBLIC = "/api/v1/public/chat-clients/{access_key}"
CLIENT = "/api/v1/web-chat-client/{client_id}"


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]


def _param(operation: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [p for p in operation["parameters"] if p["name"] == name]
    return found


async def test_bodies_params_and_media_types(server: ServerHandle) -> None:
    document = (await server.anonymous.get("/openapi.json")).json()
    paths = document["paths"]

    def body_required(path: str, method: str) -> bool:
        return paths[path][method]["requestBody"]["required"]

    assert body_required("/api/v1/ai-gateways", "post")
    assert body_required("/api/v1/web-chat-client", "post")
    assert body_required(f"{CLIENT}/integrations", "put")
    assert body_required("/api/v1/webhooks/telegram/{client_id}", "post")
    assert body_required("/api/v1/webhooks/zapi/{client_id}/{secret}", "post")
    assert body_required(f"{PUBLIC}/prompt", "post")
    assert not body_required(f"{CLIENT}/sessions", "post")  # {} is a valid session request
    assert not body_required(CLIENT, "put")

    sessions = paths[f"{CLIENT}/sessions"]["get"]
    assert _param(sessions, "limit")["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": bounds.MAX_SESSION_PAGE,
        "default": bounds.DEFAULT_SESSION_PAGE,
    }
    assert _param(sessions, "cursor")["schema"]["type"] == "string"
    page = paths[f"{PUBLIC}/messages"]["get"]
    assert _param(page, "limit")["schema"]["maximum"] == bounds.MAX_MESSAGE_PAGE
    before = _param(page, "before")["schema"]
    assert (before["type"], before["minimum"], before["maximum"]) == ("integer", 0, bounds.MAX_SEQ)
    transcript = paths[f"{CLIENT}/sessions/{{session_id}}/transcript"]["get"]
    assert _param(transcript, "format")["schema"]["enum"] == ["json", "md"]
    assert set(transcript["responses"]["200"]["content"]) == {"application/json", "text/markdown"}
    remove = paths[f"{CLIENT}/integrations/{{integration_type}}"]["delete"]
    assert _param(remove, "integration_type")["schema"]["enum"] == ["Telegram", "Zapi"]

    assert set(paths["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    talk = paths["/chat/{access_key}"]["get"]
    assert set(talk["responses"]["200"]["content"]) == {"text/html"}

    stream = paths[f"{PUBLIC}/prompt"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    events = {
        item["properties"]["event"]["const"]: item["properties"]["data"]["contentSchema"]
        for item in stream["x-itemSchema"]["oneOf"]
    }
    assert set(events) == {"reasoning", "content", "tool", "error", "done"}
    done = _schema(document, events["done"]["$ref"].rsplit("/", 1)[-1])
    assert set(done["required"]) == {"usage", "result"}

    text = msgspec.json.encode(document).decode()
    assert "input_audio" not in text and "FilePart" not in text  # refused, so not documented


async def test_schemas_carry_the_enforced_bounds(server: ServerHandle) -> None:
    document = (await server.anonymous.get("/openapi.json")).json()
    session = _schema(document, "SessionCreate")["properties"]
    assert session["expires"]["minimum"] == bounds.MIN_EXPIRES
    assert session["expires"]["maximum"] == bounds.MAX_EXPIRES
    assert session["tag"]["anyOf"][0]["maxLength"] == bounds.MAX_TAG_BYTES
    assert session["extraContext"]["anyOf"][0]["maxLength"] == bounds.MAX_EXTRA_CONTEXT_BYTES
    prompt = _schema(document, "PromptBody")
    assert prompt["required"] == ["prompt"]
    assert prompt["properties"]["instructions"]["anyOf"][0]["maxLength"] == 4000
    limits = _schema(document, "LimitingParametersInput")["properties"]
    assert limits["maxMessages"]["anyOf"][0]["minimum"] == 2
    gateway = _schema(document, "GatewayParametersInput")["properties"]
    assert gateway["temperature"]["anyOf"][0] == {"type": "number", "minimum": 0, "maximum": 2}
    assert gateway["provider"]["enum"] == ["echo", "openai"]
    put = _schema(document, "ClientUpdate")["properties"]["limitingParameters"]
    assert put["$ref"].endswith("LimitingParametersPatch")
    patch = _schema(document, "LimitingParametersPatch")
    assert patch["additionalProperties"] is False and not patch.get("required")
    assert _schema(document, "IntegrationPut")["required"] == ["integrationType", "integrations"]
    # The document's schema is msgspec's schema of the very type the server decodes with.
    (_, generated) = msgspec.json.schema_components(
        [SessionCreate], ref_template="#/components/schemas/{name}"
    )
    assert _schema(document, "SessionCreate") == generated["SessionCreate"]


async def test_every_route_is_documented(server: ServerHandle) -> None:
    app_document = (await server.anonymous.get("/openapi.json")).json()
    assert "/chat/{access_key}" in app_document["paths"]
    from chinwag.http.app import create_app

    app = create_app(server.service, server.settings, server.service.integrations)
    # Static files are the only routes the document leaves out.
    assert undocumented_endpoints(app) <= {"static", "talk.talk_asset"}, (
        "add @doc(...) to new routes so the OpenAPI document lists them"
    )


async def test_stable_answers_document_their_data(server: ServerHandle) -> None:
    document = (await server.anonymous.get("/openapi.json")).json()
    paths = document["paths"]

    def data(path: str, method: str) -> dict[str, Any]:
        content = paths[path][method]["responses"]["200" if method != "post" else "201"]
        return content["content"]["application/json"]["schema"]["properties"]["data"]

    assert data("/api/v1/ai-gateways", "post") == {"$ref": "#/components/schemas/IdData"}
    opened = paths[f"{CLIENT}/sessions"]["post"]["responses"]["200"]["content"]
    ref = opened["application/json"]["schema"]["properties"]["data"]["$ref"]
    assert _schema(document, ref.rsplit("/", 1)[-1])["required"] == [
        "sessionId",
        "accessKey",
        "talkUrl",
    ]
    assert data(f"{CLIENT}/sessions/{{session_id}}", "delete") == {"type": "null"}
    # And the server's answers have those shapes (Schemathesis checks every operation).
    client_id = await server.create_client()
    answer = await server.client.post(f"/api/v1/web-chat-client/{client_id}/sessions", json={})
    assert set(answer.json()["data"]) >= {"sessionId", "accessKey", "talkUrl"}
