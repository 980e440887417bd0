"""Feedback on assistant messages: set or remove it through the session's actor.

Why through the actor: the actor serialises every change to a session, so a rating can never
survive the conversation it rates (a clear or a delete runs either before it, and the message
is gone, or after it, and removes the rating with the history).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chinwag.actors import limits
from chinwag.errors import Conflict, InvalidInput, NotFound
from chinwag.records import Feedback, FeedbackRating
from chinwag.rules import bounds

if TYPE_CHECKING:
    from chinwag.actors.session import SessionActor

MAX_COMMENT_CHARS = bounds.MAX_COMMENT_CHARS


@dataclass(frozen=True, slots=True)
class SetFeedback:
    """Rate an assistant message (`rating` None removes the feedback). Reply: the stored
    Feedback, or None when removed."""

    message_id: str
    rating: FeedbackRating | None
    comment: str | None = None


def check_feedback(rating: object, comment: object) -> str | None:
    """Validate the public input; returns the comment to store (blank becomes None)."""
    if rating not in ("up", "down", None):
        raise InvalidInput('rating must be "up", "down" or null')
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise InvalidInput("comment must be a string")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"comment must be at most {MAX_COMMENT_CHARS} characters")
    return comment.strip() or None


async def set_feedback(actor: SessionActor, message: SetFeedback) -> Feedback | None:
    session = actor._require()
    repo = actor.core.repo
    now = actor.core.clock.now()
    if limits.is_expired(session, now):
        raise Conflict("this session has expired and is read-only until it is purged")
    head = await repo.amessage_head(session.id, message.message_id)
    if head is None:
        raise NotFound(f"message {message.message_id} was not found in this conversation")
    if head.role != "assistant":
        raise InvalidInput("feedback can only be given on the assistant's messages")
    previous = await repo.afeedback(session.id, head.seq)
    ops = repo.delete_feedback(previous) if previous is not None else []
    record = None
    if message.rating is not None:
        record = Feedback(
            session_id=session.id,
            client_id=session.client_id,
            message_id=head.id,
            seq=head.seq,
            rating=message.rating,
            comment=message.comment,
            created_at=now,
        )
        ops += repo.put_feedback(record)
    await repo.commit(ops)
    return record
