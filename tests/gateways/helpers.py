"""Small builders shared by the gateway tests."""

from __future__ import annotations

from typing import Any

import httpx

from chinwag.gateways.base import (
    AssistantDeps,
    ContentDelta,
    Event,
    ReasoningDelta,
    ToolEvent,
    Turn,
    UsageReport,
)
from chinwag.gateways.openai import OpenAIAssistant
from chinwag.records import Gateway, GatewayParameters


def make_gateway(base_url: str, **parameters: Any) -> Gateway:
    return Gateway(
        id="gw-test",
        name="test gateway",
        parameters=GatewayParameters(provider="openai", base_url=base_url, **parameters),
        created_at=0.0,
        updated_at=0.0,
    )


def user_turn(text: str, *, history: list[dict[str, Any]] | None = None, context=()) -> Turn:
    return Turn(
        messages=[*(history or []), {"role": "user", "content": text}], context=list(context)
    )


async def collect(assistant: OpenAIAssistant, turn: Turn) -> list[Event]:
    return [event async for event in assistant.stream(turn)]


def content_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, ContentDelta))


def reasoning_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


def tools_of(events: list[Event]) -> list[ToolEvent]:
    return [e for e in events if isinstance(e, ToolEvent)]


def usage_of(events: list[Event]) -> UsageReport:
    reports = [e for e in events if isinstance(e, UsageReport)]
    assert len(reports) == 1, reports
    assert events[-1] is reports[0], "the usage report comes last"
    return reports[0]


def assistant_for(base_url: str, http: httpx.AsyncClient, **parameters: Any) -> OpenAIAssistant:
    deps = AssistantDeps(http=http, fetch_allow_private=parameters.pop("allow_private", False))
    return OpenAIAssistant(make_gateway(base_url, **parameters), deps)
