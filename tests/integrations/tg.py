"""Telegram updates built with python-telegram-bot's own classes, serialised as the Bot API
sends them (`Update(...).to_json()`), so the shapes are the library's, not ours."""

from __future__ import annotations

import datetime
import json
from typing import Any

from telegram import (
    Chat,
    Document,
    ForumTopicCreated,
    ForumTopicEdited,
    Message,
    MessageEntity,
    PhotoSize,
    Sticker,
    Update,
    User,
)

BOT_ID = 123456  # the harness' default token is "123456:TEST-token"
BOT_USERNAME = "ChinwagTestBot"
DATE = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)

ANA = User(id=4242, first_name="Ana", last_name="Lima", is_bot=False, username="analima")
BRUNO = User(id=5151, first_name="Bruno", is_bot=False)
THIS_BOT = User(id=BOT_ID, first_name="Test bot", is_bot=True, username=BOT_USERNAME)
OTHER_BOT = User(id=777, first_name="Other", is_bot=True, username="OtherBot")

__all__ = [
    "ANA",
    "BOT_ID",
    "BOT_USERNAME",
    "BRUNO",
    "OTHER_BOT",
    "THIS_BOT",
    "Document",
    "ForumTopicCreated",
    "ForumTopicEdited",
    "MessageEntity",
    "PhotoSize",
    "Sticker",
    "forum",
    "group",
    "message",
    "private",
    "update",
]


def private(user: User = ANA) -> Chat:
    return Chat(id=user.id, type=Chat.PRIVATE, first_name=user.first_name, username=user.username)


def group(chat_id: int = -1001234567890, *, forum: bool = False) -> Chat:
    return Chat(id=chat_id, type=Chat.SUPERGROUP, title="Team chat", is_forum=forum or None)


def forum(chat_id: int = -1009876543210) -> Chat:
    return group(chat_id, forum=True)


def message(
    message_id: int,
    chat: Chat,
    text: str | None = None,
    *,
    user: User = ANA,
    **fields: Any,
) -> Message:
    """A Message; a leading /command gets its bot_command entity like Telegram adds it."""
    if text is not None and text.startswith("/") and "entities" not in fields:
        word = text.split()[0]
        fields["entities"] = (
            MessageEntity(type=MessageEntity.BOT_COMMAND, offset=0, length=len(word)),
        )
    return Message(message_id=message_id, date=DATE, chat=chat, from_user=user, text=text, **fields)


def update(update_id: int, msg: Message) -> dict[str, Any]:
    """The JSON body of the webhook call Telegram makes for this update."""
    return json.loads(Update(update_id=update_id, message=msg).to_json())


def mention(text: str, username: str = BOT_USERNAME) -> tuple[MessageEntity, ...]:
    """A `mention` entity for the first @username in `text` (UTF-16 offsets)."""
    at = f"@{username}"
    offset = len(text[: text.index(at)].encode("utf-16-le")) // 2
    return (MessageEntity(type=MessageEntity.MENTION, offset=offset, length=len(at)),)
