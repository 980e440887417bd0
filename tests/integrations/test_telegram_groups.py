"""Telegram in groups and forums, with updates built by python-telegram-bot's classes.

Parsing is checked directly; the behaviour (what is answered, where the reply goes, what is
stored) end to end through a real chinwag server and the fake Bot API on loopback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import trio
import trio.testing
from support.clock import settling_clock
from telegram import (
    Chat,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberUpdated,
    MessageEntity,
    Update,
    User,
)

from chinwag.integrations.parse import (
    Ignored,
    IncomingMessage,
    TelegramBot,
    parse_telegram_update,
)

from . import tg
from .fakes import Failure
from .harness import Rig, rig

WAIT = 20
BOT = TelegramBot(tg.BOT_ID, tg.BOT_USERNAME)


@pytest.fixture
async def r(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig(tmp_path / "data") as handle:
        yield handle


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return settling_clock(autojump_threshold=0.1)


def parse(body: dict, groups: str = "mention") -> IncomingMessage | Ignored:
    return parse_telegram_update(body, bot=BOT, groups=groups)  # type: ignore[arg-type]


# ------------------------------------------------------------------ parsing


SERVICE_MESSAGES = {
    "new_chat_members": {"new_chat_members": (tg.BRUNO,)},
    "left_chat_member": {"left_chat_member": tg.BRUNO},
    "new_chat_title": {"new_chat_title": "Renamed"},
    "pinned_message": {"pinned_message": tg.message(1, tg.group(), "pinned text")},
    "forum_topic_created": {
        "forum_topic_created": tg.ForumTopicCreated(name="Billing", icon_color=7322096),
        "message_thread_id": 9,
        "is_topic_message": True,
    },
    "forum_topic_edited": {
        "forum_topic_edited": tg.ForumTopicEdited(name="Billing 2"),
        "message_thread_id": 9,
        "is_topic_message": True,
    },
    "group_chat_created": {"group_chat_created": True},
}


@pytest.mark.parametrize("kind", sorted(SERVICE_MESSAGES))
@pytest.mark.parametrize("groups", ["mention", "all"])
def test_service_messages_are_ignored(kind: str, groups: str) -> None:
    msg = tg.message(50, tg.forum(), None, **SERVICE_MESSAGES[kind])
    assert parse(tg.update(1, msg), groups) == Ignored("service message")


def test_forum_topic_thread_is_kept_and_group_marked() -> None:
    text = "@ChinwagTestBot what is our refund policy?"
    msg = tg.message(
        60, tg.forum(), text, entities=tg.mention(text), message_thread_id=9, is_topic_message=True
    )
    parsed = parse(tg.update(2, msg))
    assert isinstance(parsed, IncomingMessage)
    assert (parsed.thread_id, parsed.group, parsed.message_id) == (9, True, "60")
    assert parsed.text == "what is our refund policy?"  # the bot's own mention is not the question


def test_thread_id_of_a_plain_reply_thread_is_not_a_topic() -> None:
    # In a non-forum supergroup, message_thread_id names a reply thread, not a topic.
    msg = tg.message(61, tg.group(), "/usage", message_thread_id=3)
    parsed = parse(tg.update(3, msg), "all")
    assert isinstance(parsed, IncomingMessage) and parsed.thread_id is None


def test_commands_for_another_bot_are_ignored() -> None:
    for chat in (tg.group(), tg.private()):
        other = tg.message(70, chat, "/reset@OtherBot")
        assert parse(tg.update(4, other), "all") == Ignored("command for another bot")
    ours = parse(tg.update(5, tg.message(71, tg.group(), "/reset@chinwagtestbot")))
    assert isinstance(ours, IncomingMessage) and ours.text == "/reset"


def test_group_modes() -> None:
    chat = tg.group()
    plain = tg.update(10, tg.message(80, chat, "anyone around?"))
    text = "hey @ChinwagTestBot, help"
    mentioned = tg.update(11, tg.message(81, chat, text, entities=tg.mention(text)))
    text_mention = tg.update(
        12,
        tg.message(
            82,
            chat,
            "Test bot, help",
            entities=(
                MessageEntity(
                    type=MessageEntity.TEXT_MENTION, offset=0, length=8, user=tg.THIS_BOT
                ),
            ),
        ),
    )
    reply_to_bot = tg.update(
        13,
        tg.message(
            83, chat, "and in euros?", reply_to_message=tg.message(79, chat, "42", user=tg.THIS_BOT)
        ),
    )
    reply_to_person = tg.update(
        14,
        tg.message(84, chat, "agreed", reply_to_message=tg.message(78, chat, "hi", user=tg.BRUNO)),
    )
    other_mention_text = "ask @OtherBot"
    other_mention = tg.update(
        15,
        tg.message(
            85, chat, other_mention_text, entities=tg.mention(other_mention_text, "OtherBot")
        ),
    )
    addressed = [mentioned, text_mention, reply_to_bot]
    not_addressed = [plain, reply_to_person, other_mention]
    for body in addressed:
        assert isinstance(parse(body, "mention"), IncomingMessage), body
    for body in not_addressed:
        assert parse(body, "mention") == Ignored("group message not addressed to the bot"), body
    for body in addressed + not_addressed:
        assert isinstance(parse(body, "all"), IncomingMessage)
        assert parse(body, "off") == Ignored("group messages are off")
    # Private chats are always answered, whatever the group setting.
    assert isinstance(
        parse(tg.update(16, tg.message(86, tg.private(), "hi")), "off"), IncomingMessage
    )


def test_text_links_reach_the_model_with_their_url() -> None:
    text = "📎 Read the docs and the FAQ please"
    docs_at = len("📎 Read the ".encode("utf-16-le")) // 2  # the emoji is 2 UTF-16 units
    faq_at = len("📎 Read the docs and the ".encode("utf-16-le")) // 2
    entities = (
        MessageEntity(type="text_link", offset=docs_at, length=4, url="https://example.com/docs"),
        MessageEntity(type="text_link", offset=faq_at, length=3, url="https://example.com/faq"),
        MessageEntity(type="bold", offset=0, length=2),
    )
    parsed = parse(tg.update(20, tg.message(90, tg.private(), text, entities=entities)))
    assert isinstance(parsed, IncomingMessage)
    assert parsed.text == (
        "📎 Read the docs (https://example.com/docs) and the FAQ (https://example.com/faq) please"
    )


def test_photo_takes_the_largest_size_and_caption_links() -> None:
    sizes = (
        tg.PhotoSize("small", "u1", 90, 60, file_size=1_000),
        tg.PhotoSize("large", "u3", 1280, 853, file_size=90_000),
        tg.PhotoSize("medium", "u2", 320, 213, file_size=9_000),
    )
    msg = tg.message(
        91,
        tg.private(),
        None,
        photo=sizes,
        caption="what is this?",
        caption_entities=(
            MessageEntity(type="text_link", offset=0, length=4, url="https://example.com/x"),
        ),
    )
    parsed = parse(tg.update(21, msg))
    assert isinstance(parsed, IncomingMessage)
    assert (parsed.image, parsed.image_size, parsed.unsupported) == ("large", 90_000, False)
    assert parsed.text == "what (https://example.com/x) is this?"


def test_member_updates_are_not_messages() -> None:
    # The bot added to a group arrives as my_chat_member, not as a message.
    added = Update(
        update_id=22,
        my_chat_member=ChatMemberUpdated(
            chat=tg.group(),
            from_user=tg.ANA,
            date=tg.DATE,
            old_chat_member=ChatMemberLeft(user=tg.THIS_BOT),
            new_chat_member=ChatMemberMember(user=tg.THIS_BOT),
        ),
    )
    assert parse(json.loads(added.to_json())) == Ignored("not a new message")


# ------------------------------------------------------------------ end to end


async def test_forum_reply_goes_to_the_topic_quoting_the_question(r: Rig) -> None:
    client_id, secret = await r.telegram_client()
    chat = tg.forum()
    created = tg.message(
        100,
        chat,
        None,
        forum_topic_created=tg.ForumTopicCreated(name="Billing", icon_color=1),
        message_thread_id=100,
        is_topic_message=True,
    )
    joined = tg.message(101, chat, None, new_chat_members=(tg.BRUNO,))
    text = "@ChinwagTestBot hello from the topic"
    asked = tg.message(
        102, chat, text, entities=tg.mention(text), message_thread_id=100, is_topic_message=True
    )
    for update_id, msg in ((1, created), (2, joined), (3, asked)):
        assert (
            await r.post_update(client_id, secret, tg.update(update_id, msg))
        ).status_code == 200
    with trio.fail_after(WAIT):
        [reply] = await r.telegram.wait_for("sendMessage", 1)
    assert reply.body["chat_id"] == chat.id
    assert reply.body["text"] == "You said: hello from the topic"
    assert reply.body["message_thread_id"] == 100
    assert reply.body["reply_parameters"] == {
        "message_id": 102,
        "allow_sending_without_reply": True,
    }
    actions = r.telegram.of("sendChatAction")
    assert actions and all(a.body["message_thread_id"] == 100 for a in actions)
    assert r.inbox_count() == 1  # the service messages were not even stored
    await trio.sleep(0.5)
    assert len(r.telegram.of("sendMessage")) == 1


async def test_private_replies_do_not_quote(r: Rig) -> None:
    client_id, secret = await r.telegram_client()
    assert (
        await r.post_update(client_id, secret, tg.update(1, tg.message(5, tg.private(), "hi")))
    ).status_code == 200
    with trio.fail_after(WAIT):
        [reply] = await r.telegram.wait_for("sendMessage", 1)
    assert "reply_parameters" not in reply.body and "message_thread_id" not in reply.body


async def test_reset_for_another_bot_keeps_our_conversation(r: Rig) -> None:
    client_id, secret = await r.telegram_client(groups="all")
    chat = tg.group()
    steps = [
        tg.message(1, chat, "remember this"),
        tg.message(2, chat, "/reset@OtherBot"),
        tg.message(3, chat, "/reset@ChinwagTestBot"),
    ]
    await r.post_update(client_id, secret, tg.update(1, steps[0]))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    service = r.server.service
    [session] = service.list_sessions(client_id)[0]
    await r.post_update(client_id, secret, tg.update(2, steps[1]))
    await r.post_update(client_id, secret, tg.update(4, tg.message(4, chat, "/usage@OtherBot")))
    await trio.sleep(0.5)
    assert len(service.messages(session.id)) == 2  # untouched
    assert r.inbox_count() == 1
    await r.post_update(client_id, secret, tg.update(3, steps[2]))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    assert r.replies(chat.id)[1] == "The conversation was cleared. Let's start over."
    assert service.messages(session.id) == []


async def test_groups_setting_off_mention_all(r: Rig) -> None:
    chat = tg.group()
    text = "@ChinwagTestBot ping"
    addressed = tg.message(1, chat, text, entities=tg.mention(text))
    plain = tg.message(2, chat, "just chatting")
    for mode, expected in (
        ("off", []),
        ("mention", ["You said: ping"]),
        ("all", ["You said: ping", "You said: just chatting"]),
    ):
        client_id, secret = await r.telegram_client(groups=mode, bot_token=f"{tg.BOT_ID}:{mode}")
        before = len(r.telegram.of("sendMessage"))
        await r.post_update(client_id, secret, tg.update(1, addressed))
        await r.post_update(client_id, secret, tg.update(2, plain))
        with trio.fail_after(WAIT):
            await r.telegram.wait_for("sendMessage", before + len(expected))
        await r.settled()
        await trio.sleep(0.3)
        sent = [c.body["text"] for c in r.telegram.of("sendMessage")[before:]]
        assert sent == expected, mode
    shown = await r.server.client.get(f"/api/v1/web-chat-client/{client_id}")
    assert shown.json()["data"]["integrations"]["telegram"]["groups"] == "all"
    assert shown.json()["data"]["integrations"]["telegram"]["botUsername"] == tg.BOT_USERNAME
    bad = await r.server.client.put(
        f"/api/v1/web-chat-client/{client_id}/integrations",
        json={
            "integrationType": "Telegram",
            "integrations": {"telegramIntegration": {"botToken": "1:a", "groups": "some"}},
        },
    )
    assert bad.status_code == 400


async def test_getme_runs_before_the_integration_is_saved(r: Rig) -> None:
    client_id = await r.server.create_client()
    r.telegram.fail_next(
        "getMe", Failure(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    )
    response = await r.server.client.put(
        f"/api/v1/web-chat-client/{client_id}/integrations",
        json={
            "integrationType": "Telegram",
            "integrations": {"telegramIntegration": {"botToken": "9:revoked"}},
        },
    )
    assert response.status_code == 400
    assert r.server.service.get_client(client_id).integrations.telegram is None
    assert not r.telegram.of("setWebhook")


async def test_second_unsupported_message_gets_a_reaction(
    r: Rig, clock: trio.testing.MockClock
) -> None:
    client_id, secret = await r.telegram_client()
    chat = tg.private()
    sticker = tg.Sticker("stk", "ustk", 512, 512, False, False, "regular")
    for update_id in (1, 2):
        msg = tg.message(10 + update_id, chat, None, sticker=sticker)
        await r.post_update(client_id, secret, tg.update(update_id, msg))
    with trio.fail_after(WAIT):
        [reaction] = await r.telegram.wait_for("setMessageReaction", 1)
    assert r.replies(chat.id) == ["Sorry, I can only read text messages."]
    assert reaction.body == {
        "chat_id": chat.id,
        "message_id": 12,
        "reaction": [{"type": "emoji", "emoji": "🤷"}],
    }
    # Where reactions are refused (e.g. turned off in a group), a much shorter notice instead.
    r.telegram.fail_next(
        "setMessageReaction",
        Failure(
            400, {"ok": False, "error_code": 400, "description": "Bad Request: REACTION_INVALID"}
        ),
    )
    await r.post_update(
        client_id, secret, tg.update(3, tg.message(13, chat, None, sticker=sticker))
    )
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    assert r.replies(chat.id)[1] == "(not read: text only)"
    await r.settled()


async def test_debounce_never_merges_two_topics(r: Rig, clock: trio.testing.MockClock) -> None:
    client_id, secret = await r.telegram_client(
        groups="all", client_parameters={"messageDebounceInterval": 3}
    )
    chat = tg.forum()
    steps = [
        tg.message(1, chat, "first in 5", message_thread_id=5, is_topic_message=True),
        tg.message(2, chat, "second in 5", message_thread_id=5, is_topic_message=True),
        tg.message(3, chat, "one in 8", message_thread_id=8, is_topic_message=True),
    ]
    for update_id, msg in enumerate(steps, start=1):
        assert (
            await r.post_update(client_id, secret, tg.update(update_id, msg))
        ).status_code == 200
    with trio.fail_after(60):
        await r.telegram.wait_for("sendMessage", 2)
    sent = [(c.body["message_thread_id"], c.body["text"]) for c in r.telegram.of("sendMessage")]
    assert sent == [(5, "You said: first in 5\nsecond in 5"), (8, "You said: one in 8")]
    # The merged reply quotes the last message it answers.
    assert r.telegram.of("sendMessage")[0].body["reply_parameters"]["message_id"] == 2


async def test_integrations_saved_before_getme_learn_the_bot_at_start(r: Rig) -> None:

    client_id, secret = await r.telegram_client()
    service = r.server.service
    client = service.get_client(client_id)
    old = msgspec.structs.replace(client.integrations.telegram, bot_id=None, bot_username=None)
    await service.set_integrations(
        client_id, msgspec.structs.replace(client.integrations, telegram=old)
    )
    web = await r.server.open_session(client_id)
    path = r.server.public_path(web["accessKey"], "links")
    assert (await r.server.anonymous.post(path, json={"channel": "telegram"})).status_code == 404
    assert await service.integrations.learn_bot_identities() == 1
    telegram = service.get_client(client_id).integrations.telegram
    assert (telegram.bot_id, telegram.bot_username) == (tg.BOT_ID, tg.BOT_USERNAME)
    assert telegram.secret_token == secret  # nothing else changed
    assert (await r.server.anonymous.post(path, json={"channel": "telegram"})).status_code == 200
    assert await service.integrations.learn_bot_identities() == 0  # known now: no more getMe


def test_anonymous_admins_are_people_and_channel_forwards_are_not() -> None:
    chat = tg.group()
    anonymous = User(id=1087968824, first_name="Group", is_bot=True, username="GroupAnonymousBot")
    text = "@ChinwagTestBot status?"
    admin = tg.message(1, chat, text, user=anonymous, sender_chat=chat, entities=tg.mention(text))
    parsed = parse(tg.update(1, admin))
    assert isinstance(parsed, IncomingMessage) and parsed.text == "status?"
    assert parsed.sender_name is None
    channel = Chat(id=-1001111, type=Chat.CHANNEL, title="News")
    telegram = User(id=777000, first_name="Telegram", is_bot=False)
    forwarded = tg.message(
        2, chat, "Big news today", user=telegram, sender_chat=channel, is_automatic_forward=True
    )
    assert parse(tg.update(2, forwarded), "all") == Ignored(
        "channel post forwarded to its discussion group"
    )
    other_bot = tg.message(3, chat, "beep", user=tg.OTHER_BOT)
    assert parse(tg.update(3, other_bot), "all") == Ignored("sent by a bot")
