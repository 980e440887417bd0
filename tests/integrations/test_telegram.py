"""Telegram end to end: real chinwag server, fake Bot API server, real webhook payloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path

import pytest
import trio
import trio.testing
from support.clock import settling_clock

from .fakes import FakeTelegram
from .harness import SECRET_HEADER, Rig, rig
from .payloads import telegram_update

WAIT = 20  # seconds (virtual under MockClock) before a missing reply fails the test


@pytest.fixture
async def r(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig(tmp_path / "data") as handle:
        yield handle


@pytest.fixture
def clock() -> trio.testing.MockClock:
    # Virtual time jumps only after 100 ms of real idleness, so socket and disk I/O finish first.
    return settling_clock(autojump_threshold=0.1)


async def test_configure_registers_webhook_and_hides_token(r: Rig) -> None:
    client_id, secret = await r.telegram_client(bot_token="999:SECRET-bot")
    [call] = r.telegram.of("setWebhook")
    assert call.path_token == "999:SECRET-bot"
    assert call.body["url"] == f"{r.server.base_url}/api/v1/webhooks/telegram/{client_id}"
    assert len(secret) >= 32
    shown = await r.server.client.get(f"/api/v1/web-chat-client/{client_id}")
    assert shown.status_code == 200
    assert "999:SECRET-bot" not in shown.text
    assert secret not in shown.text


async def test_refused_bot_token_changes_nothing(r: Rig) -> None:
    client_id = await r.server.create_client()
    r.telegram.fail_next("setWebhook", FakeTelegram.unauthorized())
    response = await r.server.client.put(
        f"/api/v1/web-chat-client/{client_id}/integrations",
        json={
            "integrationType": "Telegram",
            "integrations": {"telegramIntegration": {"botToken": "x"}},
        },
    )
    assert response.status_code == 400
    assert "Unauthorized" in response.json()["message"]
    assert r.server.service.get_client(client_id).integrations.telegram is None


async def test_bad_session_duration_is_refused(r: Rig) -> None:
    client_id = await r.server.create_client()
    response = await r.server.client.put(
        f"/api/v1/web-chat-client/{client_id}/integrations",
        json={
            "integrationType": "Telegram",
            "integrations": {"telegramIntegration": {"botToken": "1:a", "sessionDuration": "3h"}},
        },
    )
    assert response.status_code == 400
    assert "sessionDuration" in response.json()["message"]
    assert not r.telegram.of("setWebhook")


async def test_message_gets_echo_reply_with_typing(r: Rig) -> None:
    client_id, secret = await r.telegram_client()
    response = await r.telegram_message(client_id, secret, 1, 4242, "Hello bot")
    assert response.status_code == 200
    with trio.fail_after(WAIT):
        [reply] = await r.telegram.wait_for("sendMessage", 1)
    assert reply.body["chat_id"] == 4242
    assert reply.body["text"] == "You said: Hello bot"
    assert "parse_mode" not in reply.body
    actions = r.telegram.of("sendChatAction")
    assert actions and actions[0].body == {"chat_id": 4242, "action": "typing"}
    assert actions[0].at <= reply.at


async def test_same_update_three_times_gets_one_reply(r: Rig) -> None:
    client_id, secret = await r.telegram_client()
    for _ in range(3):
        response = await r.telegram_message(client_id, secret, 7, 10, "once please")
        assert response.status_code == 200
    # A later update of the same chat is answered after anything queued before it.
    assert (await r.telegram_message(client_id, secret, 8, 10, "second")).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    assert r.replies(10) == ["You said: once please", "You said: second"]


async def test_concurrent_duplicates_are_stored_once(r: Rig) -> None:
    client_id, secret = await r.telegram_client()
    statuses: list[int] = []

    async def deliver() -> None:
        response = await r.telegram_message(client_id, secret, 70, 11, "together")
        statuses.append(response.status_code)

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(deliver)
    assert statuses == [200] * 5
    assert (await r.telegram_message(client_id, secret, 71, 11, "after")).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    assert r.replies(11) == ["You said: together", "You said: after"]
    assert r.inbox_count() == 2


async def test_wrong_secret_is_401_and_nothing_stored(r: Rig) -> None:
    client_id, secret = await r.telegram_client()
    wrong = await r.telegram_message(client_id, secret + "x", 1, 5, "let me in")
    assert wrong.status_code == 401
    assert wrong.json()["data"] is None
    missing = await r.server.anonymous.post(
        f"/api/v1/webhooks/telegram/{client_id}", json={"update_id": 2}
    )
    assert missing.status_code == 401
    assert r.inbox_count() == 0
    assert (await r.telegram_message(client_id, secret, 3, 5, "legit")).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    assert r.replies() == ["You said: legit"]


async def test_long_answer_arrives_in_two_messages(r: Rig) -> None:
    client_id, secret = await r.telegram_client()
    words = ("lorem ipsum dolor sit amet. " * 300)[: 6000 - len("You said: ")].strip()
    assert (await r.telegram_message(client_id, secret, 1, 77, words)).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    parts = r.replies(77)
    assert len(parts) == 2
    assert all(len(part) < 4096 for part in parts)
    assert " ".join(parts).split() == f"You said: {words}".split()


async def test_429_retry_after_delays_and_succeeds(r: Rig, clock: trio.testing.MockClock) -> None:
    client_id, secret = await r.telegram_client()
    r.telegram.fail_next("sendMessage", FakeTelegram.too_many_requests(7))
    assert (await r.telegram_message(client_id, secret, 1, 3, "busy?")).status_code == 200
    with trio.fail_after(WAIT):
        [delivered] = await r.telegram.wait_for("sendMessage", 1)
    [refused] = r.telegram.refused
    assert delivered.body["text"] == "You said: busy?"
    assert 7.0 <= delivered.at - refused.at < 8.0


async def test_reset_usage_and_start(r: Rig) -> None:
    client_id, secret = await r.telegram_client(
        client_parameters={"debug": True, "helloLabel": "Welcome to Acme!"},
        limiting_parameters={"maxMessages": 50, "maxConversationTokens": 5000},
    )
    service = r.server.service
    chat = 555
    steps = [(1, "/start"), (2, "first question"), (3, "/usage"), (4, "/reset"), (5, "/usage")]
    for update_id, text in steps:
        assert (
            await r.telegram_message(client_id, secret, update_id, chat, text)
        ).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", len(steps))
    hello, answer, usage, reset, usage_after = r.replies(chat)
    assert hello == "Welcome to Acme!"
    assert answer == "You said: first question"
    assert "Input tokens:" in usage and "Output tokens:" in usage and "Total tokens:" in usage
    assert "Messages: 2 / 50" in usage
    assert reset == "The conversation was cleared. Let's start over."
    assert "Messages: 0 / 50" in usage_after
    assert "Tokens in the current conversation: 0 / 5000" in usage_after
    assert "Tokens in the current conversation: 0" not in usage
    sessions, _ = service.list_sessions(client_id)
    [session] = [s for s in sessions if s.channel == "telegram"]
    assert session.external_id == str(chat)
    assert service.messages(session.id) == []


async def test_usage_with_debug_off_and_language(r: Rig) -> None:
    client_id, secret = await r.telegram_client(client_parameters={"languageCode": "pt-BR"})
    assert (await r.telegram_message(client_id, secret, 1, 9, "/usage")).status_code == 200
    assert (await r.telegram_message(client_id, secret, 2, 9, "/start")).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    assert r.replies(9) == [
        "Os detalhes de uso não estão disponíveis neste chat.",
        "Olá! Como posso ajudar?",
    ]


async def test_limit_reached_gets_localized_notice(r: Rig) -> None:
    client_id, secret = await r.telegram_client(
        client_parameters={"languageCode": "es"}, limiting_parameters={"maxMessages": 2}
    )
    for update_id, text in [(1, "uno"), (2, "dos")]:
        assert (await r.telegram_message(client_id, secret, update_id, 6, text)).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    first, blocked = r.replies(6)
    assert first == "You said: uno"
    assert blocked.startswith("Esta conversación alcanzó un límite")


async def test_two_chats_in_parallel_one_chat_in_order(
    r: Rig, clock: trio.testing.MockClock
) -> None:
    # Each reply streams 3 words 1 s apart: a chat's 3 turns take >= 9 s in sequence.
    client_id, secret = await r.telegram_client(streamDelaySeconds=1.0)
    for update_id, text in [(1, "a1"), (2, "a2"), (3, "a3")]:
        assert (
            await r.telegram_message(client_id, secret, update_id, 100, text)
        ).status_code == 200
    assert (await r.telegram_message(client_id, secret, 4, 200, "b1")).status_code == 200
    with trio.fail_after(60):
        await r.telegram.wait_for("sendMessage", 4)
    assert r.replies(100) == ["You said: a1", "You said: a2", "You said: a3"]
    sent = r.telegram.of("sendMessage")
    a_times = [c.at for c in sent if c.body["chat_id"] == 100]
    [b_time] = [c.at for c in sent if c.body["chat_id"] == 200]
    assert b_time < a_times[1]  # chat 200 did not wait behind chat 100's queue
    assert a_times[2] - a_times[0] >= 6.0  # chat 100's turns ran one after another


async def test_debounce_merges_messages(r: Rig, clock: trio.testing.MockClock) -> None:
    client_id, secret = await r.telegram_client(client_parameters={"messageDebounceInterval": 3})
    for update_id, text in [(1, "one"), (2, "two"), (3, "three")]:
        assert (await r.telegram_message(client_id, secret, update_id, 8, text)).status_code == 200
        await trio.sleep(1.0)
    await trio.sleep(10)
    assert (await r.telegram_message(client_id, secret, 4, 8, "later")).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    assert r.replies(8) == ["You said: one\ntwo\nthree", "You said: later"]


async def test_delete_integration_removes_webhook(r: Rig) -> None:
    client_id, secret = await r.telegram_client()
    response = await r.server.client.delete(
        f"/api/v1/web-chat-client/{client_id}/integrations/Telegram"
    )
    assert response.status_code == 200
    assert len(r.telegram.of("deleteWebhook")) == 1
    assert r.server.service.get_client(client_id).integrations.telegram is None
    gone = await r.telegram_message(client_id, secret, 1, 1, "hello?")
    assert gone.status_code == 404
    again = await r.server.client.delete(
        f"/api/v1/web-chat-client/{client_id}/integrations/Telegram"
    )
    assert again.status_code == 404


async def test_hourly_rate_limit_notice_once_a_minute(
    r: Rig, clock: trio.testing.MockClock
) -> None:
    client_id, secret = await r.telegram_client(limiting_parameters={"messagesPerHour": 1})
    notice = "You have sent too many messages. Please wait 60 min and try again."
    for update_id, text in [(1, "first"), (2, "second"), (3, "third"), (4, "fourth")]:
        assert (await r.telegram_message(client_id, secret, update_id, 12, text)).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    await trio.sleep(30)
    assert r.replies(12) == ["You said: first", notice]  # not one notice per message
    await trio.sleep(31)
    assert (await r.telegram_message(client_id, secret, 5, 12, "fifth")).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 3)
    assert r.replies(12)[2] == "You have sent too many messages. Please wait 59 min and try again."
    assert r.inbox_count() == 5
    with trio.fail_after(WAIT):
        await r.settled()  # the skipped notices' messages are finished too


async def test_unsupported_message_gets_notice(r: Rig) -> None:
    client_id, secret = await r.telegram_client()
    update = telegram_update(1, 13, "x")
    del update["message"]["text"]
    update["message"]["sticker"] = {"file_id": "abc", "width": 512, "height": 512}
    response = await r.server.anonymous.post(
        f"/api/v1/webhooks/telegram/{client_id}", json=update, headers={SECRET_HEADER: secret}
    )
    assert response.status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    assert r.replies(13) == ["Sorry, I can only read text messages."]


async def test_expired_chat_session_is_replaced(r: Rig, clock: trio.testing.MockClock) -> None:
    client_id = await r.server.create_client()
    response = await r.server.client.put(
        f"/api/v1/web-chat-client/{client_id}/integrations",
        json={
            "integrationType": "Telegram",
            "integrations": {
                "telegramIntegration": {"botToken": "5:x", "sessionDuration": "00:10:00"}
            },
        },
    )
    assert response.status_code == 200
    secret = r.telegram.of("setWebhook")[-1].body["secret_token"]
    service = r.server.service
    assert (await r.telegram_message(client_id, secret, 1, 21, "before")).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    [first] = service.list_sessions(client_id)[0]
    assert first.expires_at - first.created_at <= 20 * 60 + 1  # 10 min, renewed to 20 at most
    await trio.sleep(21 * 60)
    assert (await r.telegram_message(client_id, secret, 2, 21, "after")).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    assert r.replies(21) == ["You said: before", "You said: after"]
    sessions = [s for s in service.list_sessions(client_id)[0] if s.external_id == "21"]
    assert len(sessions) == 2
    [second] = [s for s in sessions if s.id != first.id]
    assert [m.content for m in service.messages(second.id) if m.role == "user"] == ["after"]


async def test_typing_is_repeated_while_the_model_works(
    r: Rig, clock: trio.testing.MockClock
) -> None:
    # 3 words, 5 s apart: the reply takes about 15 s; Telegram's typing status lasts 5 s.
    client_id, secret = await r.telegram_client(streamDelaySeconds=5.0)
    assert (await r.telegram_message(client_id, secret, 1, 14, "slow")).status_code == 200
    with trio.fail_after(60):
        [reply] = await r.telegram.wait_for("sendMessage", 1)
    actions = [c.at for c in r.telegram.of("sendChatAction") if c.at <= reply.at]
    assert len(actions) >= 3
    assert all(later - earlier <= 5.0 for earlier, later in pairwise(actions))
    await trio.sleep(20)
    assert len(r.telegram.of("sendChatAction")) == len(actions)  # stopped with the reply


async def test_openapi_lists_integration_routes(r: Rig) -> None:
    spec = (await r.server.anonymous.get("/openapi.json")).json()
    assert "put" in spec["paths"]["/api/v1/web-chat-client/{client_id}/integrations"]
    assert "post" in spec["paths"]["/api/v1/webhooks/telegram/{client_id}"]


async def test_new_bot_on_same_client_is_not_deduplicated_against_old_one(r: Rig) -> None:
    client_id, secret = await r.telegram_client(bot_token="111:first")
    assert (await r.telegram_message(client_id, secret, 5, 30, "old bot")).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    response = await r.server.client.put(
        f"/api/v1/web-chat-client/{client_id}/integrations",
        json={
            "integrationType": "Telegram",
            "integrations": {"telegramIntegration": {"botToken": "222:second"}},
        },
    )
    assert response.status_code == 200
    new_secret = r.telegram.of("setWebhook")[-1].body["secret_token"]
    assert new_secret != secret
    assert (await r.telegram_message(client_id, secret, 6, 30, "stale")).status_code == 401
    assert (await r.telegram_message(client_id, new_secret, 5, 30, "new bot")).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    assert r.replies(30) == ["You said: old bot", "You said: new bot"]
    assert [c.path_token for c in r.telegram.of("sendMessage")] == ["111:first", "222:second"]


async def test_too_long_message_gets_its_own_notice(r: Rig) -> None:
    client_id, secret = await r.telegram_client(limiting_parameters={"userInputMaxTokens": 5})
    long_text = "this message has far more than five tokens in it, clearly"
    assert (await r.telegram_message(client_id, secret, 1, 15, long_text)).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    assert r.replies(15) == ["Your message is too long for this chat. Please send a shorter one."]


def test_every_language_has_every_text() -> None:
    from chinwag.integrations.commands import TEXTS

    assert {lang: set(table) for lang, table in TEXTS.items()} == {
        lang: set(TEXTS["en"]) for lang in TEXTS
    }


async def test_model_failure_notice_has_no_upstream_detail(r: Rig, nursery, caplog) -> None:
    from gateways.fake_openai import error_reply, start_fake_openai

    key = "sk-proj-Telegram0Secret0Key0123"
    fake = await start_fake_openai(nursery)
    fake.default = lambda body: error_reply(401, f"Incorrect API key provided: {key}")
    client_id, secret = await r.telegram_client(
        provider="openai", baseUrl=fake.base_url, model="m", apiKey=key
    )
    assert (await r.telegram_message(client_id, secret, 1, 77, "hello")).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    (notice,) = r.replies(77)
    assert notice.startswith("The assistant is unavailable right now.")
    assert "Incorrect" not in notice and key not in notice
    request_id = notice.rsplit("(request id ", 1)[1].rstrip(")")
    line = next(r.getMessage() for r in caplog.records if request_id in r.getMessage())
    assert "Incorrect API key provided: sk-***" in line and key not in caplog.text


async def test_message_over_max_prompt_chars_gets_the_too_long_notice(tmp_path: Path) -> None:
    # CHINWAG_MAX_PROMPT_CHARS refuses the text (400) before any limit: the chat must hear that
    # its message is too long, not that the assistant is unavailable.
    async with rig(tmp_path / "data", max_prompt_chars=40) as r:
        client_id, secret = await r.telegram_client()
        long_text = "x" * 41
        assert (await r.telegram_message(client_id, secret, 1, 16, long_text)).status_code == 200
        assert (await r.telegram_message(client_id, secret, 2, 16, "short")).status_code == 200
        with trio.fail_after(WAIT):
            await r.telegram.wait_for("sendMessage", 2)
        assert r.replies(16) == [
            "Your message is too long for this chat. Please send a shorter one.",
            "You said: short",
        ]
