from typing import Any

from chinwag.integrations.commands import parse_command
from chinwag.integrations.parse import (
    Ignored,
    IncomingMessage,
    parse_telegram_update,
    parse_zapi_callback,
)

from .payloads import telegram_update, zapi_callback


def test_telegram_text_message() -> None:
    parsed = parse_telegram_update(telegram_update(10, 4242, "Hi there"))
    assert parsed == IncomingMessage(
        channel="telegram",
        update_key="10",
        chat_id="4242",
        text="Hi there",
        sender_name="Ana Lima",
        message_id="510",
    )


def test_telegram_edited_message_and_garbage_are_ignored() -> None:
    edited: dict[str, Any] = telegram_update(11, 1, "x")
    edited["edited_message"] = edited.pop("message")
    assert isinstance(parse_telegram_update(edited), Ignored)
    assert isinstance(parse_telegram_update({"message": {}}), Ignored)
    assert isinstance(parse_telegram_update([1, 2]), Ignored)


def test_telegram_sticker_is_unsupported() -> None:
    update = telegram_update(12, 1, "x")
    del update["message"]["text"]
    update["message"]["sticker"] = {"file_id": "a", "width": 1, "height": 1}
    parsed = parse_telegram_update(update)
    assert isinstance(parsed, IncomingMessage) and parsed.unsupported


def test_zapi_text_message() -> None:
    parsed = parse_zapi_callback(zapi_callback("MSG1", "5511999999999", "Olá"))
    assert isinstance(parsed, IncomingMessage)
    assert (parsed.update_key, parsed.chat_id, parsed.text) == ("MSG1", "5511999999999", "Olá")


def test_zapi_ignores_own_status_notification_group_broadcast() -> None:
    assert parse_zapi_callback(zapi_callback("a", "1", "x", fromMe=True)) == Ignored("fromMe")
    status = {"type": "MessageStatusCallback", "status": "READ", "ids": ["a"], "phone": "1"}
    assert isinstance(parse_zapi_callback(status), Ignored)
    notification = zapi_callback("b", "1", "", notification="GROUP_PARTICIPANT_ADD")
    assert parse_zapi_callback(notification) == Ignored("notification")
    assert parse_zapi_callback(zapi_callback("c", "1", "x", isGroup=True)) == Ignored("group")
    grouped = parse_zapi_callback(zapi_callback("c", "1", "x", isGroup=True), allow_groups=True)
    assert isinstance(grouped, IncomingMessage)
    assert parse_zapi_callback(zapi_callback("d", "1", "x", broadcast=True)) == Ignored("broadcast")


def test_commands() -> None:
    assert parse_command("/reset") == "reset"
    assert parse_command(" /usage@MyBot now") == "usage"
    assert parse_command("/START") == "start"
    assert parse_command("/help") is None
    assert parse_command("reset") is None
