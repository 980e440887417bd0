"""Webhook payloads in, one internal shape out: `IncomingMessage`, or `Ignored` with a reason.

Telegram sends `Update` objects; Z-API sends callbacks of several kinds to one URL. Only what a
person wrote in a chat we serve becomes a message; our own echoes, delivery statuses, service
messages (member joined, pinned, topic created…), notifications, broadcasts, commands meant for
another bot and group messages not addressed to the bot (see `GroupMode`) are acknowledged and
dropped, so the platforms do not retry them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

IntegrationChannel = Literal["telegram", "zapi"]
# Which group messages are answered: none, only those addressed to the bot, or all of them.
GroupMode = Literal["off", "mention", "all"]
GROUP_MODES: tuple[GroupMode, ...] = ("off", "mention", "all")
# Longer media URLs or file ids are not platform-made: the message counts as unreadable media.
MAX_MEDIA_URL = 4096

# Message fields that carry something a person sent. A message with none of them is a service
# message (new_chat_members, pinned_message, forum_topic_created, …) and is ignored silently.
TELEGRAM_CONTENT = frozenset(
    (
        "text",
        "photo",
        "document",
        "sticker",
        "animation",
        "audio",
        "voice",
        "video",
        "video_note",
        "contact",
        "location",
        "venue",
        "poll",
        "dice",
        "game",
        "story",
        "paid_media",
        "checklist",
    )
)


class IncomingMessage(msgspec.Struct, kw_only=True):
    """A user message from a chat app, as the inbox stores it."""

    channel: IntegrationChannel
    # Deduplication key given by the platform: Telegram update_id, Z-API messageId.
    update_key: str
    # The conversation: Telegram chat id, WhatsApp phone (or group id).
    chat_id: str
    text: str
    sender_name: str | None = None
    # True for media the assistant cannot read (sticker, voice, a non-image file…).
    unsupported: bool = False
    # The platform's id of this message: replies in groups quote it, reactions point at it.
    message_id: str | None = None
    # Telegram forum topic the message was written in: the reply goes to the same topic.
    thread_id: int | None = None
    # Written in a group (replies quote the message that asked).
    group: bool = False
    # An image to read: Telegram file_id of the largest size, or the Z-API media URL.
    image: str | None = None
    image_size: int | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A payload acknowledged and dropped; `reason` goes to logs and metrics."""

    reason: str


@dataclass(frozen=True, slots=True)
class TelegramBot:
    """Who the bot is, to tell which mentions, replies and commands are meant for it."""

    id: int | None
    username: str | None


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------ Telegram


_RENDERED = frozenset(("text_link", "mention", "text_mention"))


def _utf16_slice(text: str, offset: int, length: int) -> tuple[str, str, str]:
    """Split `text` around an entity; Telegram counts offsets in UTF-16 code units."""
    raw = text.encode("utf-16-le")
    if len(raw) == 2 * len(text):  # no character outside the BMP: units are characters
        return text[:offset], text[offset : offset + length], text[offset + length :]
    start, end = offset * 2, (offset + length) * 2
    return (
        raw[:start].decode("utf-16-le", "ignore"),
        raw[start:end].decode("utf-16-le", "ignore"),
        raw[end:].decode("utf-16-le", "ignore"),
    )


def _render_entities(text: str, entities: list[Any], bot: TelegramBot) -> tuple[str, bool]:
    """Text as the model should read it, and whether it mentions the bot.

    `text_link` entities become "text (url)"; mentions of the bot itself are removed (they
    address the bot, they are not part of the question). Entities are applied from the end so
    earlier offsets stay valid; kinds that change nothing (bold, bot_command…) are skipped.
    """
    relevant = [
        e
        for e in (_as_dict(x) for x in entities)
        if e.get("type") in _RENDERED
        and _is_int(e.get("offset"))
        and _is_int(e.get("length"))
        and e["length"] > 0
    ]
    if not relevant:
        return text.strip(), False
    mentioned = False
    username = (bot.username or "").lower()
    for entity in sorted(relevant, key=lambda e: e["offset"], reverse=True):
        kind = entity["type"]
        before, inner, after = _utf16_slice(text, entity["offset"], entity["length"])
        if kind == "text_link" and isinstance(entity.get("url"), str):
            url = entity["url"]
            text = before + (inner if inner.strip() == url else f"{inner} ({url})") + after
        elif (kind == "mention" and username and inner.lower() == f"@{username}") or (
            kind == "text_mention"
            and bot.id is not None
            and _as_dict(entity.get("user")).get("id") == bot.id
        ):
            mentioned = True
            text = before + after
    return re.sub(r"[ \t]{2,}", " ", text).strip(), mentioned


