"""What a turn sends to the model: the newest stored messages that fit its context budget.

A turn must cost the same at message 10 and at message 10,000, so the history is read from the
newest message backwards and the reading stops once the model's context budget is spent; the
rest of the conversation stays on disk. The budget is the gateway's `contextWindowTokens` (minus
the room kept for the answer and the turn's context), else `default_context_window_tokens` of
the settings. The echo assistant answers only the last message, so it is sent only the turn.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Iterator
from contextlib import aclosing
from typing import Any

from chinwag.config import Settings
from chinwag.gateways.prompt_budget import message_tokens, prompt_budget
from chinwag.records import Gateway, Message


def history_budget(gateway: Gateway, settings: Settings, context_tokens: int) -> int:
    """Tokens of stored history a turn may send, after its context (instructions, extra context)."""
    params = gateway.parameters
    window = params.context_window_tokens
    if not window:
        if params.provider == "echo":
            return 0
        window = settings.default_context_window_tokens
    return max(0, prompt_budget(window, params.max_completion_tokens) - context_tokens)


def is_model_visible(message: Message) -> bool:
    """Error markers without text are for people (the page shows them), never for the model."""
    return not (message.role == "assistant" and message.status == "error" and not message.content)


class _Picker:
    """Takes messages newest first until the budget is spent (see `model_history`)."""

    def __init__(self, budget: int, extra: list[dict[str, Any]] | None) -> None:
        self.budget = budget
        self.picked: list[dict[str, Any]] = list(reversed(extra)) if extra else []
        self.total = sum(message_tokens(m) for m in self.picked)
        self.in_turn = not self.picked

    def take(self, message: Message) -> bool:
        """Add `message` if it fits; False once the budget is spent (read no further)."""
        if not is_model_visible(message):
            self.in_turn = False
            return True
        entry = {"role": message.role, "content": message.content}
        cost = message_tokens(entry)
        if self.in_turn and message.role == "user":
            self.picked.append(entry)
            self.total += cost
            return True
        self.in_turn = False
        if self.total + cost > self.budget:
            return False
        self.picked.append(entry)
        self.total += cost
        return True

    def result(self) -> list[dict[str, Any]]:
        return self.picked[::-1]


def model_history(
    newest_first: Iterable[Message],
    budget: int,
    *,
    extra: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The messages to send, oldest first, in Chat Completions shape.

    `newest_first` is consumed lazily and only as far as needed. The turn itself (the user
    messages at the newest end, or the uncommitted prompt `extra`) is always sent, even over
    budget, so the model answers what was asked; older messages follow while they fit.
    """
    picker = _Picker(budget, extra)
    for message in newest_first:
        if not picker.take(message):
            break
    return picker.result()


async def amodel_history(
    newest_first: AsyncGenerator[Iterator[Message], None],
    budget: int,
    *,
    extra: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """`model_history` over batches read asynchronously (Repository.amessages_backward): the
    reading stops at the first batch that spends the budget."""
    picker = _Picker(budget, extra)
    async with aclosing(newest_first) as batches:
        async for batch in batches:
            if not all(picker.take(message) for message in batch):
                break
    return picker.result()
