"""The built-in offline assistant: deterministic, streams word by word, reports usage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import trio

from chinwag.gateways.base import ContentDelta, Event, Turn, UsageReport, estimate_tokens
from chinwag.records import Gateway, Usage


def message_text(content: str | list[dict[str, Any]]) -> str:
    """The text of an OpenAI message content (string or list of parts)."""
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content if p.get("type") == "text")


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
        words = reply.split(" ")
        for index, word in enumerate(words):
            if self.word_delay:
                await trio.sleep(self.word_delay)
            else:
                await trio.lowlevel.checkpoint()
            yield ContentDelta(word if index == 0 else " " + word)
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
