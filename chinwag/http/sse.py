"""Server-sent events for a streamed prompt.

Wire format (one JSON object per event, `event:` names the kind):

    event: reasoning   data: {"text": "..."}
    event: content     data: {"text": "..."}
    event: tool        data: {"id", "name", "arguments", "result"}   (result null on the call)
    event: error       data: {"message": "...", "status": 502}
    event: done        data: {"usage": {...}, "result": {completionText, reasoning, toolCalls,
                                                        usage, createdMessages, status, error?}}

`done` ends every stream that produced a result (also a stopped or failed one: `result.status`
says which, and a failed turn is preceded by an `error` event). A stream cut by a failure with no
result ends with `error` alone. Errors raised before the first item never reach this module:
the route awaits the first item itself, so they become ordinary JSON envelope responses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import trio

from chinwag.errors import ChinwagError
from chinwag.gateways.base import ContentDelta, ReasoningDelta, ToolEvent, UsageReport
from chinwag.http.views import turn_result_view
from chinwag.records import to_builtins
from chinwag.service import StreamItem, TurnFinished

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}
SSE_MIMETYPE = "text/event-stream"
GENERIC_STREAM_ERROR = "The reply failed unexpectedly; what was generated so far is kept."


def wants_event_stream(accept: str | None) -> bool:
    """True when the Accept header asks for SSE."""
    if not accept:
        return False
    return any(part.split(";", 1)[0].strip() == SSE_MIMETYPE for part in accept.split(","))


def encode_event(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _encoder.encode(data) + b"\n\n"


def encode_item(item: StreamItem) -> bytes:
    """The SSE bytes of one stream item (empty for items the wire does not carry)."""
    if isinstance(item, ContentDelta):
        return encode_event("content", {"text": item.text})
    if isinstance(item, ReasoningDelta):
        return encode_event("reasoning", {"text": item.text})
    if isinstance(item, ToolEvent):
        return encode_event(
            "tool",
            {"id": item.id, "name": item.name, "arguments": item.arguments, "result": item.result},
        )
    if isinstance(item, TurnFinished):
        result = item.result
        prefix = b""
        if result.status == "error":
            prefix = encode_event(
                "error", {"message": result.error or GENERIC_STREAM_ERROR, "status": 502}
            )
        return prefix + encode_event(
            "done", {"usage": to_builtins(result.usage), "result": turn_result_view(result)}
        )
    if isinstance(item, UsageReport):
        return b""  # the usage arrives with `done`
    return b""


async def event_stream(first: StreamItem, rest: AsyncIterator[StreamItem]) -> AsyncIterator[bytes]:
    """The response body: `first` (already awaited by the route), then the rest of the turn."""
    finished = isinstance(first, TurnFinished)
    try:
        chunk = encode_item(first)
        if chunk:
            yield chunk
        if finished:
            return
        async for item in rest:
            chunk = encode_item(item)
            if chunk:
                yield chunk
            if isinstance(item, TurnFinished):
                finished = True
                return
        yield encode_event("error", {"message": GENERIC_STREAM_ERROR, "status": 500})
    except ChinwagError as error:
        yield encode_event("error", {"message": error.message, "status": error.status})
    except Exception:
        log.exception("prompt stream failed after it started")
        yield encode_event("error", {"message": GENERIC_STREAM_ERROR, "status": 500})
    finally:
        await close_stream(rest)


async def close_stream(iterator: AsyncIterator[StreamItem]) -> None:
    """Close the runtime's stream even when the client went away (we are then cancelled)."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is None:
        return
    with trio.move_on_after(5) as scope:
        scope.shield = True
        try:
            await aclose()
        except Exception:
            log.exception("closing a prompt stream failed")
