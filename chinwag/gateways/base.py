"""The assistant interface: one turn in, a stream of events out.

Every provider (the offline `echo`, any OpenAI-compatible server) implements `Assistant.stream`.
The session actor consumes the events, forwards them to listeners (SSE, Telegram typing) and
stores the final message. Cancelling the consuming task must close the upstream request at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from chinwag.records import Gateway, Usage


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ContentDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolEvent:
    """A research tool call; sent once when called (result None) and once with its result."""

    id: str
    name: str
    arguments: str
    result: str | None = None


@dataclass(frozen=True, slots=True)
class UsageReport:
    usage: Usage
    estimated: bool = False


Event = ReasoningDelta | ContentDelta | ToolEvent | UsageReport


@dataclass(frozen=True, slots=True)
class Turn:
    """What one model call needs.

    `context` holds the session's extra texts in order (extraContext, the text fetched from
    contextLocation for this turn, per-prompt instructions); the assistant puts the gateway's
    own instructions first. `messages` is the conversation in OpenAI Chat Completions shape,
    ending with the new user message. Session metadata never appears here.
    """

    messages: list[dict[str, Any]]
    context: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AssistantDeps:
    """Shared resources handed to every assistant: one pooled HTTP client and settings."""

    http: httpx.AsyncClient
    fetch_allow_private: bool = False


class Assistant(Protocol):
    def stream(self, turn: Turn) -> AsyncIterator[Event]:
        """Yield events for one turn. Raise `ModelFailed`/`ModelTimeout` on provider failure."""
        ...


def make_assistant(gateway: Gateway, deps: AssistantDeps) -> Assistant:
    """The assistant for a gateway's provider."""
    provider = gateway.parameters.provider
    if provider == "echo":
        from chinwag.gateways.echo import EchoAssistant

        return EchoAssistant(gateway)
    if provider == "openai":
        from chinwag.gateways.openai import OpenAIAssistant

        return OpenAIAssistant(gateway, deps)
    raise ValueError(f"unknown provider {provider!r}")


def estimate_tokens(text: str) -> int:
    """A rough token count (about 4 characters a token) for servers that report no usage."""
    return max(1, (len(text) + 3) // 4) if text else 0
