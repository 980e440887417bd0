"""Request ids over real HTTP: every response has one, valid incoming ids are kept, a 5xx quotes
it, and the log line of the failure names it."""

from __future__ import annotations

import logging
import uuid

from support.server import ServerHandle

from chinwag.errors import ChinwagError
from chinwag.storage.errors import StorageError

GATEWAYS = "/api/v1/ai-gateways"


def _is_uuid7(value: str) -> bool:
    try:
        return uuid.UUID(value).version == 7
    except ValueError:
        return False


async def test_every_response_has_a_fresh_uuid7_request_id(server: ServerHandle) -> None:
    ok = await server.client.get(GATEWAYS)
    not_found = await server.client.get("/api/v1/nothing")
    unauthorized = await server.anonymous.get(GATEWAYS)
    health = await server.anonymous.get("/healthz")
    ids = [r.headers.get("X-Request-Id") for r in (ok, not_found, unauthorized, health)]
    assert all(rid and _is_uuid7(rid) for rid in ids), ids
    assert len(set(ids)) == len(ids)


async def test_a_valid_incoming_request_id_is_kept(server: ServerHandle) -> None:
    given = "edge-proxy.4f2a:17"
    response = await server.client.get(GATEWAYS, headers={"X-Request-Id": given})
    assert response.headers["X-Request-Id"] == given


async def test_an_invalid_incoming_request_id_is_replaced(server: ServerHandle) -> None:
    for bad in (b"a b", b"x" * 129, b"<script>", b"-leading-dash", "ünï".encode()):
        response = await server.client.get(GATEWAYS, headers={b"X-Request-Id": bad})
        returned = response.headers["X-Request-Id"]
        assert returned.encode() != bad and _is_uuid7(returned), (bad, returned)


async def test_storage_error_text_never_reaches_the_client(server: ServerHandle, caplog) -> None:
    original = server.service.list_gateways

    def explode():
        raise StorageError("MDB_BAD_VALSIZE: Unsupported size of key/DB name/data")

    server.service.list_gateways = explode
    try:
        with caplog.at_level(logging.ERROR):
            response = await server.client.get(GATEWAYS, headers={"X-Request-Id": "given-id-1"})
    finally:
        server.service.list_gateways = original
    assert response.status_code == 500
    assert response.json() == {"message": "internal error (request id given-id-1)", "data": None}
    assert "MDB_BAD_VALSIZE" in caplog.text and "given-id-1" in caplog.text


async def test_a_bare_chinwag_error_is_an_internal_error(server: ServerHandle) -> None:
    original = server.service.list_gateways

    def explode():
        raise ChinwagError("the index at /var/lib/chinwag is inconsistent")

    server.service.list_gateways = explode
    try:
        response = await server.client.get(GATEWAYS)
    finally:
        server.service.list_gateways = original
    rid = response.headers["X-Request-Id"]
    assert response.status_code == 500
    assert response.json()["message"] == f"internal error (request id {rid})"
