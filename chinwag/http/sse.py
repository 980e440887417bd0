"""Server-sent events for a streamed prompt.

Wire format (one JSON object per event, `event:` names the kind):

    event: reasoning   data: {"text": "..."}
    event: content     data: {"text": "..."}
    event: tool        data: {"id", "name", "arguments", "result"}   (result null on the call)
    event: error       data: {"message": "...", "status": 502, "requestId": "..."}
    event: done        data: {"usage": {...}, "result": {completionText, reasoning, toolCalls,
                                                        usage, createdMessages, status, error?}}

Every event of a reply carries an `id:` (`<reply id>.<n>`, see chinwag.actors.reply_log), the
same on the prompt stream and on `GET …/stream`, so a listener that lost its connection can
attach again with `Last-Event-ID` and get exactly what it missed. (An answer replayed from
storage for a retried Idempotency-Key has no running reply behind it, so its events carry no id.)
On `GET …/stream` only, `event: gap` says that entries before the oldest kept one were dropped
by the reply log's bound (reload the conversation when the reply is done).

`done` ends every stream (also a stopped or failed one: `result.status` says which, and a failed
turn is preceded by an `error` event). A stream cut by a failure with no result on this stream
(the node lost the session, shutdown, storage trouble) ends with `error` then
`done {"usage": null, "result": null}`: the turn's outcome is not known here, so a client that
sees a null result sends the prompt again with the same Idempotency-Key (or reloads the
conversation). Errors raised before the first item never reach this module: the route awaits
the first item itself, so they become ordinary JSON envelope responses.
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
from chinwag.service import ReplyGap, ReplyStarted, StreamItem, TurnFinished, event_id

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


def encode_event(event: str, data: Any, ident: str | None = None) -> bytes:
    head = b"id: " + ident.encode() + b"\n" if ident else b""
    return head + b"event: " + event.encode() + b"\ndata: " + _encoder.encode(data) + b"\n\n"


def _error_event(
    errors: PublicErrors, error: ChinwagError | None, status: int, ident: str | None = None
) -> bytes:
    message = errors.message(error) if error is not None else errors.sentence(None)
    return encode_event(
        "error", {"message": message, "status": status, "requestId": errors.request_id}, ident
    )


def encode_item(
    item: StreamItem | ChinwagError,
    errors: PublicErrors,
    ident: str | None = None,
    *,
    show_tool_calls: bool = False,
) -> bytes:
    """The SSE bytes of one stream item (empty for items the wire does not carry; `tool`
    events only when the client shows tool calls)."""
    if isinstance(item, ContentDelta):
        return encode_event("content", {"text": item.text}, ident)
    if isinstance(item, ReasoningDelta):
        return encode_event("reasoning", {"text": item.text}, ident)
    if isinstance(item, ToolEvent):
        if not show_tool_calls:
            return b""
        return encode_event(
            "tool",
            {"id": item.id, "name": item.name, "arguments": item.arguments, "result": item.result},
            ident,
        )
    if isinstance(item, TurnFinished):
        result = item.result
        prefix = b""
        if result.status == "error":
            failed = item.error or ModelFailed(result.error or "the reply failed")
            _log_failure(errors, failed)
            prefix = _error_event(errors, failed, failed.status, ident)
        view = turn_result_view(result, errors.language, show_tool_calls=show_tool_calls)
        done = {"usage": to_builtins(result.usage), "result": view}
        return prefix + encode_event("done", done, ident)
    if isinstance(item, ChinwagError):  # the turn ended with it, no result here
        _log_failure(errors, item)
        return _error_event(errors, item, item.status, ident) + cut_done(ident)
    if isinstance(item, ReplyGap):
        message = "The start of this reply is no longer kept; reload the conversation."
        return encode_event("gap", {"message": message, "firstKept": item.first_kept}, ident)
    if isinstance(item, UsageReport):
        return b""  # the usage arrives with `done`
    return b""


def cut_done(ident: str | None = None) -> bytes:
    """The `done` that ends a stream cut before its result: nothing known to report."""
    return encode_event("done", {"usage": None, "result": None}, ident)


def _log_failure(errors: PublicErrors, error: ChinwagError) -> None:
    if error.status >= 500:
        log.warning(
            "reply stream failed with %d %s (request id %s): %s",
            error.status,
            type(error).__name__,
            errors.request_id,
            error.message,
        )


async def numbered(
    first: StreamItem, rest: AsyncIterator[StreamItem], started: ReplyStarted | None = None
) -> AsyncIterator[Any]:
    """A prompt stream as (event id, item) pairs: after `ReplyStarted`, the n-th item has the
    id the reply log gave its copy (both count the same items in the same order)."""
    reply_id: str | None = None
    number = 0

    def pair(item: Any) -> tuple[str | None, Any]:
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
        yield pair(error)


async def event_stream(
    first: StreamItem,
    rest: AsyncIterator[StreamItem],
    errors: PublicErrors,
    started: ReplyStarted | None = None,
    *,
    show_tool_calls: bool = False,
) -> AsyncIterator[bytes]:
    """The response body: `first` (already awaited by the route, after `started` when the
    reply runs), then the rest of the turn."""
    pairs = numbered(first, rest, started)
    async for chunk in numbered_event_stream(
        pairs, errors, close=rest, show_tool_calls=show_tool_calls
    ):
        yield chunk


async def numbered_event_stream(
    pairs: AsyncIterator[Any],
    errors: PublicErrors,
    *,
    close: AsyncIterator[Any] | None = None,
    show_tool_calls: bool = False,
) -> AsyncIterator[bytes]:
    """SSE bytes of (event id, item) pairs, up to `done` or an error; closes `close` at the end."""
    try:
        async for ident, item in pairs:
            chunk = encode_item(item, errors, ident, show_tool_calls=show_tool_calls)
            if chunk:
                yield chunk
            if isinstance(item, TurnFinished | ChinwagError):
                return
        yield _error_event(errors, None, 500) + cut_done()
    except ChinwagError as error:
        _log_failure(errors, error)
        yield _error_event(errors, error, error.status) + cut_done()
    except Exception:
        log.exception("prompt stream failed after it started (request id %s)", errors.request_id)
        yield _error_event(errors, None, 500) + cut_done()
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
