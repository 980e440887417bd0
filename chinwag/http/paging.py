"""Message pages on the wire (API.md Revision 2 "Paging") and transcripts that stream.

`?limit=&before=` is read the same way for the public and the management message lists. A
transcript is written page by page as the client reads it, so its memory stays one page
whatever the history's length.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import msgspec
import trio

from chinwag.http.schemas import read_query
from chinwag.http.views import management_messages_view, message_markdown
from chinwag.records import Feedback, Message
from chinwag.rules.inputs import MessagePageQuery

# The query's type: read by `page_query`, documented by the OpenAPI document.
PAGE_QUERY = MessagePageQuery
PAGE_DESCRIPTION = (
    "data: at most `limit` messages, oldest first, each with its `seq` (and, on answers, "
    "`inReplyTo`: the seq of the user message answered). Without `before` the newest page; "
    "to page back, pass the `seq` of the first message received as `before`."
)

_encoder = msgspec.json.Encoder()


def page_query() -> tuple[int, int | None]:
    """(limit, before) of the request, or a 400 naming the bad parameter."""
    query = read_query(MessagePageQuery)
    return query.limit, query.before


# The feedback on one page of messages, by message id (page-b: transcripts include feedback).
FeedbackOf = Callable[[list[Message]], dict[str, Feedback]]


def _no_feedback(page: list[Message]) -> dict[str, Feedback]:
    return {}


async def json_transcript(
    head: dict[str, Any], pages: Iterable[list[Message]], feedback: FeedbackOf = _no_feedback
) -> AsyncIterator[bytes]:
    """The envelope `{"message": null, "data": {...head, "messages": [...]}}`, page by page."""
    opening = _encoder.encode({"message": None, "data": {**head, "messages": []}})
    # Everything up to the closing `]}}` of the empty list, so pages can be spliced in.
    yield opening[:-3]
    first = True
    for page in pages:
        view = management_messages_view(page, feedback(page))
        encoded = b",".join(_encoder.encode(item) for item in view)
        yield encoded if first else b"," + encoded
        first = False
        await trio.lowlevel.checkpoint()
    yield b"]}}"


async def markdown_transcript(
    header: str, pages: Iterable[list[Message]], feedback: FeedbackOf = _no_feedback
) -> AsyncIterator[bytes]:
    yield header.encode()
    for page in pages:
        rated = feedback(page)
        yield "".join(message_markdown(m, rated.get(m.id)) for m in page).encode()
        await trio.lowlevel.checkpoint()
