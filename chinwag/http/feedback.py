"""Feedback routes: users rate assistant messages (public), businesses list the ratings
(management). The rules live in the runtime (chinwag.facade.feedback, chinwag.actors.feedback)."""

from __future__ import annotations

from quart import Blueprint, Response

from chinwag.http import deps
from chinwag.http.auth import require_api_key, session_for_access_key
from chinwag.http.envelope import ok
from chinwag.http.openapi import doc
from chinwag.http.schemas import read_body, read_query
from chinwag.http.views import feedback_view
from chinwag.rules.inputs import FeedbackBody, FeedbackListQuery

public = Blueprint(
    "public_feedback", __name__, url_prefix="/api/v1/public/chat-clients/<access_key>"
)


@public.post("/messages/<message_id>/feedback")
@doc(
    "Rate an assistant message of this conversation: thumbs up or down, optional comment",
    body=FeedbackBody,
    auth="accessKey",
    description="`rating: null` removes the feedback. 404 when the message is not in this "
    "conversation, 400 when it is not the assistant's. A new rating replaces the previous one.",
)
async def rate_message(access_key: str, message_id: str) -> Response:
    session = await session_for_access_key(access_key)
    body = await read_body(FeedbackBody)
    record = await deps.service().set_feedback(session.id, message_id, body.rating, body.comment)
    message = "Feedback saved." if record is not None else "Feedback removed."
    return ok({"feedback": feedback_view(record)}, message=message)


management = Blueprint("management_feedback", __name__, url_prefix="/api/v1")


@management.before_request
async def authenticate() -> None:
    await require_api_key()


@management.get("/web-chat-client/<client_id>/feedback")
@doc(
    "List the feedback given on a chat client's assistant messages, newest first",
    auth="apiKey",
    query=FeedbackListQuery,
    description="data: {items: [{sessionId, messageId, rating, comment, createdAt}], nextCursor}.",
)
async def list_feedback(client_id: str) -> Response:
    query = read_query(FeedbackListQuery)
    records, next_cursor = deps.service().list_feedback(
        client_id, rating=query.rating, limit=query.limit, cursor=query.cursor
    )
    return ok({"items": [feedback_view(r) for r in records], "nextCursor": next_cursor})
