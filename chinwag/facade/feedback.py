"""Feedback on assistant messages: the facade's part (part of `chinwag.facade.Chinwag`).

Kept apart from the facade module so the feedback rules read in one place: validation here,
the write in the session actor (`chinwag.actors.feedback`), keys in the repository.
"""

from __future__ import annotations

from typing import Any

from chinwag.actors.feedback import SetFeedback, check_feedback
from chinwag.errors import InvalidInput, NotFound
from chinwag.facade.base import FacadeBase, _is_id
from chinwag.records import Feedback, Message
from chinwag.rules import bounds, checked
from chinwag.rules.bounds import DEFAULT_FEEDBACK_PAGE

MAX_FEEDBACK_PAGE = bounds.MAX_FEEDBACK_PAGE
_CURSOR_BYTES = 32  # given-at ms (8) + session id (16) + seq (8)


def _check_id(value: object, what: str) -> str:
    if not _is_id(value):
        raise NotFound(f"{what} {value} was not found")
    return value  # type: ignore[return-value]


def _decode_cursor(cursor: str) -> bytes:
    try:
        raw = bytes.fromhex(cursor)
    except ValueError:
        raw = b""
    if len(raw) != _CURSOR_BYTES:
        raise InvalidInput("cursor is not a cursor returned by this endpoint")
    return raw


class FeedbackFacade(FacadeBase):
    """Set, read and list feedback on assistant messages."""

    async def set_feedback(
        self, session_id: str, message_id: str, rating: Any, comment: Any = None
    ) -> Feedback | None:
        """Rate an assistant message of the session (`rating` None removes the rating)."""
        body = checked.feedback(rating=rating, comment=comment)
        _check_id(session_id, "session")
        _check_id(message_id, "message")
        rating, comment = body.rating, check_feedback(body.rating, body.comment)
        return await self._ask_session(session_id, SetFeedback(message_id, rating, comment))

    def feedback_for(self, session_id: str, messages: list[Message]) -> dict[str, Feedback]:
        """The feedback on these messages (a page of one session), keyed by message id."""
        _check_id(session_id, "session")
        if not messages:
            return {}
        seqs = [m.seq for m in messages]
        found = self.repo.feedback_between(session_id, min(seqs), max(seqs))
        ids = {m.id for m in messages}
        return {f.message_id: f for f in found if f.message_id in ids}

    async def afeedback_for(self, session_id: str, messages: list[Message]) -> dict[str, Feedback]:
        """`feedback_for` without blocking the Trio thread (a round trip on PostgreSQL)."""
        _check_id(session_id, "session")
        if not messages:
            return {}
        seqs = [m.seq for m in messages]
        found = await self.repo.afeedback_between(session_id, min(seqs), max(seqs))
        ids = {m.id for m in messages}
        return {f.message_id: f for f in found if f.message_id in ids}

    def feedback_by_message(self, session_id: str) -> dict[str, Feedback]:
        """The session's feedback keyed by message id (for message views and transcripts)."""
        _check_id(session_id, "session")
        return {f.message_id: f for f in self.repo.session_feedback(session_id)}

    def list_feedback(
        self,
        client_id: str,
        *,
        rating: str | None = None,
        limit: int = DEFAULT_FEEDBACK_PAGE,
        cursor: str | None = None,
    ) -> tuple[list[Feedback], str | None]:
        """A client's feedback, newest first; `nextCursor` when more may follow."""
        query = checked.feedback_list_query(rating=rating, limit=limit, cursor=cursor)
        rating = None if query.rating == "any" else query.rating
        limit, cursor = query.limit, query.cursor
        self.get_client(client_id)
        before = _decode_cursor(cursor) if cursor else None
        found: list[Feedback] = []
        while len(found) < limit:
            batch = limit - len(found) if rating is None else max(64, limit)
            rows = self.repo.client_feedback(client_id, before=before, limit=batch)
            for key, record in rows:
                before = key
                if rating is None or record.rating == rating:
                    found.append(record)
                    if len(found) == limit:
                        break
            if len(rows) < batch and len(found) < limit:
                return found, None
        more = before is not None and self._has_more(client_id, before, rating)
        return found, (before.hex() if more and before is not None else None)

    def _has_more(self, client_id: str, before: bytes, rating: str | None) -> bool:
        while True:
            rows = self.repo.client_feedback(client_id, before=before, limit=64)
            if rating is None or not rows:
                return bool(rows)
            if any(record.rating == rating for _, record in rows):
                return True
            before = rows[-1][0]
