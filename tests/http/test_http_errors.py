"""Every failure is the envelope with the right status, over real HTTP."""

from __future__ import annotations

from support.server import ServerHandle

GATEWAYS = "/api/v1/ai-gateways"


def assert_error(response, status: int, *words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"message", "data"}
    assert body["data"] is None
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in body["message"]
    for word in words:
        assert word in body["message"], (word, body["message"])


async def test_missing_and_wrong_api_key_are_401(server: ServerHandle) -> None:
    assert_error(await server.anonymous.get(GATEWAYS), 401, "Authorization: Bearer")
    wrong = await server.anonymous.get(GATEWAYS, headers={"Authorization": "Bearer nope"})
    assert_error(wrong, 401)
    basic = await server.anonymous.get(GATEWAYS, headers={"Authorization": "Basic abc"})
    assert_error(basic, 401)
    # Authentication is checked before the body: an anonymous bad body is still 401.
    anonymous_post = await server.anonymous.post(
        GATEWAYS, content=b"{", headers={"Content-Type": "application/json"}
    )
    assert_error(anonymous_post, 401)


async def test_revoked_key_stops_working(server: ServerHandle) -> None:
    info, key = await server.service.create_api_key("short-lived")
    headers = {"Authorization": f"Bearer {key}"}
    assert (await server.anonymous.get(GATEWAYS, headers=headers)).status_code == 200
    await server.service.revoke_api_key(info.id)
    assert_error(await server.anonymous.get(GATEWAYS, headers=headers), 401)


async def test_invalid_json_is_400(server: ServerHandle) -> None:
    response = await server.client.post(
        GATEWAYS, content=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "not valid JSON")


async def test_body_must_be_an_object(server: ServerHandle) -> None:
    response = await server.client.post(GATEWAYS, json=["name"])
    assert_error(response, 400, "JSON object")


async def test_not_json_is_415(server: ServerHandle) -> None:
    response = await server.client.post(
        GATEWAYS, content=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error(response, 415, "application/json")
    no_type = await server.client.post(GATEWAYS, content=b'{"name": "x"}')
    assert_error(no_type, 415)


async def test_body_too_large_is_413(server: ServerHandle) -> None:
    limit = server.settings.max_body_bytes
    big = b'{"name": "' + b"x" * (limit + 10) + b'"}'
    response = await server.client.post(
        GATEWAYS, content=big, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, str(limit))
    assert (await server.client.get(GATEWAYS)).json()["data"] == []


async def test_chunked_body_too_large_is_413(server: ServerHandle) -> None:
    limit = server.settings.max_body_bytes

    async def chunks():
        yield b'{"name": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    response = await server.client.post(
        GATEWAYS, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413)


async def test_unknown_route_is_404_and_wrong_method_is_405(server: ServerHandle) -> None:
    assert_error(await server.client.get("/api/v1/nothing-here"), 404, "/api/v1/nothing-here")
    assert_error(await server.anonymous.get("/definitely/not"), 404)
    method = await server.client.patch(GATEWAYS, json={})
    assert_error(method, 405, "PATCH")
    assert "GET" in method.headers["allow"] and "POST" in method.headers["allow"]
    options = await server.client.options(GATEWAYS)
    assert_error(options, 405)


async def test_unknown_ids_are_404(server: ServerHandle) -> None:
    for path in (
        f"{GATEWAYS}/00000000-0000-7000-8000-000000000000",
        f"{GATEWAYS}/not-an-id",
        "/api/v1/web-chat-client/not-an-id",
        "/api/v1/web-chat-client/not-an-id/sessions",
    ):
        assert_error(await server.client.get(path), 404)
    client_id = await server.create_client()
    assert_error(
        await server.client.get(f"/api/v1/web-chat-client/{client_id}/sessions/not-an-id"), 404
    )


async def test_unexpected_exception_is_a_generic_500(server: ServerHandle, caplog) -> None:
    original = server.service.list_gateways

    def explode():
        raise RuntimeError("secret internal detail")

    server.service.list_gateways = explode
    try:
        response = await server.client.get(GATEWAYS)
    finally:
        server.service.list_gateways = original
    assert_error(response, 500, "internal error")
    assert "secret internal detail" not in response.text
    assert "secret internal detail" in caplog.text  # the traceback went to the log
    request_id = response.headers["X-Request-Id"]
    assert response.json()["message"] == f"internal error (request id {request_id})"
    assert request_id in caplog.text  # the log line names the id the client was given


async def test_bodies_that_once_crashed_handlers_are_400(server: ServerHandle) -> None:
    """Found by black-box QA: undecodable text, deep nesting and 128-bit integers."""
    gateway = await server.client.post(GATEWAYS, json={"name": "e", "parameters": {}})
    client = await server.client.post(
        "/api/v1/web-chat-client",
        json={"name": "c", "aiGatewayId": gateway.json()["data"]["id"]},
    )
    sessions = f"/api/v1/web-chat-client/{client.json()['data']['id']}/sessions"
    json_type = {"Content-Type": "application/json"}
    bad_utf8 = await server.client.post(sessions, content=b'{"tag":"\xff\xfe"}', headers=json_type)
    assert_error(bad_utf8, 400, "UTF-8")
    deep = b'{"metadata":' + b'{"a":' * 5000 + b"1" + b"}" * 5001
    assert_error(await server.client.post(sessions, content=deep, headers=json_type), 400)
    huge = await server.client.post(sessions, json={"metadata": {"n": 10**30}})
    assert_error(huge, 400, "64 bits")
    bom = await server.client.post(sessions, content=b"\xef\xbb\xbf{}", headers=json_type)
    assert bom.status_code == 200, bom.text
    listed = await server.client.get(sessions)
    assert len(listed.json()["data"]["items"]) == 1  # only the BOM request made a session
