"""Webhook payloads in, one internal shape out: `IncomingMessage`, or `Ignored` with a reason.

Telegram sends `Update` objects; Z-API sends callbacks of several kinds to one URL. Only a text
written by a person in a chat we serve becomes a message; our own echoes, delivery statuses,
notifications, broadcasts and (unless enabled) groups are acknowledged and dropped, so the
platforms do not retry them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec

IntegrationChannel = Literal["telegram", "zapi"]


class IncomingMessage(msgspec.Struct, kw_only=True):
    """A user message from a chat app, as the inbox stores it."""

    channel: IntegrationChannel
    # Deduplication key given by the platform: Telegram update_id, Z-API messageId.
    update_key: str
    # The conversation: Telegram chat id, WhatsApp phone (or group id).
    chat_id: str
    text: str
    sender_name: str | None = None
    # True for media the assistant cannot read (photo, sticker, voice…): the user is told so.
    unsupported: bool = False


@dataclass(frozen=True, slots=True)
class Ignored:
    """A payload acknowledged and dropped; `reason` goes to logs and metrics."""

    reason: str


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_telegram_update(payload: Any) -> IncomingMessage | Ignored:
    """A Telegram `Update` -> message. Edited messages, channel posts and the rest are ignored."""
    update = _as_dict(payload)
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return Ignored("no update_id")
    message = _as_dict(update.get("message"))
    if not message:
        return Ignored("not a new message")
    chat = _as_dict(message.get("chat"))
    chat_id = chat.get("id")
    if not isinstance(chat_id, int | str) or isinstance(chat_id, bool):
        return Ignored("no chat id")
    sender = _as_dict(message.get("from"))
    if sender.get("is_bot"):
        return Ignored("sent by a bot")
    name = " ".join(
        part for part in (sender.get("first_name"), sender.get("last_name")) if part
    ).strip()
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        caption = message.get("caption")
        return IncomingMessage(
            channel="telegram",
            update_key=str(update_id),
            chat_id=str(chat_id),
            text=caption if isinstance(caption, str) else "",
            sender_name=name or None,
            unsupported=True,
        )
    return IncomingMessage(
        channel="telegram",
        update_key=str(update_id),
        chat_id=str(chat_id),
        text=text,
        sender_name=name or None,
    )


def parse_zapi_callback(payload: Any, *, allow_groups: bool = False) -> IncomingMessage | Ignored:
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
    if callback.get("isGroup") and not allow_groups:
        return Ignored("group")
    message_id = callback.get("messageId")
    phone = callback.get("phone")
    if not isinstance(message_id, str) or not message_id:
        return Ignored("no messageId")
    if not isinstance(phone, str) or not phone:
        return Ignored("no phone")
    name = callback.get("senderName") or callback.get("chatName")
    text = _as_dict(callback.get("text")).get("message")
    if not isinstance(text, str) or not text.strip():
        caption = next(
            (
                _as_dict(callback.get(media)).get("caption")
                for media in ("image", "video", "document")
                if callback.get(media)
            ),
            None,
        )
        return IncomingMessage(
            channel="zapi",
            update_key=message_id,
            chat_id=phone,
            text=caption if isinstance(caption, str) else "",
            sender_name=name if isinstance(name, str) else None,
            unsupported=True,
        )
    return IncomingMessage(
        channel="zapi",
        update_key=message_id,
        chat_id=phone,
        text=text,
        sender_name=name if isinstance(name, str) else None,
    )