def _command_target(text: str) -> tuple[str, str | None]:
    """`/reset@MyBot now` -> ("/reset now", "MyBot"); non-commands unchanged with None."""
    if "@" not in text or not text.lstrip().startswith("/"):
        return text, None
    match = re.match(r"^(\s*/[A-Za-z0-9_]+)@([A-Za-z0-9_]+)", text)
    if match is None:
        return text, None
    return match.group(1) + text[match.end() :], match.group(2)


def _largest_photo(sizes: Any) -> dict[str, Any]:
    photos = [p for p in (_as_dict(x) for x in sizes or []) if isinstance(p.get("file_id"), str)]
    if not photos:
        return {}

    def area(photo: dict[str, Any]) -> tuple[int, int]:
        width, height, size = photo.get("width"), photo.get("height"), photo.get("file_size")
        pixels = width * height if _is_int(width) and _is_int(height) else 0
        return pixels, size if _is_int(size) else 0

    return max(photos, key=area)


def parse_telegram_update(
    payload: Any, *, bot: TelegramBot | None = None, groups: GroupMode = "mention"
) -> IncomingMessage | Ignored:
    """A Telegram `Update` -> message. Edited messages, channel posts and the rest are ignored."""
    bot = bot or TelegramBot(None, None)
    update = _as_dict(payload)
    update_id = update.get("update_id")
    if not _is_int(update_id):
        return Ignored("no update_id")
    message = _as_dict(update.get("message"))
    if not message:
        return Ignored("not a new message")
    chat = _as_dict(message.get("chat"))
    chat_id = chat.get("id")
    if not (_is_int(chat_id) or isinstance(chat_id, str)):
        return Ignored("no chat id")
    sender = _as_dict(message.get("from"))
    # An anonymous group admin writes as the group itself (from: GroupAnonymousBot).
    anonymous_admin = _as_dict(message.get("sender_chat")).get("id") == chat_id
    if sender.get("is_bot") and not anonymous_admin:
        return Ignored("sent by a bot")
    if message.get("is_automatic_forward"):
        return Ignored("channel post forwarded to its discussion group")
    if not any(message[kind] for kind in TELEGRAM_CONTENT.intersection(message)):
        return Ignored("service message")
    group = chat.get("type") in ("group", "supergroup")
    name = (
        ""
        if anonymous_admin
        else " ".join(
            part for part in (sender.get("first_name"), sender.get("last_name")) if part
        ).strip()
    )

    text = message.get("text")
    entities = message.get("entities")
    if not isinstance(text, str):
        text = message.get("caption") if isinstance(message.get("caption"), str) else ""
        entities = message.get("caption_entities")
    text, target = _command_target(text)
    if target is not None and (not bot.username or target.lower() != bot.username.lower()):
        return Ignored("command for another bot")
    text, mentioned = _render_entities(text, entities if isinstance(entities, list) else [], bot)

    if group:
        replied = _as_dict(_as_dict(message.get("reply_to_message")).get("from"))
        addressed = (
            mentioned
            or target is not None
            or text.startswith("/")  # a bare command goes to every bot of the group
            or (bot.id is not None and replied.get("id") == bot.id)
        )
        if groups == "off":
            return Ignored("group messages are off")
        if groups == "mention" and not addressed:
            return Ignored("group message not addressed to the bot")

    image: dict[str, Any] = {}
    if message.get("photo"):
        image = _largest_photo(message.get("photo"))
    document = _as_dict(message.get("document"))
    if str(document.get("mime_type", "")).startswith("image/") and document.get("file_id"):
        image = document
    # A text that was only the bot's mention is still a text (it is greeted, not refused).
    has_text = isinstance(message.get("text"), str)
    file_id = image.get("file_id") if image else None
    if not isinstance(file_id, str) or len(file_id) > MAX_MEDIA_URL:
        image, file_id = {}, None
    thread = message.get("message_thread_id")
    message_id = message.get("message_id")
    return IncomingMessage(
        channel="telegram",
        update_key=str(update_id),
        chat_id=str(chat_id),
        text=text,
        sender_name=name or None,
        unsupported=not has_text and file_id is None,
        message_id=str(message_id) if _is_int(message_id) else None,
        thread_id=thread if message.get("is_topic_message") and _is_int(thread) else None,
        group=group,
        image=file_id,
        image_size=image.get("file_size") if image and _is_int(image.get("file_size")) else None,
    )


