"""The built-in offline assistant: deterministic, streams word by word, reports usage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import trio

from chinwag.gateways.base import ContentDelta, Event, Turn, UsageReport, estimate_tokens
from chinwag.records import Gateway, Usage


def message_text(content: str | list[dict[str, Any]]) -> str:
    """The text of an OpenAI message content (string or list of parts)."""
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content if p.get("type") == "text")


# Without a delay, the first WORD_BY_WORD words stream one by one and the rest in pieces of
# PIECE_WORDS words: the same text, at a cost linear in its length with a small constant
# (a 1M-word prompt would otherwise mean a million events through the session and SSE).
WORD_BY_WORD = 64
PIECE_WORDS = 256


def _pieces(reply: str, *, by_word: bool) -> Iterator[str]:
    """`reply` in streaming pieces: words (each but the first with its leading space)."""
    words = reply.split(" ")
    head = words if by_word else words[:WORD_BY_WORD]
    for index, word in enumerate(head):
        yield word if index == 0 else " " + word
    for start in range(len(head), len(words), PIECE_WORDS):
        yield " " + " ".join(words[start : start + PIECE_WORDS])


class EchoAssistant:
    """Replies `You said: <last user message>` one word at a time.

    `word_delay` lets tests and the talk page watch a reply stream (and be stopped); it is zero
    by default so benchmarks measure chinwag, not a sleep.
    """

    word_delay: float = 0.0

    def __init__(self, gateway: Gateway | None = None, word_delay: float | None = None) -> None:
        self.gateway = gateway
        if word_delay is not None:
            self.word_delay = word_delay
        elif gateway is not None:
            self.word_delay = gateway.parameters.stream_delay_seconds

    async def stream(self, turn: Turn) -> AsyncIterator[Event]:
        last = turn.messages[-1] if turn.messages else {"content": ""}
        said = message_text(last.get("content", ""))
        reply = f"You said: {said}"
        for piece in _pieces(reply, by_word=bool(self.word_delay)):
            if self.word_delay:
                await trio.sleep(self.word_delay)
            else:
                await trio.lowlevel.checkpoint()
            yield ContentDelta(piece)
        prompt_text = "\n".join(turn.context) + "".join(
            message_text(m.get("content", "")) for m in turn.messages
        )
        input_tokens = estimate_tokens(prompt_text)
        output_tokens = estimate_tokens(reply)
        yield UsageReport(
            Usage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                total_tokens=input_tokens + output_tokens,
            )
        )
