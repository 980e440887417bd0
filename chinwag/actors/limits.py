"""The session rules of API.md as pure functions: expiry bounds, renewal, and the client limits.

Kept free of actors and I/O so every boundary can be tested directly.
"""

from __future__ import annotations

from typing import Any

from chinwag.errors import LimitReached, RateLimited, SessionExpired, TooLarge
from chinwag.records import LimitingParameters, Session

RENEWAL_WINDOW = 20 * 60
HOUR = 3600.0


def is_expired(session: Session, now: float) -> bool:
    return now >= session.expires_at


def ensure_active(session: Session, now: float) -> None:
    if is_expired(session, now):
        raise SessionExpired("this chat session has expired; ask for a new link")


def renewed_expiry(expires_at: float, now: float) -> float:
    """A user message with less than 20 minutes left extends the session to now + 20 minutes."""
    if expires_at - now < RENEWAL_WINDOW:
        return now + RENEWAL_WINDOW
    return expires_at


def prompts_in_last_hour(session: Session, now: float) -> list[float]:
    return [t for t in session.recent_prompts if now - t < HOUR]


def record_prompt(session: Session, limits: LimitingParameters, now: float) -> list[float]:
    """`recent_prompts` after a prompt at `now`: the sliding window of messagesPerHour.

    Nothing is kept while messagesPerHour is unset, and never more than its value (the window
    only needs the newest N to know when the next slot opens), so the record cannot grow.
    """
    per_hour = limits.messages_per_hour
    if per_hour is None:
        return []
    recent = prompts_in_last_hour(session, now)
    recent.append(now)
    return recent[-per_hour:]


def check_history_size(session: Session, new_bytes: int, max_history_bytes: int | None) -> None:
    """403 when storing `new_bytes` more would pass the session's history size bound; 413
    when the new messages alone pass it (clearing the conversation could not help)."""
    if max_history_bytes is not None and new_bytes > max_history_bytes:
        raise TooLarge(
            f"this message is too large to keep: it takes {new_bytes} bytes once stored and a "
            f"conversation's history may take at most {max_history_bytes} "
            "(CHINWAG_MAX_HISTORY_BYTES); send a shorter message"
        )
    if max_history_bytes is not None and session.history_bytes + new_bytes > max_history_bytes:
        raise LimitReached(
            f"this conversation is full: its history takes {session.history_bytes} bytes and "
            f"may take at most {max_history_bytes} (CHINWAG_MAX_HISTORY_BYTES); "
            "clear the conversation to continue"
        )


def check_turn(
    session: Session,
    limits: LimitingParameters,
    now: float,
    *,
    input_tokens: int,
    new_messages: int,
    new_bytes: int = 0,
    max_history_bytes: int | None = None,
) -> None:
    """Raise the error that blocks this turn, if any (403 limits, 429 hourly rate).

    `new_bytes` is what the turn's user messages add to the stored history (a lower bound
    when checked before they are built; the exact size is checked again when they are).
    """
    ensure_active(session, now)
    if (
        limits.max_messages is not None
        and session.message_count + new_messages + 1 > limits.max_messages
    ):
        raise LimitReached(
            f"this conversation holds {session.message_count} messages and has no room for "
            f"another message and its reply within its limit of {limits.max_messages} "
            "(maxMessages); clear the conversation to continue"
        )
    if (
        limits.max_conversation_tokens is not None
        and session.conversation_usage.total_tokens >= limits.max_conversation_tokens
    ):
        raise LimitReached(
            f"this conversation used its {limits.max_conversation_tokens} tokens "
            "(maxConversationTokens); clear the conversation to continue"
        )
    check_history_size(session, new_bytes, max_history_bytes)
    if limits.user_input_max_tokens is not None and input_tokens > limits.user_input_max_tokens:
        raise LimitReached(
            f"the message is about {input_tokens} tokens; this chat accepts at most "
            f"{limits.user_input_max_tokens} tokens per message (userInputMaxTokens)"
        )
    if limits.messages_per_hour is not None:
        recent = prompts_in_last_hour(session, now)
        if len(recent) >= limits.messages_per_hour:
            retry_after = max(1.0, min(recent) + HOUR - now)
            raise RateLimited(
                f"this session may send {limits.messages_per_hour} messages per hour "
                "(messagesPerHour); try again later",
                retry_after=retry_after,
            )


def limit_state(
    session: Session,
    limits: LimitingParameters,
    now: float,
    max_history_bytes: int | None = None,
) -> dict[str, Any]:
    """What the talk page and /usage show about the limits (camelCase, JSON-ready)."""
    recent = prompts_in_last_hour(session, now)
    blocked_by: str | None = None
    if limits.max_messages is not None and session.message_count + 2 > limits.max_messages:
        blocked_by = "maxMessages"
    elif max_history_bytes is not None and session.history_bytes >= max_history_bytes:
        blocked_by = "maxHistoryBytes"
    elif (
        limits.max_conversation_tokens is not None
        and session.conversation_usage.total_tokens >= limits.max_conversation_tokens
    ):
        blocked_by = "maxConversationTokens"
    elif limits.messages_per_hour is not None and len(recent) >= limits.messages_per_hour:
        blocked_by = "messagesPerHour"
    return {
        "maxMessages": limits.max_messages,
        "messageCount": session.message_count,
        "maxConversationTokens": limits.max_conversation_tokens,
        "conversationTokens": session.conversation_usage.total_tokens,
        "userInputMaxTokens": limits.user_input_max_tokens,
        "messagesPerHour": limits.messages_per_hour,
        "messagesThisHour": len(recent),
        "blocked": blocked_by is not None,
        "blockedBy": blocked_by,
    }
