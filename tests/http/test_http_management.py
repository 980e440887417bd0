"""Management API over real HTTP: gateways, chat clients, the seed's sessions endpoint."""

from __future__ import annotations

import time
import uuid

import trio
from support.server import ServerHandle

GATEWAYS = "/api/v1/ai-gateways"
CLIENTS = "/api/v1/web-chat-client"


def assert_envelope(body: dict) -> None:
    assert set(body) == {"message", "data"}, body


# ---------------------------------------------------------------- AI gateways


async def test_gateway_crud_never_returns_the_api_key(server: ServerHandle) -> None:
    body = {
        "name": "main",
        "parameters": {
            "provider": "openai",
            "baseUrl": "http://127.0.0.1:9/v1",
            "apiKey": "sk-secret-value",
            "model": "some-model",
            "temperature": 0.2,
            "research": {"fetchUrl": True},
        },
    }
    created = await server.client.post(GATEWAYS, json=body)
    assert created.status_code == 201
    assert_envelope(created.json())
    gateway_id = created.json()["data"]["id"]

    listed = await server.client.get(GATEWAYS)
    assert listed.status_code == 200
    assert {"id": gateway_id, "name": "main"} in listed.json()["data"]

    fetched = await server.client.get(f"{GATEWAYS}/{gateway_id}")
    assert fetched.status_code == 200
    assert "sk-secret-value" not in fetched.text
    parameters = fetched.json()["data"]["parameters"]
    assert parameters["apiKeySet"] is True
    assert "apiKey" not in parameters
    assert parameters["model"] == "some-model"
    assert parameters["research"]["fetchUrl"] is True

    updated = await server.client.put(
        f"{GATEWAYS}/{gateway_id}", json={"name": "renamed", "parameters": {"model": "other"}}
    )
    assert updated.status_code == 200, updated.text
    data = updated.json()["data"]
    assert data["name"] == "renamed"
    assert data["parameters"]["model"] == "other"
    # Parameters not named in the PUT are kept, including the key.
    assert data["parameters"]["baseUrl"] == "http://127.0.0.1:9/v1"
    assert data["parameters"]["apiKeySet"] is True
    assert "sk-secret-value" not in updated.text

    deleted = await server.client.delete(f"{GATEWAYS}/{gateway_id}")
    assert deleted.status_code == 200
    assert_envelope(deleted.json())
    missing = await server.client.get(f"{GATEWAYS}/{gateway_id}")
    assert missing.status_code == 404
    assert missing.json()["data"] is None
    assert missing.json()["message"]


async def test_gateway_validation_names_the_field(server: ServerHandle) -> None:
    cases = [
        ({"parameters": {}}, "name"),
        ({"name": "x", "parameters": {"provider": "bogus"}}, "parameters.provider"),
        ({"name": "x", "parameters": {"temperature": "hot"}}, "parameters.temperature"),
        ({"name": "x", "parameters": {"colour": 1}}, "parameters.colour"),
        ({"name": "x", "parameters": {"provider": "openai"}}, "parameters.baseUrl"),
        ({"name": "x", "parameters": {"research": {"fetchUrl": "yes"}}}, "research.fetchUrl"),
    ]
    for body, field in cases:
        response = await server.client.post(GATEWAYS, json=body)
        assert response.status_code == 400, (body, response.text)
        assert field in response.json()["message"], (field, response.json())
        assert response.json()["data"] is None
    # Nothing was stored by the rejected requests.
    assert (await server.client.get(GATEWAYS)).json()["data"] == []


async def test_gateway_put_rejects_bad_partial_parameters(server: ServerHandle) -> None:
    gateway_id = await server.create_gateway()
    response = await server.client.put(
        f"{GATEWAYS}/{gateway_id}", json={"parameters": {"maxCompletionTokens": "lots"}}
    )
    assert response.status_code == 400
    assert "parameters.maxCompletionTokens" in response.json()["message"]
    unknown = await server.client.put(f"{GATEWAYS}/{gateway_id}", json={"parameters": {"x": 1}})
    assert unknown.status_code == 400
    assert "parameters.x" in unknown.json()["message"]


async def test_deleting_a_gateway_in_use_is_a_conflict(server: ServerHandle) -> None:
    gateway_id = await server.create_gateway()
    await server.create_client(gateway_id)
    response = await server.client.delete(f"{GATEWAYS}/{gateway_id}")
    assert response.status_code == 409
    assert response.json()["data"] is None
    assert (await server.client.get(f"{GATEWAYS}/{gateway_id}")).status_code == 200


