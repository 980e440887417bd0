"""Server-sent events for a streamed prompt.

Wire format (one JSON object per event, `event:` names the kind):

    event: reasoning   data: {"text": "..."}
    event: content     data: {"text": "..."}
    event: tool        data: {"id", "name", "arguments", "result"}   (result null on the call)
    event: error       data: {"message": "...", "status": 502}
    event: done        data: {"usage": {...}, "result": {completionText, reasoning, toolCalls,
                                                        usage, createdMessages, status, error?}}

Every event of a reply carries an `id:` (`<reply id>.<n>`, see chinwag.actors.reply_log), the
same on the prompt stream and on `GET …/stream`, so a listener that lost its connection can
attach again with `Last-Event-ID` and get exactly what it missed. (An answer replayed from
storage for a retried Idempotency-Key has no running reply behind it, so its events carry no id.)
On `GET …/stream` only, `event: gap` says that entries before the oldest kept one were dropped
by the reply log's bound (reload the conversation when the reply is done).

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
from chinwag.service import ReplyGap, ReplyStarted, StreamItem, TurnFinished, event_id

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


def encode_event(event: str, data: Any, ident: str | None = None) -> bytes:
    head = b"id: " + ident.encode() + b"\n" if ident else b""
    return head + b"event: " + event.encode() + b"\ndata: " + _encoder.encode(data) + b"\n\n"


def encode_item(item: StreamItem | ChinwagError | ReplyGap, ident: str | None = None) -> bytes:
    """The SSE bytes of one stream item (empty for items the wire does not carry)."""
    if isinstance(item, ContentDelta):
        return encode_event("content", {"text": item.text}, ident)
    if isinstance(item, ReasoningDelta):
        return encode_event("reasoning", {"text": item.text}, ident)
    if isinstance(item, ToolEvent):
        return encode_event(
            "tool",
            {"id": item.id, "name": item.name, "arguments": item.arguments, "result": item.result},
            ident,
        )
    if isinstance(item, TurnFinished):
        result = item.result
        prefix = b""
        if result.status == "error":
            prefix = encode_event(
                "error", {"message": result.error or GENERIC_STREAM_ERROR, "status": 502}, ident
            )
        return prefix + encode_event(
            "done", {"usage": to_builtins(result.usage), "result": turn_result_view(result)}, ident
        )
    if isinstance(item, ChinwagError):
        return encode_event("error", {"message": item.message, "status": item.status}, ident)
    if isinstance(item, ReplyGap):
        message = "The start of this reply is no longer kept; reload the conversation."
        return encode_event("gap", {"message": message, "firstKept": item.first_kept}, ident)
    if isinstance(item, UsageReport):
        return b""  # the usage arrives with `done`
    return b""


async def numbered(
    first: StreamItem, rest: AsyncIterator[StreamItem], started: ReplyStarted | None = None
) -> AsyncIterator[Any]:
    """A prompt stream as (event id, item) pairs: after `ReplyStarted`, the n-th item has the
    id the reply log gave its copy (both count the same items in the same order)."""
    reply_id: str | None = None
    number = 0

    def pair(item: StreamItem) -> tuple[str | None, StreamItem]:
        nonlocal reply_id, number
        if isinstance(item, ReplyStarted):
            reply_id, number = item.reply_id, 0
            return None, item
        if reply_id is None:
            return None, item
        number += 1
        return event_id(reply_id, number), item

    if started is not None:
        pair(started)
    try:
        yield pair(first)
        async for item in rest:
            yield pair(item)
    except ChinwagError as error:  # the turn ended with it: the reply's last entry
        yield pair(error)  # type: ignore[arg-type]


async def event_stream(
    first: StreamItem, rest: AsyncIterator[StreamItem], started: ReplyStarted | None = None
) -> AsyncIterator[bytes]:
    """The response body: `first` (already awaited by the route, after `started` when the
    reply runs), then the rest of the turn."""
    async for chunk in numbered_event_stream(numbered(first, rest, started), close=rest):
        yield chunk


async def numbered_event_stream(
    pairs: AsyncIterator[Any], *, close: AsyncIterator[Any] | None = None
) -> AsyncIterator[bytes]:
    """SSE bytes of (event id, item) pairs, up to `done` or an error; closes `close` at the end."""
    try:
        async for ident, item in pairs:
            chunk = encode_item(item, ident)
            if chunk:
                yield chunk
            if isinstance(item, TurnFinished | ChinwagError):
                return
        yield encode_event("error", {"message": GENERIC_STREAM_ERROR, "status": 500})
    except ChinwagError as error:
        yield encode_event("error", {"message": error.message, "status": error.status})
    except Exception:
        log.exception("prompt stream failed after it started")
        yield encode_event("error", {"message": GENERIC_STREAM_ERROR, "status": 500})
    finally:
        await close_stream(pairs)
        if close is not None:
            await close_stream(close)


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
