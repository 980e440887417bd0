"""WhatsApp through Z-API end to end: real chinwag server, fake Z-API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from .fakes import Failure
from .harness import Rig, rig
from .payloads import zapi_callback

WAIT = 20


@pytest.fixture
async def r(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig(tmp_path / "data", public_url="https://bot.example.com") as handle:
        yield handle


async def test_configure_returns_webhook_url_and_hides_tokens(r: Rig) -> None:
    client_id, path = await r.zapi_client()
    assert path.startswith(f"/api/v1/webhooks/zapi/{client_id}/")
    assert len(path.rsplit("/", 1)[1]) >= 32
    shown = await r.server.client.get(f"/api/v1/web-chat-client/{client_id}")
    assert "INSTTOKEN" not in shown.text and "client-token-1" not in shown.text
    assert path.rsplit("/", 1)[1] not in shown.text


async def test_message_gets_reply_with_client_token(r: Rig) -> None:
    client_id, path = await r.zapi_client()
    posted = await r.server.anonymous.post(path, json=zapi_callback("M1", "5511999990001", "Oi"))
    assert posted.status_code == 200
    with trio.fail_after(WAIT):
        [call] = await r.zapi.wait_for("send-text", 1)
    assert call.path_token == "INST1/INSTTOKEN"
    assert call.headers["client-token"] == "client-token-1"
    assert call.body["phone"] == "5511999990001"
    assert call.body["message"] == "You said: Oi"
    assert 1 <= call.body["delayTyping"] <= 15
    sessions, _ = r.server.service.list_sessions(client_id)
    [session] = sessions
    assert (session.channel, session.external_id) == ("zapi", "5511999990001")


async def test_ignored_callbacks_are_acknowledged_and_not_stored(r: Rig) -> None:
    _client_id, path = await r.zapi_client()
    ignored = [
        zapi_callback("A", "551100", "my own", fromMe=True),
        zapi_callback("B", "551100", "grp", isGroup=True, participantPhone="551101"),
        zapi_callback("C", "551100", "", notification="GROUP_PARTICIPANT_ADD"),
        zapi_callback("D", "status@broadcast", "st", broadcast=True),
        {
            "type": "MessageStatusCallback",
            "status": "READ",
            "ids": ["X"],
            "phone": "551100",
            "momment": 1732380000000,
            "instanceId": "INST1",
            "isGroup": False,
        },
        {"type": "PresenceChatCallback", "phone": "551100", "status": "COMPOSING"},
    ]
    for payload in ignored:
        response = await r.server.anonymous.post(path, json=payload)
        assert response.status_code == 200, payload
    assert r.inbox_count() == 0
    posted = await r.server.anonymous.post(path, json=zapi_callback("E", "551100", "real"))
    assert posted.status_code == 200
    with trio.fail_after(WAIT):
        await r.zapi.wait_for("send-text", 1)
    assert [c.body["message"] for c in r.zapi.of("send-text")] == ["You said: real"]
    stats = r.server.service.integrations.stats()
    assert stats.updates_ignored == len(ignored)
    assert stats.updates_accepted == 1


async def test_duplicate_message_id_is_answered_once(r: Rig) -> None:
    _client_id, path = await r.zapi_client()
    for _ in range(3):
        response = await r.server.anonymous.post(path, json=zapi_callback("DUP", "5521", "hey"))
        assert response.status_code == 200
    await r.server.anonymous.post(path, json=zapi_callback("NEXT", "5521", "next"))
    with trio.fail_after(WAIT):
        await r.zapi.wait_for("send-text", 2)
    assert [c.body["message"] for c in r.zapi.of("send-text")] == [
        "You said: hey",
        "You said: next",
    ]


async def test_wrong_secret_or_client_is_401_and_nothing_stored(r: Rig) -> None:
    _client_id, path = await r.zapi_client()
    wrong = await r.server.anonymous.post(path + "x", json=zapi_callback("W", "1", "x"))
    assert wrong.status_code == 401
    other = await r.server.anonymous.post(
        f"/api/v1/webhooks/zapi/00000000-0000-7000-8000-000000000000/{path.rsplit('/', 1)[1]}",
        json=zapi_callback("W", "1", "x"),
    )
    assert other.status_code == 401
    assert r.inbox_count() == 0


async def test_server_errors_are_retried(r: Rig) -> None:
    _client_id, path = await r.zapi_client()
    r.zapi.fail_next("send-text", Failure(500, {"error": "boom"}))
    await r.server.anonymous.post(path, json=zapi_callback("R1", "5531", "retry me"))
    with trio.fail_after(WAIT):
        [call] = await r.zapi.wait_for("send-text", 1)
    assert call.body["message"] == "You said: retry me"
    assert len(r.zapi.refused) == 1


async def test_reset_command_on_whatsapp(r: Rig) -> None:
    _client_id, path = await r.zapi_client(client_parameters={"languageCode": "pt-BR"})
    await r.server.anonymous.post(path, json=zapi_callback("1", "5541", "oi"))
    await r.server.anonymous.post(path, json=zapi_callback("2", "5541", "/reset"))
    with trio.fail_after(WAIT):
        await r.zapi.wait_for("send-text", 2)
    assert [c.body["message"] for c in r.zapi.of("send-text")] == [
        "You said: oi",
        "A conversa foi apagada. Vamos recomeçar.",
    ]


async def test_delete_zapi_integration(r: Rig) -> None:
    client_id, path = await r.zapi_client()
    response = await r.server.client.delete(
        f"/api/v1/web-chat-client/{client_id}/integrations/Zapi"
    )
    assert response.status_code == 200
    gone = await r.server.anonymous.post(path, json=zapi_callback("G", "1", "x"))
    assert gone.status_code == 401
    bad = await r.server.client.delete(f"/api/v1/web-chat-client/{client_id}/integrations/Slack")
    assert bad.status_code == 400


async def test_group_modes_and_replies_quote_the_question(r: Rig) -> None:
    group = "120363019502650977-group"
    own = "5544999999999"  # connectedPhone of the payloads

    def in_group(message_id: str, text: str, **extra: object) -> dict:
        return zapi_callback(
            message_id, group, text, isGroup=True, participantPhone="5511911112222", **extra
        )

    cases = [
        ({"groups": "mention"}, ["You said: oi", "You said: e agora?"]),
        (
            {"allowGroups": True},
            ["You said: oi", "You said: e agora?", "You said: conversa"],
        ),
        ({"allowGroups": True, "groups": "off"}, []),
        ({}, []),
    ]
    for index, (settings, expected) in enumerate(cases):
        _client_id, path = await r.zapi_client(zapi=settings)
        before = len(r.zapi.of("send-text"))
        for payload in (
            in_group(f"G{index}a", f"@{own} oi"),
            in_group(f"G{index}b", "e agora?", mentioned=[own]),
            in_group(f"G{index}c", "conversa"),
        ):
            assert (await r.server.anonymous.post(path, json=payload)).status_code == 200
        with trio.fail_after(WAIT):
            await r.zapi.wait_for("send-text", before + len(expected))
        await r.settled()
        await trio.sleep(0.3)
        sent = r.zapi.of("send-text")[before:]
        assert [c.body["message"] for c in sent] == expected, settings
        assert all(c.body["phone"] == group for c in sent)
        assert [c.body["messageId"] for c in sent][:1] == ([f"G{index}a"] if expected else [])


async def test_whatsapp_number_is_checked_and_shown(r: Rig) -> None:
    client_id, _path = await r.zapi_client(zapi={"whatsappNumber": "+55 (11) 99999-0000"})
    shown = await r.server.client.get(f"/api/v1/web-chat-client/{client_id}")
    assert shown.json()["data"]["integrations"]["zapi"]["whatsappNumber"] == "5511999990000"
    for bad in ("call me", "123", "+55 11 9999-0000 ext 5"):
        response = await r.server.client.put(
            f"/api/v1/web-chat-client/{client_id}/integrations",
            json={
                "integrationType": "Zapi",
                "integrations": {
                    "zapiIntegration": {
                        "instanceId": "I",
                        "instanceToken": "T",
                        "clientToken": "C",
                        "whatsappNumber": bad,
                    }
                },
            },
        )
        assert response.status_code == 400, bad
        assert "whatsappNumber" in response.json()["message"]
    assert r.server.service.get_client(client_id).integrations.zapi.whatsapp_number == (
        "5511999990000"
    )


async def test_second_unread_message_gets_a_reaction(r: Rig) -> None:
    _client_id, path = await r.zapi_client()
    for message_id in ("S1", "S2"):
        sticker = zapi_callback(
            message_id,
            "5561",
            "",
            sticker={"stickerUrl": "https://x/s.webp", "mimeType": "image/webp"},
        )
        del sticker["text"]
        assert (await r.server.anonymous.post(path, json=sticker)).status_code == 200
    with trio.fail_after(WAIT):
        [reaction] = await r.zapi.wait_for("send-reaction", 1)
    assert reaction.body == {"phone": "5561", "messageId": "S2", "reaction": "🤷"}
    assert [c.body["message"] for c in r.zapi.of("send-text")] == [
        "Sorry, I can only read text messages."
    ]


async def test_message_over_max_prompt_chars_gets_the_too_long_notice(tmp_path: Path) -> None:
    async with rig(
        tmp_path / "data", public_url="https://bot.example.com", max_prompt_chars=40
    ) as r:
        _client_id, path = await r.zapi_client()
        text = "y" * 41
        posted = await r.server.anonymous.post(
            path, json=zapi_callback("L1", "5511999990009", text)
        )
        assert posted.status_code == 200
        with trio.fail_after(WAIT):
            [call] = await r.zapi.wait_for("send-text", 1)
        assert call.body["message"] == (
            "Your message is too long for this chat. Please send a shorter one."
        )