# ---------------------------------------------------------------- chat clients


async def test_client_crud_and_shallow_merge(server: ServerHandle) -> None:
    gateway_id = await server.create_gateway()
    created = await server.client.post(
        CLIENTS,
        json={
            "name": "site",
            "aiGatewayId": gateway_id,
            "clientParameters": {"pageTitle": "Help", "languageCode": "pt-BR", "debug": True},
            "limitingParameters": {"maxMessages": 10, "messagesPerHour": 30},
        },
    )
    assert created.status_code == 201
    client_id = created.json()["data"]["id"]

    assert {"id": client_id, "name": "site"} in (await server.client.get(CLIENTS)).json()["data"]

    updated = await server.client.put(
        f"{CLIENTS}/{client_id}",
        json={
            "clientParameters": {"primaryColor": "#ff0000"},
            "limitingParameters": {"maxMessages": 20},
        },
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["message"] == "Web client updated successfully."
    data = updated.json()["data"]
    assert data["clientParameters"]["pageTitle"] == "Help"  # kept
    assert data["clientParameters"]["languageCode"] == "pt-BR"  # kept
    assert data["clientParameters"]["primaryColor"] == "#ff0000"  # merged in
    assert data["limitingParameters"] == {
        "maxMessages": 20,
        "maxConversationTokens": None,
        "userInputMaxTokens": None,
        "messagesPerHour": 30,
    }

    fetched = (await server.client.get(f"{CLIENTS}/{client_id}")).json()["data"]
    assert fetched["clientParameters"]["primaryColor"] == "#ff0000"
    assert fetched["aiGatewayId"] == gateway_id

    session = await server.open_session(client_id, tag="someone")
    deleted = await server.client.delete(f"{CLIENTS}/{client_id}")
    assert deleted.status_code == 200
    assert (await server.client.get(f"{CLIENTS}/{client_id}")).status_code == 404
    # Its sessions went with it: the access key no longer opens anything.
    info = await server.anonymous.get(server.public_path(session["accessKey"], "session"))
    assert info.status_code == 401


async def test_client_validation(server: ServerHandle) -> None:
    gateway_id = await server.create_gateway()
    cases = [
        ({"name": "x"}, "aiGatewayId"),
        (
            {"name": "x", "aiGatewayId": gateway_id, "clientParameters": {"languageCode": "fr"}},
            "clientParameters.languageCode",
        ),
        (
            {"name": "x", "aiGatewayId": gateway_id, "limitingParameters": {"maxMessages": 0}},
            "maxMessages",
        ),
        (
            {"name": "x", "aiGatewayId": gateway_id, "clientParameters": {"inputModes": ["Video"]}},
            "clientParameters.inputModes",
        ),
        ({"name": "x", "aiGatewayId": gateway_id, "extra": True}, "extra"),
    ]
    for body, field in cases:
        response = await server.client.post(CLIENTS, json=body)
        assert response.status_code == 400, (body, response.text)
        assert field in response.json()["message"]
    unknown_gateway = await server.client.post(
        CLIENTS, json={"name": "x", "aiGatewayId": str(uuid.uuid4())}
    )
    assert unknown_gateway.status_code in (400, 404)
    assert (await server.client.get(CLIENTS)).json()["data"] == []


async def test_client_put_validates_partial_parameters(server: ServerHandle) -> None:
    client_id = await server.create_client()
    before = (await server.client.get(f"{CLIENTS}/{client_id}")).json()["data"]
    response = await server.client.put(
        f"{CLIENTS}/{client_id}", json={"clientParameters": {"debug": "sometimes"}}
    )
    assert response.status_code == 400
    assert "clientParameters.debug" in response.json()["message"]
    integrations = await server.client.put(f"{CLIENTS}/{client_id}", json={"integrations": {}})
    assert integrations.status_code == 400
    after = (await server.client.get(f"{CLIENTS}/{client_id}")).json()["data"]
    assert after == before


# ---------------------------------------------------------------- sessions (the seed)


async def test_open_session_returns_seed_shape(server: ServerHandle) -> None:
    client_id = await server.create_client()
    before = time.time()
    response = await server.client.post(
        f"{CLIENTS}/{client_id}/sessions", json={"expires": 3600, "metadata": {"foo": "bar"}}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["message"] is None
    data = body["data"]
    assert set(data) == {"sessionId", "accessKey", "talkUrl"}
    assert uuid.UUID(data["sessionId"]).version == 7
    assert data["accessKey"].startswith("wky_")
    assert len(data["accessKey"]) >= 4 + 22  # 128 bits in base64url or more
    assert data["talkUrl"] == f"{server.base_url}/chat/{data['accessKey']}"

    got = await server.client.get(f"{CLIENTS}/{client_id}/sessions/{data['sessionId']}")
    assert got.status_code == 200
    session = got.json()["data"]
    assert session["metadata"] == {"foo": "bar"}
    assert session["accessKey"] == data["accessKey"]
    assert before + 3600 - 5 <= session["expiresAt"] <= time.time() + 3600 + 5


async def test_open_session_default_expiry_and_bounds(server: ServerHandle) -> None:
    client_id = await server.create_client()
    response = await server.client.post(f"{CLIENTS}/{client_id}/sessions")  # no body at all
    assert response.status_code == 200, response.text
    session_id = response.json()["data"]["sessionId"]
    session = (await server.client.get(f"{CLIENTS}/{client_id}/sessions/{session_id}")).json()
    assert abs(session["data"]["expiresAt"] - (time.time() + 3600)) < 30

    for expires in (599, 7_776_001, -1, 0):
        bad = await server.client.post(f"{CLIENTS}/{client_id}/sessions", json={"expires": expires})
        assert bad.status_code == 400
        assert bad.json()["message"].startswith("expires must be between 600 and 7776000 seconds")
    for expires in (600, 7_776_000):
        good = await server.client.post(
            f"{CLIENTS}/{client_id}/sessions", json={"expires": expires}
        )
        assert good.status_code == 200
    wrong_type = await server.client.post(
        f"{CLIENTS}/{client_id}/sessions", json={"expires": "3600"}
    )
    assert wrong_type.status_code == 400
    assert "`expires`" in wrong_type.json()["message"]
    bad_url = await server.client.post(
        f"{CLIENTS}/{client_id}/sessions", json={"contextLocation": "ftp://example.com/x"}
    )
    assert bad_url.status_code == 400
    assert "contextLocation" in bad_url.json()["message"]
    bad_metadata = await server.client.post(
        f"{CLIENTS}/{client_id}/sessions", json={"metadata": ["not", "an", "object"]}
    )
    assert bad_metadata.status_code == 400
    assert "metadata" in bad_metadata.json()["message"]


async def test_open_session_unknown_client_is_404(server: ServerHandle) -> None:
    response = await server.client.post(f"{CLIENTS}/{uuid.uuid4()}/sessions", json={})
    assert response.status_code == 404
    assert response.json()["data"] is None


async def test_tag_reuses_and_renews_the_session(server: ServerHandle) -> None:
    client_id = await server.create_client()
    first = await server.open_session(
        client_id, tag="user-1", expires=600, extraContext="one", metadata={"v": 1}
    )
    second = await server.open_session(
        client_id, tag="user-1", expires=7200, extraContext="two", metadata={"v": 2}
    )
    assert second["sessionId"] == first["sessionId"]
    assert second["accessKey"] == first["accessKey"]
    session = (
        await server.client.get(f"{CLIENTS}/{client_id}/sessions/{first['sessionId']}")
    ).json()["data"]
    assert session["extraContext"] == "two"
    assert session["metadata"] == {"v": 2}
    assert session["expiresAt"] > time.time() + 7000  # renewed to now + the new expires
    other = await server.open_session(client_id, tag="user-2")
    assert other["sessionId"] != first["sessionId"]


async def test_concurrent_tag_calls_yield_one_session(server: ServerHandle) -> None:
    client_id = await server.create_client()
    results: list[dict] = []

    async def call() -> None:
        response = await server.client.post(
            f"{CLIENTS}/{client_id}/sessions", json={"tag": "same", "expires": 900}
        )
        assert response.status_code == 200, response.text
        results.append(response.json()["data"])

    async with trio.open_nursery() as nursery:
        for _ in range(50):
            nursery.start_soon(call)
    assert len(results) == 50
    assert len({r["sessionId"] for r in results}) == 1
    assert len({r["accessKey"] for r in results}) == 1
    listed = await server.client.get(f"{CLIENTS}/{client_id}/sessions", params={"filter": "same"})
    assert len(listed.json()["data"]["items"]) == 1


async def test_session_list_filter_and_cursor(server: ServerHandle) -> None:
    client_id = await server.create_client()
    opened = [await server.open_session(client_id, tag=f"t{i}") for i in range(5)]
    listed = await server.client.get(f"{CLIENTS}/{client_id}/sessions")
    assert listed.status_code == 200
    items = listed.json()["data"]["items"]
    assert {i["sessionId"] for i in items} == {o["sessionId"] for o in opened}
    first = items[0]
    for key in (
        "tag",
        "channel",
        "externalId",
        "createdAt",
        "expiresAt",
        "lastActivityAt",
        "messageCount",
        "usage",
        "metadata",
    ):
        assert key in first
    assert set(first["usage"]) == {"inputTokens", "outputTokens", "totalTokens"}
    assert "nextSeq" not in first and "recentPrompts" not in first

    by_tag = await server.client.get(f"{CLIENTS}/{client_id}/sessions", params={"filter": "t3"})
    assert [i["sessionId"] for i in by_tag.json()["data"]["items"]] == [opened[3]["sessionId"]]
    by_id = await server.client.get(
        f"{CLIENTS}/{client_id}/sessions", params={"filter": opened[1]["sessionId"]}
    )
    assert [i["sessionId"] for i in by_id.json()["data"]["items"]] == [opened[1]["sessionId"]]

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await server.client.get(f"{CLIENTS}/{client_id}/sessions", params=params)).json()
        assert len(page["data"]["items"]) <= 2
        seen += [i["sessionId"] for i in page["data"]["items"]]
        cursor = page["data"]["nextCursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(o["sessionId"] for o in opened)

    for bad in ("0", "201", "ten"):
        response = await server.client.get(f"{CLIENTS}/{client_id}/sessions", params={"limit": bad})
        assert response.status_code == 400
        assert "limit" in response.json()["message"]


async def test_delete_session_ends_access(server: ServerHandle) -> None:
    client_id = await server.create_client()
    opened = await server.open_session(client_id, tag="gone")
    url = f"{CLIENTS}/{client_id}/sessions/{opened['sessionId']}"
    assert (await server.client.delete(url)).status_code == 200
    assert (await server.client.get(url)).status_code == 404
    public = await server.anonymous.get(server.public_path(opened["accessKey"], "messages"))
    assert public.status_code == 401
    assert public.json()["data"] is None
    # A tag call after the delete makes a new session.
    again = await server.open_session(client_id, tag="gone")
    assert again["sessionId"] != opened["sessionId"]


async def test_session_of_another_client_is_404(server: ServerHandle) -> None:
    client_a = await server.create_client()
    client_b = await server.create_client()
    opened = await server.open_session(client_a)
    url = f"{CLIENTS}/{client_b}/sessions/{opened['sessionId']}"
    assert (await server.client.get(url)).status_code == 404
    assert (await server.client.delete(f"{url}/messages")).status_code == 404
    assert (await server.client.get(f"{url}/transcript")).status_code == 404
    assert (await server.client.delete(url)).status_code == 404


async def test_clear_and_transcript(server: ServerHandle) -> None:
    client_id = await server.create_client()
    opened = await server.open_session(client_id)
    for text in ("first question", "second question"):
        reply = await server.anonymous.post(
            server.public_path(opened["accessKey"], "prompt"), json={"prompt": text}
        )
        assert reply.status_code == 200, reply.text
    base = f"{CLIENTS}/{client_id}/sessions/{opened['sessionId']}"

    as_json = await server.client.get(f"{base}/transcript")
    assert as_json.status_code == 200
    assert "attachment" in as_json.headers["content-disposition"]
    messages = as_json.json()["data"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert "first question" in messages[1]["content"]

    as_md = await server.client.get(f"{base}/transcript", params={"format": "md"})
    assert as_md.status_code == 200
    assert as_md.headers["content-type"].startswith("text/markdown")
    assert as_md.headers["content-disposition"].endswith('.md"')
    assert "## User" in as_md.text and "## Assistant" in as_md.text
    assert "You said: second question" in as_md.text

    bad_format = await server.client.get(f"{base}/transcript", params={"format": "pdf"})
    assert bad_format.status_code == 400
    assert "format" in bad_format.json()["message"]

    cleared = await server.client.delete(f"{base}/messages")
    assert cleared.status_code == 200
    after = await server.anonymous.get(server.public_path(opened["accessKey"], "messages"))
    assert after.status_code == 200  # session and key survive
    assert after.json()["data"] == []
