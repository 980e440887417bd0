"""Server-sent events for a streamed prompt.

Wire format (one JSON object per event, `event:` names the kind):

    event: reasoning   data: {"text": "..."}
    event: content     data: {"text": "..."}
    event: tool        data: {"id", "name", "arguments", "result"}   (result null on the call)
    event: error       data: {"message": "...", "status": 502, "requestId": "..."}
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

from chinwag.errors import ChinwagError, ModelFailed
from chinwag.gateways.base import ContentDelta, ReasoningDelta, ToolEvent, UsageReport
from chinwag.http.public_errors import PublicErrors
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


def wants_event_stream(accept: str | None) -> bool:
    """True when the Accept header asks for SSE."""
    if not accept:
        return False
    return any(part.split(";", 1)[0].strip() == SSE_MIMETYPE for part in accept.split(","))


def encode_event(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _encoder.encode(data) + b"\n\n"


def _error_event(errors: PublicErrors, error: ChinwagError | None, status: int) -> bytes:
    message = errors.message(error) if error is not None else errors.sentence(None)
    return encode_event(
        "error", {"message": message, "status": status, "requestId": errors.request_id}
    )


def encode_item(item: StreamItem, errors: PublicErrors) -> bytes:
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
            prefix = _error_event(errors, ModelFailed(result.error or "the reply failed"), 502)
        view = turn_result_view(result, errors.language)
        return prefix + encode_event("done", {"usage": to_builtins(result.usage), "result": view})
    if isinstance(item, UsageReport):
        return b""  # the usage arrives with `done`
    return b""


async def event_stream(
    first: StreamItem, rest: AsyncIterator[StreamItem], errors: PublicErrors
) -> AsyncIterator[bytes]:
    """The response body: `first` (already awaited by the route), then the rest of the turn."""
    finished = isinstance(first, TurnFinished)
    try:
        chunk = encode_item(first, errors)
        if chunk:
            yield chunk
        if finished:
            return
        async for item in rest:
            chunk = encode_item(item, errors)
            if chunk:
                yield chunk
            if isinstance(item, TurnFinished):
                finished = True
                return
        yield _error_event(errors, None, 500)
    except ChinwagError as error:
        if error.status >= 500:
            log.warning(
                "prompt stream failed with %d %s (request id %s): %s",
                error.status,
                type(error).__name__,
                errors.request_id,
                error.message,
            )
        yield _error_event(errors, error, error.status)
    except Exception:
        log.exception("prompt stream failed after it started (request id %s)", errors.request_id)
        yield _error_event(errors, None, 500)
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