# ------------------------------------------------------------------ Z-API


def zapi_group_mode(allow_groups: bool, groups: GroupMode | None) -> GroupMode:
    """How `groups` and the older `allowGroups` combine: `groups` decides when it is set;
    without it, `allowGroups: true` answers every group message and `false` none."""
    if groups is not None:
        return groups
    return "all" if allow_groups else "off"


def _zapi_mentions(callback: dict[str, Any], text: str) -> bool:
    own = re.sub(r"\D", "", str(callback.get("connectedPhone") or ""))
    if not own:
        return False
    listed = callback.get("mentioned")
    if isinstance(listed, list) and any(re.sub(r"\D", "", str(p)) == own for p in listed):
        return True
    return f"@{own}" in re.sub(r"(?<=@)[\s+-]", "", text)


def parse_zapi_callback(
    payload: Any, *, allow_groups: bool = False, groups: GroupMode | None = None
) -> IncomingMessage | Ignored:
    """A Z-API `ReceivedCallback` -> message; every other callback kind is ignored."""
    callback = _as_dict(payload)
    kind = callback.get("type")
    if kind != "ReceivedCallback":
        return Ignored(f"callback type {kind!r}")
    if callback.get("fromMe"):
        return Ignored("fromMe")
    if callback.get("notification"):
        return Ignored("notification")
    if callback.get("isStatusReply"):
        return Ignored("status reply")
    if callback.get("broadcast"):
        return Ignored("broadcast")
    if callback.get("isNewsletter"):
        return Ignored("newsletter")
    if callback.get("reaction"):
        return Ignored("reaction")
    message_id = callback.get("messageId")
    phone = callback.get("phone")
    if not isinstance(message_id, str) or not message_id:
        return Ignored("no messageId")
    if not isinstance(phone, str) or not phone:
        return Ignored("no phone")
    name = callback.get("senderName") or callback.get("chatName")
    text = _as_dict(callback.get("text")).get("message")
    has_text = isinstance(text, str) and bool(text.strip())
    media = next(
        (
            (media_kind, _as_dict(callback.get(media_kind)))
            for media_kind in ("image", "video", "document", "audio", "sticker")
            if callback.get(media_kind)
        ),
        None,
    )
    if not has_text:
        caption = media[1].get("caption") if media else None
        text = caption if isinstance(caption, str) else ""
    group = bool(callback.get("isGroup"))
    if group:
        mode = zapi_group_mode(allow_groups, groups)
        if mode == "off":
            return Ignored("group")
        if mode == "mention" and not _zapi_mentions(callback, str(text)):
            return Ignored("group message not addressed to the bot")
        own = re.sub(r"\D", "", str(callback.get("connectedPhone") or ""))
        if own:  # the bot's own @mention addresses it; it is not part of the question
            text = re.sub(rf"\s*@{own}\b", "", str(text)).strip()
    image_url = None
    if media is not None:
        media_kind, body = media
        mime = str(body.get("mimeType") or "")
        if media_kind == "image" or (media_kind == "document" and mime.startswith("image/")):
            url = body.get("imageUrl") or body.get("documentUrl")
            image_url = url if isinstance(url, str) and 0 < len(url) <= MAX_MEDIA_URL else None
    return IncomingMessage(
        channel="zapi",
        update_key=message_id,
        chat_id=phone,
        text=str(text),
        sender_name=name if isinstance(name, str) else None,
        unsupported=not has_text and image_url is None,
        message_id=message_id,
        group=group,
        image=image_url,
    )
