"""Shapes the OpenAPI document describes but no request type carries: SSE events, webhook
bodies, and the `data` of the answers whose shape is stable.

The request types live in chinwag.rules; these are documentation of what the server sends
(chinwag.http.sse) or receives from Telegram / Z-API (chinwag.integrations.parse), kept beside
the document so a change of either wire format shows up in one review.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct

from chinwag.records import ToolCall, Usage


class TextEvent(Struct):
    """`event: content` / `event: reasoning`: the next piece of the reply or its reasoning."""

    text: str


class ToolEventData(Struct):
    """`event: tool`: a research tool call (result null on the call, set when it returns)."""

    id: str
    name: str
    arguments: str
    result: str | None = None


class ErrorEventData(Struct, rename="camel"):
    """`event: error`: the reply failed; `status` is what a JSON answer would have had, and
    `requestId` the id of this response (X-Request-Id), which a 5xx `message` also names."""

    message: str
    status: int
    request_id: str


class GapEventData(Struct, rename="camel"):
    """`event: gap` (GET …/stream only, at most once): events before `firstKept` were dropped
    by the bound on what a running reply keeps; reload the conversation once it is done."""

    message: str
    first_kept: int


class TurnResultData(Struct, rename="camel"):
    completion_text: str
    reasoning: str | None
    tool_calls: list[ToolCall]
    usage: Usage
    created_messages: list[dict[str, Any]]
    status: str
    error: str | None = None


class DoneEventData(Struct):
    """`event: done`: the last event of every stream: usage and the whole result (both null
    when the stream was cut before its result, after an `error` event)."""

    usage: Usage | None
    result: TurnResultData | None


class IdData(Struct):
    id: str


class NamedItem(Struct):
    id: str
    name: str


class OpenedSessionData(Struct, rename="camel"):
    session_id: str
    access_key: str
    talk_url: str


class StoppedData(Struct):
    stopped: bool


class WebhookUrlData(Struct, rename="camel"):
    webhook_url: str


class HealthData(Struct):
    status: str
    node: str
    storage: str
    nodes: int


# `data` of successful JSON answers, by endpoint (objects stay open to added fields); an endpoint
# not listed documents `data` as any value. `None` means `data` is null.
RESPONSE_DATA: dict[str, Any] = {
    "operations.healthz": HealthData,
    "management.create_gateway": IdData,
    "management.list_gateways": list[NamedItem],
    "management.delete_gateway": None,
    "management.create_client": IdData,
    "management.list_clients": list[NamedItem],
    "management.delete_client": None,
    "management.open_session": OpenedSessionData,
    "management.delete_session": None,
    "management.clear_session": None,
    "public.prompt": TurnResultData,
    "public.clear_messages": None,
    "public.stop": StoppedData,
    "webhooks.put_integration": WebhookUrlData,
    "webhooks.delete_integration": None,
}


SSE_EVENTS: dict[str, type] = {
    "reasoning": TextEvent,
    "content": TextEvent,
    "tool": ToolEventData,
    "error": ErrorEventData,
    "done": DoneEventData,
}

# GET …/stream: the prompt's events, and `gap`.
FOLLOW_EVENTS: dict[str, type] = {**SSE_EVENTS, "gap": GapEventData}

SSE_DESCRIPTION = (
    "Server-sent events; `event:` names the kind and `data:` holds one JSON object: "
    "`reasoning` and `content` ({text}), `tool` ({id, name, arguments, result}), `error` "
    "({message, status, requestId}) and `done` ({usage, result}), which ends every stream "
    "(both null after an `error` that cut the stream before its result). `x-itemSchema` "
    "(OpenAPI 3.2's itemSchema) describes each event."
)
FOLLOW_DESCRIPTION = SSE_DESCRIPTION + (
    " Each event has an `id` (`<reply id>.<n>`) to give back as `Last-Event-ID`; `gap` "
    "({message, firstKept}) comes at most once, first, when events asked for are no longer kept."
)

TELEGRAM_UPDATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A Telegram Update (https://core.telegram.org/bots/api#update). Updates "
    "other than new messages are acknowledged (200) and ignored.",
    "properties": {"update_id": {"type": "integer"}, "message": {"type": "object"}},
}

ZAPI_CALLBACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A Z-API callback. Only `ReceivedCallback` messages from people are read; "
    "status callbacks, own messages and (unless enabled) groups are acknowledged and ignored.",
    "properties": {
        "type": {"type": "string"},
        "messageId": {"type": "string"},
        "phone": {"type": "string"},
        "fromMe": {"type": "boolean"},
        "isGroup": {"type": "boolean"},
        "text": {"type": "object", "properties": {"message": {"type": "string"}}},
    },
}


def sse_media_type(
    ref_template: str, events: dict[str, type] = SSE_EVENTS
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `text/event-stream` media type object for `events` (a prompt's, or FOLLOW_EVENTS)
    and the components its events refer to."""
    kinds = sorted(set(events.values()), key=lambda kind: kind.__name__)
    schemas, components = msgspec.json.schema_components(kinds, ref_template=ref_template)
    by_kind = dict(zip(kinds, schemas, strict=True))
    items = [
        {
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": {"const": name},
                "id": {"type": "string"},
                "data": {"contentMediaType": "application/json", "contentSchema": by_kind[kind]},
            },
        }
        for name, kind in events.items()
    ]
    description = FOLLOW_DESCRIPTION if "gap" in events else SSE_DESCRIPTION
    media_type = {
        "schema": {"type": "string", "description": description},
        "x-itemSchema": {"oneOf": items},
    }
    return media_type, components
