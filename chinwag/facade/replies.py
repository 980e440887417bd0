"""Resumable replies: the facade's part (part of `chinwag.facade.Chinwag`).

`follow_reply` attaches to the reply a session is generating (kept in the session actor's
`ReplyLog`) and yields its events with their ids, from the start or after a `Last-Event-ID`,
ending with the turn's result (or the error that ended it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from chinwag.actors.reply_log import GetReplyLog, ReplyLog, event_id, parse_event_id
from chinwag.actors.session import TurnEnd
from chinwag.errors import ChinwagError
from chinwag.facade.base import FacadeBase, _check_session_id

Numbered = tuple[str, Any]


class RepliesFacade(FacadeBase):
    """Attach to a running reply (GET …/stream)."""

    async def reply_log(self, session_id: str) -> ReplyLog | None:
        return await self._ask_session(_check_session_id(session_id), GetReplyLog())

    async def follow_reply(
        self, session_id: str, last_event_id: str | None = None
    ) -> AsyncIterator[Numbered] | None:
        """The running reply's (id, item) pairs after `last_event_id`, or None when there is
        nothing to attach to (no reply running, or the named reply already fully delivered).

        Items are the prompt stream's: events, then `TurnFinished`, or a `ChinwagError` last.
        A finished reply is replayed only to a listener whose `Last-Event-ID` names it (it lost
        its connection just before the end); anyone else reads the stored conversation.
        """
        log = await self.reply_log(session_id)
        if log is None:
            return None
        start = log.start_after(last_event_id)
        if log.finished:
            named = parse_event_id(last_event_id)
            if named is None or named[0] != log.reply_id or log.is_done_for(start):
                return None
        return _numbered(log, start)


async def _numbered(log: ReplyLog, start: int) -> AsyncIterator[Numbered]:
    from chinwag.facade.turns import _turn_finished  # the facade's TurnEnd -> TurnFinished

    async for number, item in log.follow(start):
        ident = event_id(log.reply_id, number)
        if isinstance(item, TurnEnd):
            try:
                yield ident, _turn_finished(item)
            except ChinwagError as error:
                yield ident, error
            return
        yield ident, item
