"""Identifiers from chat platforms, checked at the webhook before anything is stored.

Telegram chat ids and update ids are integers; WhatsApp phones (Z-API) are digits with an
optional group or domain suffix; Z-API message ids are short tokens. Anything else, or longer, is
not a message we can answer: the webhook acknowledges it (so the platform does not retry it for a
day) and logs it, and nothing reaches storage. Storage would cope anyway (storage.keys hashes
long components), but a 10 KB "chat id" is never a real chat.
"""

from __future__ import annotations

import logging
import re

from chinwag.integrations.parse import Ignored, IncomingMessage

log = logging.getLogger(__name__)

# Telegram: 64-bit integers (supergroups are -100…, 14 digits); 20 digits is the int64 maximum.
TELEGRAM_ID = re.compile(r"-?[0-9]{1,20}")
# Z-API "phone": 5511999999999, 120363019502650977-group, 5511999999999-1623281429, …@lid.
MAX_PHONE_CHARS = 64
PHONE = re.compile(rf"[0-9A-Za-z@._:+-]{{1,{MAX_PHONE_CHARS}}}")
# Z-API messageId: an uppercase hex-like token of ~20-40 characters in practice.
MAX_MESSAGE_ID_CHARS = 128
MESSAGE_ID = re.compile(rf"[0-9A-Za-z_.:-]{{1,{MAX_MESSAGE_ID_CHARS}}}")


def identifier_problem(message: IncomingMessage) -> str | None:
    """Why this message's ids cannot be served, or None when they look like the platform's."""
    if message.channel == "telegram":
        if not TELEGRAM_ID.fullmatch(message.chat_id):
            return "malformed Telegram chat id"
        if not TELEGRAM_ID.fullmatch(message.update_key.rpartition(":")[2]):
            return "malformed Telegram update_id"
        return None
    if not PHONE.fullmatch(message.chat_id):
        return f"malformed phone (at most {MAX_PHONE_CHARS} letters, digits, @._:+-)"
    if not MESSAGE_ID.fullmatch(message.update_key):
        return f"malformed messageId (at most {MAX_MESSAGE_ID_CHARS} letters, digits, _.:-)"
    return None


def screen_identifiers(parsed: IncomingMessage | Ignored) -> IncomingMessage | Ignored:
    """`parsed`, or `Ignored` (logged) when its ids are malformed or too long."""
    if isinstance(parsed, Ignored):
        return parsed
    problem = identifier_problem(parsed)
    if problem is None:
        return parsed
    log.warning(
        "%s webhook: ignored a message with a %s (chat id %d chars, message id %d chars)",
        parsed.channel,
        problem.split(" (")[0].removeprefix("malformed "),
        len(parsed.chat_id),
        len(parsed.update_key),
    )
    return Ignored(problem)
