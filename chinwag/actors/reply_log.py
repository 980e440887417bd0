"""The reply log: the events of the reply being generated, kept so a listener can (re)attach.

Why: a talk page that reloads or loses its connection mid-reply must see the reply continue
with nothing lost and nothing twice (`GET …/stream` with `Last-Event-ID`). The session actor owns
one log per running turn; every event of the turn is appended in order and numbered 1, 2, 3…;
the item that ends the turn (`TurnEnd`) is the last entry. An event id on the wire is
`<reply id>.<number>`, so an id from an older reply is recognised as such.

Followers read the shared list at their own pace (no per-follower buffer, so a slow or gone
listener never holds the turn back) and park on a Trio event until something new arrives.

Bounded: at most `max_entries` entries and `max_chars` characters of text are kept. Beyond that
the oldest entries are dropped; a follower that asks for a dropped entry gets `ReplyGap` first
(it should reload the stored conversation) and then continues from the oldest kept entry. A
follower gets at most one `ReplyGap`: falling behind again later skips to the oldest kept
entry without another notice.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import trio

DEFAULT_MAX_ENTRIES = 20_000
DEFAULT_MAX_CHARS = 4_000_000


@dataclass(frozen=True, slots=True)
class ReplyStarted:
    """First item on a turn's sink once it runs: the id that prefixes its event ids."""

    reply_id: str


@dataclass(frozen=True, slots=True)
class ReplyGap:
    """Entries a follower asked for were dropped by the bound; what follows is later text."""

    first_kept: int


def event_id(reply_id: str, number: int) -> str:
    return f"{reply_id}.{number}"


def parse_event_id(value: str | None) -> tuple[str, int] | None:
    """(reply id, number) of a `Last-Event-ID`, or None when it is absent or not one of ours."""
    if not value:
        return None
    reply_id, dot, number = value.strip().rpartition(".")
    if not dot or not reply_id or len(reply_id) > 64 or not number.isdigit() or len(number) > 12:
        return None
    return reply_id, int(number)


def _size(item: Any) -> int:
    text = getattr(item, "text", None)
    if isinstance(text, str):
        return len(text)
    arguments = getattr(item, "arguments", None)
    result = getattr(item, "result", None)
    return len(arguments or "") + len(result or "") if isinstance(arguments, str) else 0


class ReplyLog:
    """The numbered events of one reply; appended by the turn, read by any number of followers."""

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        self.reply_id = secrets.token_hex(6)
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._entries: deque[Any] = deque()
        self._first = 1  # number of the oldest kept entry
        self._chars = 0
        self._changed = trio.Event()
        self.finished = False

    @property
    def last_number(self) -> int:
        """Number of the newest entry (0 when empty)."""
        return self._first + len(self._entries) - 1

    def append(self, item: Any) -> int:
        """Add one event (or the final TurnEnd); returns its number."""
        if self.finished:
            raise RuntimeError("the reply has ended")
        self._entries.append(item)
        self._chars += _size(item)
        while len(self._entries) > 1 and (
            len(self._entries) > self.max_entries or self._chars > self.max_chars
        ):
            self._chars -= _size(self._entries.popleft())
            self._first += 1
        self._wake()
        return self.last_number

    def finish(self, end: Any) -> int:
        """Append the item that ends the reply; followers stop after it."""
        number = self.append(end)
        self.finished = True
        return number

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def start_after(self, last_event_id: str | None) -> int:
        """The number to follow from: after `last_event_id` when it names this reply, else 1."""
        parsed = parse_event_id(last_event_id)
        if parsed is None or parsed[0] != self.reply_id:
            return 1
        return parsed[1] + 1

    def is_done_for(self, start: int) -> bool:
        """True when a follower starting at `start` has nothing left to read."""
        return self.finished and start > self.last_number

    async def follow(self, start: int = 1) -> AsyncIterator[tuple[int, Any]]:
        """(number, item) from `start` on, waiting for new entries, until the final one."""
        number = max(1, start)
        gap_told = False
        while True:
            while number <= self.last_number:
                if number < self._first:  # dropped before we got here, or while we were away
                    # One notice is enough: the listener reloads the stored conversation at
                    # the end anyway, so a listener that keeps falling behind is not flooded.
                    if not gap_told:
                        gap_told = True
                        yield self._first - 1, ReplyGap(self._first)
                    number = self._first
                    continue
                item = self._entries[number - self._first]
                yield number, item
                number += 1
            if self.finished:
                return
            await self._changed.wait()


@dataclass(frozen=True, slots=True)
class GetReplyLog:
    """Ask a session actor for its running (or last finished) reply's log. Reply: log or None."""
