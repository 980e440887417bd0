"""One conversation across web, Telegram and WhatsApp: link codes, attaching chats, /web.

A real chinwag server, the fake Bot API and Z-API on loopback; Telegram updates built with
python-telegram-bot's classes, Z-API callbacks in Z-API's documented shape.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trio
import trio.testing
from support.clock import settling_clock

from . import tg
from .harness import Rig, rig
from .payloads import zapi_callback

WAIT = 20
NUMBER = "5511999990000"


@pytest.fixture
async def r(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig(tmp_path / "data", public_url="https://chat.example.com") as handle:
        yield handle


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return settling_clock(autojump_threshold=0.1)


async def both_channels(r: Rig, **client: Any) -> tuple[str, str, str]:
    """A client with Telegram and Z-API: (client id, telegram secret, zapi webhook path)."""
    client_id, secret = await r.telegram_client(**client)
    _, path = await r.zapi_client(client_id=client_id, zapi={"whatsappNumber": NUMBER})
    return client_id, secret, path


async def web_session(r: Rig, client_id: str) -> dict[str, Any]:
    return await r.server.open_session(client_id)


async def link(r: Rig, access_key: str, channel: str) -> Any:
    return await r.server.anonymous.post(
        r.server.public_path(access_key, "links"), json={"channel": channel}
    )


async def test_telegram_chat_joins_the_web_conversation(r: Rig) -> None:
    client_id, secret, _ = await both_channels(r)
    service = r.server.service
    chat = tg.private()
    # The chat already had a conversation of its own.
    await r.post_update(client_id, secret, tg.update(1, tg.message(1, chat, "old chat")))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    [earlier] = service.list_sessions(client_id)[0]

    web = await web_session(r, client_id)
    prompt = r.server.public_path(web["accessKey"], "prompt")
    assert (await r.server.anonymous.post(prompt, json={"prompt": "from the web"})).is_success
    response = await link(r, web["accessKey"], "telegram")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    code = data["code"]
    assert data["url"] == f"https://t.me/{tg.BOT_USERNAME}?start={code}"
    assert parse_qs(urlsplit(data["url"]).query) == {"start": [code]}
    assert 590 <= data["expiresAt"] - time.time() <= 601

    await r.post_update(client_id, secret, tg.update(2, tg.message(2, chat, f"/start {code}")))
    await r.post_update(client_id, secret, tg.update(3, tg.message(3, chat, "from telegram")))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 3)
    assert r.replies(chat.id)[1:] == [
        "Done: this chat now continues your conversation from the web page.",
        "You said: from telegram",
    ]
    history = await r.server.anonymous.get(r.server.public_path(web["accessKey"], "messages"))
    contents = [m["content"] for m in history.json()["data"]]
    assert contents == [
        "from the web",
        "You said: from the web",
        "from telegram",
        "You said: from telegram",
    ]
    ended = service.get_session(client_id, earlier.id)
    assert ended.expires_at <= time.time() + 1  # the chat's earlier session ended
    assert service.messages(earlier.id)[0].content == "old chat"  # kept, read-only
    # A web prompt is answered on the web only; the chat receives answers to its own messages.
    assert (await r.server.anonymous.post(prompt, json={"prompt": "web again"})).is_success
    await trio.sleep(0.5)
    assert len(r.telegram.of("sendMessage")) == 3
    # /web answers with the talk page of the shared session.
    await r.post_update(client_id, secret, tg.update(4, tg.message(4, chat, "/web")))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 4)
    answer = r.replies(chat.id)[3]
    assert answer.startswith(
        "Continue this conversation on the web: https://chat.example.com/chat/"
    )
    key = answer.rsplit("/", 1)[1]
    assert service.resolve_access_key(key).id == web["sessionId"]


async def test_codes_are_single_use_and_expire(r: Rig, clock: trio.testing.MockClock) -> None:
    client_id, secret, _ = await both_channels(r)
    web = await web_session(r, client_id)
    code = (await link(r, web["accessKey"], "telegram")).json()["data"]["code"]
    ana, bruno = tg.private(tg.ANA), tg.private(tg.BRUNO)
    updates = [
        (1, tg.message(1, ana, f"/start {code}")),
        (2, tg.message(1, bruno, f"/start {code}")),  # someone else with the same link
        (3, tg.message(2, ana, f"/start {code}")),  # the same chat again: still fine
        (4, tg.message(3, bruno, "/start cw-aaaaaaaaaaaaaaaa")),  # unknown
        (5, tg.message(4, bruno, "/start promo2026")),  # a deep link of another kind: hello
    ]
    for update_id, msg in updates:
        await r.post_update(client_id, secret, tg.update(update_id, msg))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 5)
    linked = "Done: this chat now continues your conversation from the web page."
    invalid = (
        "This link is invalid, was already used or has expired. "
        "Open the chat page and choose “Continue” again."
    )
    assert r.replies(ana.id) == [linked, linked]
    assert r.replies(bruno.id) == [invalid, invalid, "Hello! How can I help you?"]
    # A code not used within 10 minutes attaches nothing.
    late = (await link(r, web["accessKey"], "telegram")).json()["data"]["code"]
    await trio.sleep(601)
    await r.post_update(client_id, secret, tg.update(6, tg.message(5, bruno, f"/start {late}")))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 6)
    assert r.replies(bruno.id)[-1] == invalid
    service = r.server.service
    bruno_sessions = [
        s for s in service.list_sessions(client_id)[0] if s.external_id == str(bruno.id)
    ]
    assert all(s.id != web["sessionId"] for s in bruno_sessions)


async def test_new_code_replaces_the_previous_one(r: Rig) -> None:
    client_id, secret, _ = await both_channels(r)
    web = await web_session(r, client_id)
    first = (await link(r, web["accessKey"], "telegram")).json()["data"]["code"]
    second = (await link(r, web["accessKey"], "telegram")).json()["data"]["code"]
    assert first != second
    chat = tg.private()
    await r.post_update(client_id, secret, tg.update(1, tg.message(1, chat, f"/start {first}")))
    await r.post_update(client_id, secret, tg.update(2, tg.message(2, chat, f"/start {second}")))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    assert r.replies(chat.id)[0].startswith("This link is invalid")
    assert r.replies(chat.id)[1].startswith("Done:")


async def test_whatsapp_message_holding_the_code(r: Rig) -> None:
    client_id, _secret, path = await both_channels(r, client_parameters={"languageCode": "pt-BR"})
    web = await web_session(r, client_id)
    data = (await link(r, web["accessKey"], "whatsapp")).json()["data"]
    assert data["url"] == f"https://wa.me/{NUMBER}?text={data['code']}"
    phone = "5511988887777"
    # WhatsApp capitalised the first letter and the user typed around the code.
    typed = f"Oi! {data['code'][0].upper()}{data['code'][1:]} obrigado"
    await r.server.anonymous.post(path, json=zapi_callback("W1", phone, typed))
    await r.server.anonymous.post(path, json=zapi_callback("W2", phone, "tudo bem?"))
    await r.server.anonymous.post(path, json=zapi_callback("W3", phone, "/web"))
    with trio.fail_after(WAIT):
        await r.zapi.wait_for("send-text", 3)
    linked, answer, web_link = [c.body["message"] for c in r.zapi.of("send-text")]
    assert linked == "Pronto: este chat agora continua a sua conversa da página web."
    assert answer == "You said: tudo bem?"
    assert web_link.startswith("Continue esta conversa na web: https://chat.example.com/chat/")
    history = await r.server.anonymous.get(r.server.public_path(web["accessKey"], "messages"))
    assert [m["content"] for m in history.json()["data"]] == ["tudo bem?", "You said: tudo bem?"]
    # An unknown code in WhatsApp gets the notice and attaches nothing.
    await r.server.anonymous.post(
        path, json=zapi_callback("W4", "5511900000001", "cw-2222222222222222")
    )
    with trio.fail_after(WAIT):
        await r.zapi.wait_for("send-text", 4)
    assert r.zapi.of("send-text")[3].body["message"].startswith("Este link é inválido")


async def test_one_set_of_limits(r: Rig) -> None:
    client_id, secret, _ = await both_channels(r, limiting_parameters={"maxMessages": 4})
    web = await web_session(r, client_id)
    prompt = r.server.public_path(web["accessKey"], "prompt")
    assert (await r.server.anonymous.post(prompt, json={"prompt": "one"})).is_success
    code = (await link(r, web["accessKey"], "telegram")).json()["data"]["code"]
    chat = tg.private()
    await r.post_update(client_id, secret, tg.update(1, tg.message(1, chat, f"/start {code}")))
    await r.post_update(client_id, secret, tg.update(2, tg.message(2, chat, "two")))
    await r.post_update(client_id, secret, tg.update(3, tg.message(3, chat, "three")))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 3)
    assert r.replies(chat.id)[1] == "You said: two"
    assert r.replies(chat.id)[2].startswith("This conversation has reached a limit")
    refused = await r.server.anonymous.post(prompt, json={"prompt": "four"})
    assert refused.status_code == 403


async def test_link_errors(r: Rig) -> None:
    client_id = await r.server.create_client()
    web = await web_session(r, client_id)
    for channel in ("telegram", "whatsapp"):
        missing = await link(r, web["accessKey"], channel)
        assert missing.status_code == 404, missing.text
    # Z-API without whatsappNumber cannot make a wa.me link.
    await r.zapi_client(client_id=client_id)
    assert (await link(r, web["accessKey"], "whatsapp")).status_code == 404
    bad = await r.server.anonymous.post(
        r.server.public_path(web["accessKey"], "links"), json={"channel": "sms"}
    )
    assert bad.status_code == 400
    unknown = await link(r, "wky_nope", "telegram")
    assert unknown.status_code == 401
    assert r.server.service.engine.count("links") == 0


async def test_deleting_the_web_session_detaches_the_chat(r: Rig) -> None:
    client_id, secret, _ = await both_channels(r)
    service = r.server.service
    web = await web_session(r, client_id)
    code = (await link(r, web["accessKey"], "telegram")).json()["data"]["code"]
    chat = tg.private()
    await r.post_update(client_id, secret, tg.update(1, tg.message(1, chat, f"/start {code}")))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    assert service.linked_chats(web["sessionId"]) == [("telegram", str(chat.id))]
    shown = await r.server.client.get(
        f"/api/v1/web-chat-client/{client_id}/sessions/{web['sessionId']}"
    )
    assert shown.json()["data"]["linkedChats"] == [
        {"channel": "telegram", "externalId": str(chat.id)}
    ]
    deleted = await r.server.client.delete(
        f"/api/v1/web-chat-client/{client_id}/sessions/{web['sessionId']}"
    )
    assert deleted.status_code == 200
    assert service.engine.count("links") == 0 and service.engine.count("session_chats") == 0
    await r.post_update(client_id, secret, tg.update(2, tg.message(2, chat, "still there?")))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    assert r.replies(chat.id)[1] == "You said: still there?"
    [fresh] = [s for s in service.list_sessions(client_id)[0] if s.external_id == str(chat.id)]
    assert fresh.id != web["sessionId"]


async def test_a_code_used_elsewhere_meanwhile_attaches_nothing(r: Rig) -> None:
    """Another process using the code between our read and our write: our write fails whole
    (compare-and-set on the code record), so neither the use nor the chat mapping is stored."""
    import msgspec

    from chinwag import linkcodes
    from chinwag.storage.errors import ConditionFailed

    client_id, secret, _ = await both_channels(r)
    web = await web_session(r, client_id)
    code = (await link(r, web["accessKey"], "telegram")).json()["data"]["code"]
    repo = r.server.service.repo
    digest = linkcodes.digest(code)
    record, version = repo.channel_link_version(digest)
    elsewhere = msgspec.structs.replace(record, used_by="999")
    await repo.commit(repo.use_channel_link(digest, version, elsewhere))  # the other node
    late = msgspec.structs.replace(record, used_by="4242")
    with pytest.raises(ConditionFailed):
        await repo.commit(
            [
                *repo.use_channel_link(digest, version, late),
                *repo.attach_chat(client_id, "telegram", "4242", web["sessionId"]),
            ]
        )
    assert repo.channel_link(digest).used_by == "999"
    assert repo.session_id_by_channel(client_id, "telegram", "4242") is None
    chat = tg.private()
    await r.post_update(client_id, secret, tg.update(1, tg.message(1, chat, f"/start {code}")))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    assert r.replies(chat.id)[0].startswith("This link is invalid")
