"""A storage failure is logged in full and answered with a generic 5xx: no LMDB text leaks."""

from __future__ import annotations

from support.server import ServerHandle

from chinwag.storage.errors import StorageError

LMDB_TEXT = "MDB_BAD_VALSIZE: Unsupported size of key/DB name/data (table 'tags')"


async def test_a_failing_write_is_a_generic_500(server: ServerHandle, caplog) -> None:
    client_id = await server.create_client()
    engine = server.service.engine
    original = engine.write

    async def failing_write(*ops):
        if any(getattr(op, "table", None) == "tags" for op in ops):
            raise StorageError(LMDB_TEXT)
        await original(*ops)

    engine.write = failing_write
    try:
        response = await server.client.post(
            f"/api/v1/web-chat-client/{client_id}/sessions", json={"tag": "t1"}
        )
    finally:
        del engine.write
    assert response.status_code == 500, response.text
    body = response.json()
    assert body["data"] is None
    for leak in ("MDB", "VALSIZE", "tags", "table", "key"):
        assert leak not in body["message"], leak
    request_id = response.headers["x-request-id"]
    assert body["message"].startswith("internal error") and request_id in body["message"]
    # The operator still sees what happened, under the id the client was given.
    [line] = [r.getMessage() for r in caplog.records if LMDB_TEXT in r.getMessage()]
    assert request_id in line


async def test_a_200_emoji_tag_never_reaches_lmdb_raw(server: ServerHandle) -> None:
    client_id = await server.create_client()
    tag = "😀" * 200  # 800 bytes: a 500 naming MDB_BAD_VALSIZE before
    path = f"/api/v1/web-chat-client/{client_id}/sessions"
    first = await server.client.post(path, json={"tag": tag})
    assert "MDB" not in first.text
    # The field bound (256 bytes, rules) answers 400 naming `tag`; without it the key is hashed
    # and the tag works like any other: a second call renews the same session.
    assert first.status_code in (200, 400), first.text
    if first.status_code == 400:
        assert "tag" in first.json()["message"]
    else:
        again = await server.client.post(path, json={"tag": tag})
        assert again.json()["data"]["sessionId"] == first.json()["data"]["sessionId"]
