"""Request bodies are bounded: credentials before body, a cap per route, a deadline to arrive.

All through a real Hypercorn on loopback; raw sockets where the order of bytes matters.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import trio
from support.rawhttp import RawConnection, request_head
from support.server import ServerHandle, running_server

from chinwag.http.app import create_app
from chinwag.http.bodies import LINGER_SECONDS

MiB = 1024 * 1024
GATEWAYS = "/api/v1/ai-gateways"
JSON = {"Content-Type": "application/json"}
TINY_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQ"
    "ABXvMqGgAAAABJRU5ErkJggg=="
)


def padded(document: bytes, size: int) -> bytes:
    """`document` followed by JSON whitespace up to exactly `size` bytes (still valid JSON)."""
    assert len(document) <= size
    return document + b" " * (size - len(document))


def assert_envelope(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    body = response.json()
    assert body["data"] is None and isinstance(body["message"], str)
    for word in words:
        assert word in body["message"], (word, body["message"])


# ---------------------------------------------------------------- credentials before the body


def credentialed_routes(server: ServerHandle) -> list[tuple[str, str]]:
    """(method, path) of every route that takes a body and needs a credential, unknown ids."""
    app = create_app(server.service, server.settings, server.service.integrations)
    values = {
        "access_key": "wky_not-a-real-key",
        "secret": "not-the-secret",
    }
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("operations", "talk", "static"):
            continue
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}):
            path = re.sub(
                r"<(?:[^:>]+:)?([^>]+)>",
                lambda m: values.get(m.group(1), "0190a5f2-7c1e-7000-8000-000000000001"),
                rule.rule,
            )
            routes.append((method, path))
    return routes


async def test_every_credentialed_route_refuses_before_reading_the_body(
    server: ServerHandle,
) -> None:
    routes = credentialed_routes(server)
    assert len(routes) >= 10  # management, public and webhook routes are all enumerated
    for method, path in routes:
        connection = await RawConnection.open(server.base_url)
        try:
            # Headers announce a body that is never sent: only an answer given before reading
            # the body can arrive.
            await connection.send(request_head(method, path, length=MiB, headers=JSON))
            with trio.fail_after(5):
                response = await connection.response()
        finally:
            await connection.aclose()
        expected = {401, 404} if "/webhooks/" in path else {401}
        assert response.status in expected, (method, path, response.status, response.body)
        assert response.headers.get("connection") == "close", (method, path)


async def test_anonymous_upload_of_8_mib_gets_its_401(server: ServerHandle) -> None:
    # A client that sends the whole body before reading gets the answer, not a reset.
    big = padded(b'{"name": "x"}', 8 * MiB)
    response = await server.anonymous.post(GATEWAYS, content=big, headers=JSON)
    assert_envelope(response, 401, "API key")
    bad_key = server.public_path("wky_unknown", "prompt")
    response = await server.anonymous.post(
        bad_key, content=padded(b'{"prompt":"x"}', MiB), headers=JSON
    )
    assert_envelope(response, 401)
    assert (await server.client.get(GATEWAYS)).json()["data"] == []


async def test_connection_closes_soon_after_an_early_answer(server: ServerHandle) -> None:
    connection = await RawConnection.open(server.base_url)
    try:
        await connection.send(request_head("POST", GATEWAYS, length=4 * MiB, headers=JSON))
        await connection.send(b"{" * 1000)  # then nothing more: a trickle that stopped
        response = await connection.response()
        assert response.status == 401
        closed_at = await connection.wait_closed(LINGER_SECONDS + 5)
        assert closed_at is not None
        assert closed_at - response.answered_at <= LINGER_SECONDS + 3
    finally:
        await connection.aclose()


async def test_keep_alive_still_works_for_complete_requests(server: ServerHandle) -> None:
    body = b'{"name": "g", "parameters": {"provider": "echo"}}'
    auth = {"Authorization": f"Bearer {server.api_key}", **JSON}
    connection = await RawConnection.open(server.base_url)
    try:
        for _ in range(3):
            await connection.send(request_head("POST", GATEWAYS, length=len(body), headers=auth))
            await connection.send(body)
            response = await connection.response()
            assert response.status == 201
            assert response.headers.get("connection") != "close"
    finally:
        await connection.aclose()


# ---------------------------------------------------------------- caps per route


async def test_management_cap_is_8_mib(server: ServerHandle) -> None:
    limit = server.settings.max_body_bytes
    assert limit == 8 * MiB
    document = b'{"name": "big", "parameters": {"provider": "echo"}}'
    at_limit = await server.client.post(GATEWAYS, content=padded(document, limit), headers=JSON)
    assert at_limit.status_code == 201, at_limit.text
    over = await server.client.post(GATEWAYS, content=padded(document, limit + 1), headers=JSON)
    assert_envelope(over, 413, str(limit), "8 MiB")
    assert len((await server.client.get(GATEWAYS)).json()["data"]) == 1


async def open_public(server: ServerHandle) -> str:
    client_id = await server.create_client(client_parameters={"inputModes": ["Image"]})
    return (await server.open_session(client_id))["accessKey"]


async def test_public_prompt_without_images_is_capped_at_1_mib(server: ServerHandle) -> None:
    access_key = await open_public(server)
    path = server.public_path(access_key, "prompt")
    document = b'{"prompt": "hello"}'
    at_limit = await server.anonymous.post(path, content=padded(document, MiB), headers=JSON)
    assert at_limit.status_code == 200, at_limit.text
    over = await server.anonymous.post(path, content=padded(document, MiB + 1), headers=JSON)
    assert_envelope(over, 413, "1048576", "1 MiB", "image")
    messages = await server.anonymous.get(server.public_path(access_key, "messages"))
    assert len(messages.json()["data"]) == 2  # the refused prompt changed nothing


def image_prompt() -> bytes:
    return (
        b'{"prompt": [{"role": "user", "content": [{"type": "text", "text": "what is this?"},'
        b' {"type": "image_url", "image_url": {"url": "' + TINY_PNG.encode() + b'"}}]}]}'
    )


async def test_public_prompt_with_images_is_capped_at_10_mib(server: ServerHandle) -> None:
    access_key = await open_public(server)
    path = server.public_path(access_key, "prompt")
    limit = server.settings.max_prompt_body_bytes
    assert limit == 10 * MiB
    at_limit = await server.anonymous.post(
        path, content=padded(image_prompt(), limit), headers=JSON
    )
    assert at_limit.status_code == 200, at_limit.text
    over = await server.anonymous.post(
        path, content=padded(image_prompt(), limit + 1), headers=JSON
    )
    assert_envelope(over, 413, str(limit), "10 MiB")


async def test_chunked_prompt_body_is_cut_at_the_cap(server: ServerHandle) -> None:
    # Without a Content-Length the cap is enforced while the body arrives (nothing past it kept).
    access_key = await open_public(server)

    async def chunks(total: int):
        sent = 0
        while sent < total:
            yield b" " * 65536
            sent += 65536

    prompt = await server.anonymous.post(
        server.public_path(access_key, "prompt"), content=chunks(11 * MiB), headers=JSON
    )
    assert_envelope(prompt, 413, str(10 * MiB))


async def test_settings_change_the_caps(data_dir: Path) -> None:
    async with running_server(
        data_dir, max_public_body_bytes=4096, max_prompt_body_bytes=8192, max_body_bytes=2048
    ) as server:
        document = b'{"name": "g", "parameters": {"provider": "echo"}}'
        over = await server.client.post(GATEWAYS, content=padded(document, 2049), headers=JSON)
        assert_envelope(over, 413, "2048")
        access_key = await open_public(server)
        path = server.public_path(access_key, "prompt")
        ok = await server.anonymous.post(
            path, content=padded(b'{"prompt":"a"}', 4096), headers=JSON
        )
        assert ok.status_code == 200, ok.text
        text_over = await server.anonymous.post(
            path, content=padded(b'{"prompt":"a"}', 4097), headers=JSON
        )
        assert_envelope(text_over, 413, "4096")
        image_ok = await server.anonymous.post(
            path, content=padded(image_prompt(), 8192), headers=JSON
        )
        assert image_ok.status_code == 200, image_ok.text
        image_over = await server.anonymous.post(
            path, content=padded(image_prompt(), 8193), headers=JSON
        )
        assert_envelope(image_over, 413, "8192")


# ---------------------------------------------------------------- trickled bodies


@pytest.fixture
def fast_clock(mock_clock):
    # Virtual time runs 10x faster than real time, so a 15 s deadline takes 1.5 s of test.
    mock_clock.rate = 10
    return mock_clock


async def test_trickled_body_gets_408_at_the_deadline(data_dir: Path, fast_clock) -> None:
    async with running_server(data_dir) as server:
        deadline = server.settings.body_timeout_seconds
        assert deadline == 15
        connection = await RawConnection.open(server.base_url)
        headers = {"Authorization": f"Bearer {server.api_key}", **JSON}
        try:
            await connection.send(request_head("POST", GATEWAYS, length=1000, headers=headers))
            started = trio.current_time()
            response = None
            async with trio.open_nursery() as nursery:

                async def trickle() -> None:
                    for _ in range(999):  # one byte a second: far too slow for 1000 bytes
                        if not await connection.send(b" "):
                            return
                        await trio.sleep(1)

                nursery.start_soon(trickle)
                response = await connection.response()
                nursery.cancel_scope.cancel()
            waited = response.answered_at - started
            assert response.status == 408
            assert f"{deadline:g} seconds" in response.body.decode()
            # Never before the deadline; far before the 60 s a trickle held a connection before
            # (the slack is virtual time: a busy machine's scheduling delays count 10x here).
            assert deadline <= waited < 45, waited
            closed_at = await connection.wait_closed(30)
            assert closed_at is not None and closed_at - response.answered_at < 10
        finally:
            await connection.aclose()
        # Nothing was created by the request that timed out.
        assert (await server.client.get(GATEWAYS)).json()["data"] == []


# ---------------------------------------------------------------- Cache-Control


async def test_api_json_is_never_stored_by_caches(server: ServerHandle) -> None:
    access_key = await open_public(server)
    answers = [
        await server.anonymous.get(server.public_path(access_key, "session")),
        await server.anonymous.get(server.public_path(access_key, "messages")),
        await server.anonymous.post(server.public_path(access_key, "prompt"), json={"prompt": "x"}),
        await server.anonymous.get(server.public_path("wky_unknown", "session")),  # 401
        await server.client.get(GATEWAYS),
        await server.anonymous.get("/api/v1/nothing"),  # 404
    ]
    for response in answers:
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers.get("cache-control") == "no-store", response.request.url


async def test_bare_list_of_parts_with_an_image_gets_the_image_cap(server: ServerHandle) -> None:
    # `prompt` may be a bare list of content parts (one message): its image counts too.
    access_key = await open_public(server)
    path = server.public_path(access_key, "prompt")
    bare = (
        b'{"prompt": [{"type": "text", "text": "what is this?"},'
        b' {"type": "image_url", "image_url": {"url": "' + TINY_PNG.encode() + b'"}}]}'
    )
    answer = await server.anonymous.post(path, content=padded(bare, 2 * MiB), headers=JSON)
    assert answer.status_code == 200, answer.text[:300]
