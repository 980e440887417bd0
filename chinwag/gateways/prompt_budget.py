"""Keep a conversation inside the model's context window by leaving out its oldest turns.

Token counts are estimates (`estimate_tokens`: about 4 characters a token, plus a small
per-message overhead and a flat cost per image), good enough to stay clear of the limit
without a tokenizer for every model. The system message and the last user message are always
kept; older messages go first. A tool result is never kept without the assistant message that
asked for it (servers reject orphan `tool` messages).
"""

from __future__ import annotations

from typing import Any

from chinwag.gateways.base import estimate_tokens

# Role markers and separators the chat template adds around each message.
MESSAGE_OVERHEAD_TOKENS = 4
# A low-detail image costs 85 tokens at OpenAI; high detail more. A flat guess per image.
IMAGE_TOKENS = 255


def message_tokens(message: dict[str, Any]) -> int:
    """Estimated tokens of one Chat Completions message."""
    total = MESSAGE_OVERHEAD_TOKENS
    content = message.get("content")
    if isinstance(content, str):
        total += estimate_tokens(content)
    elif isinstance(content, list):
        for part in content:
            if part.get("type") == "text":
                total += estimate_tokens(str(part.get("text", "")))
            else:
                total += IMAGE_TOKENS
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        total += estimate_tokens(function.get("name", "") + function.get("arguments", ""))
    return total


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(message_tokens(m) for m in messages)


def prompt_budget(context_window: int, max_completion_tokens: int | None) -> int:
    """Tokens the prompt may use: the window minus the room kept for the answer."""
    reserve = max_completion_tokens or 0
    return context_window - reserve if reserve < context_window else context_window


def fit_messages(messages: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """`messages` without their oldest turns, so the estimate fits `budget` where possible.

    Never drops a leading system message or anything from the last user message on (the
    current turn, including its tool round trips). If even that does not fit, it is returned
    as is and the server decides.
    """
    if prompt_tokens(messages) <= budget:
        return messages
    head = messages[:1] if messages and messages[0].get("role") == "system" else []
    body = messages[len(head) :]
    last_user = max((i for i, m in enumerate(body) if m.get("role") == "user"), default=0)
    droppable, kept = body[:last_user], body[last_user:]
    total = prompt_tokens(head) + prompt_tokens(kept)
    sizes = [message_tokens(m) for m in droppable]
    total += sum(sizes)
    start = 0
    while start < len(droppable) and total > budget:
        total -= sizes[start]
        start += 1
        # Tool results belong to the assistant message just dropped.
        while start < len(droppable) and droppable[start].get("role") == "tool":
            total -= sizes[start]
            start += 1
    return head + droppable[start:] + kept
