"""Webhook payloads shaped like the platforms' documentation examples."""

from __future__ import annotations

from typing import Any


def telegram_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    """A Telegram `Update` with a private-chat text `Message` (Bot API docs shape)."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id + 500,
            "from": {
                "id": chat_id,
                "is_bot": False,
                "first_name": "Ana",
                "last_name": "Lima",
                "username": "analima",
                "language_code": "pt-br",
            },
            "chat": {
                "id": chat_id,
                "first_name": "Ana",
                "last_name": "Lima",
                "username": "analima",
                "type": "private",
            },
            "date": 1732380000,
            "text": text,
            **(
                {"entities": [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]}
                if text.startswith("/")
                else {}
            ),
        },
    }


def zapi_callback(message_id: str, phone: str, text: str, **overrides: Any) -> dict[str, Any]:
    """A Z-API `ReceivedCallback` for a text message (Z-API webhook docs shape)."""
    payload: dict[str, Any] = {
        "isStatusReply": False,
        "chatLid": "81896604192873@lid",
        "connectedPhone": "5544999999999",
        "waitingMessage": False,
        "isEdit": False,
        "isGroup": False,
        "isNewsletter": False,
        "instanceId": "3C3B8C2B1E1F4A0B",
        "messageId": message_id,
        "phone": phone,
        "fromMe": False,
        "momment": 1732380000000,
        "status": "RECEIVED",
        "chatName": "Bruno",
        "senderPhoto": None,
        "senderName": "Bruno",
        "photo": None,
        "broadcast": False,
        "participantLid": None,
        "forwarded": False,
        "type": "ReceivedCallback",
        "fromApi": False,
        "text": {"message": text},
    }
    payload.update(overrides)
    return payload
