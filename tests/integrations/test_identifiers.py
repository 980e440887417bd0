"""Chat-platform identifiers at the webhook: malformed or too long ones are acknowledged and
ignored (never stored, never a background failure); a webhook body is capped at 1 MiB."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from chinwag.integrations.manager import manager_for

from .harness import SECRET_HEADER, Rig, rig
from .payloads import telegram_update, zapi_callback

WAIT = 20
MiB = 1024 * 1024


@pytest.fixture
async def r(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig(tmp_path / "data", public_url="https://bot.example.com") as handle:
        yield handle


async def test_zapi_long_or_malformed_ids_are_acknowledged_and_ignored(r: Rig, caplog) -> None:
    _client_id, path = await r.zapi_client()
    bad = [
        zapi_callback("M" * 600, "5511999990001", "long message id"),  # was a 500 naming LMDB
        zapi_callback("M" * 129, "5511999990001", "one over the message id bound"),
        zapi_callback("M1", "5" * 65, "one over the phone bound"),
        zapi_callback("M2", "5" * 600, "long phone"),
        zapi_callback("M3", "55 11 9999", "space in phone"),
        zapi_callback("M4\u0000", "5511", "NUL in message id"),
        zapi_callback("M5", "😀" * 10, "emoji phone"),
    ]
    for payload in bad:
        response = await r.server.anonymous.post(path, json=payload)
        assert response.status_code == 200, (payload["messageId"][:20], response.text)
        assert "ignored: malformed" in response.json()["message"]
        assert "MDB" not in response.text
    assert r.inbox_count() == 0
    assert "ignored a message with a" in caplog.text
    assert manager_for(r.server.service).stats()["integration_updates_ignored"] == len(bad)
    # At the bounds exactly, ids are served.
    ok = zapi_callback("M" * 128, "5" * 64, "at the bounds")
    assert (await r.server.anonymous.post(path, json=ok)).status_code == 200
    group = zapi_callback("G1", "120363019502650977-group", "hi group", isGroup=False)
    assert (await r.server.anonymous.post(path, json=group)).status_code == 200
    with trio.fail_after(WAIT):
        calls = await r.zapi.wait_for("send-text", 2)
    assert sorted(c.body["phone"] for c in calls) == sorted(["5" * 64, "120363019502650977-group"])


async def test_telegram_long_or_malformed_chat_ids_are_acknowledged_and_ignored(r: Rig) -> None:
    client_id, secret = await r.telegram_client()
    url = f"/api/v1/webhooks/telegram/{client_id}"
    bad_chats: list[object] = ["9" * 21, "9" * 600, 10**25, "12a", "", "-", "😀"]
    for number, chat_id in enumerate(bad_chats, start=1):
        payload = telegram_update(number, 1, "hello")
        payload["message"]["chat"]["id"] = chat_id
        response = await r.server.anonymous.post(url, json=payload, headers={SECRET_HEADER: secret})
        assert response.status_code == 200, (chat_id, response.text)
        assert r.inbox_count() == 0, chat_id
    # Negative (group) ids and the int64 extremes are real chats.
    for number, chat_id in enumerate([-1001234567890, 9223372036854775807], start=100):
        response = await r.telegram_message(client_id, secret, number, chat_id, "hi")
        assert response.status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    assert sorted(r.replies()) == ["You said: hi", "You said: hi"]


async def test_webhook_body_is_capped_at_1_mib(r: Rig) -> None:
    _client_id, path = await r.zapi_client()
    document = json.dumps(zapi_callback("CAP1", "5511", "fits")).encode()
    at_limit = document + b" " * (MiB - len(document))
    response = await r.server.anonymous.post(
        path, content=at_limit, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    over = at_limit + b" "
    response = await r.server.anonymous.post(
        path, content=over, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "1048576" in response.json()["message"]
    with trio.fail_after(WAIT):
        await r.zapi.wait_for("send-text", 1)
    assert r.inbox_count() == 1
