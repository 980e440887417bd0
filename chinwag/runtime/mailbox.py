"""A bounded mailbox built directly on `trio.lowlevel`: one consumer, any number of producers.

A deque plus a single parked consumer task is the cheapest correct queue Trio allows: `put` is a
plain synchronous call (so `tell` never awaits), and the consumer is rescheduled directly instead
of going through a memory channel's extra bookkeeping.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import trio


class MailboxFull(Exception):
    """The actor's mailbox is at capacity: the sender should back off."""


class MailboxClosed(Exception):
    """The actor is stopping or stopped and accepts no more messages."""


class Mailbox:
    __slots__ = ("_capacity", "_closed", "_items", "_waiter")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("mailbox capacity must be at least 1")
        self._items: deque[Any] = deque()
        self._capacity = capacity
        self._waiter: trio.lowlevel.Task | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: Any) -> None:
        """Enqueue without waiting; raise when full or closed."""
        if self._closed:
            raise MailboxClosed("the actor is stopped")
        if len(self._items) >= self._capacity:
            raise MailboxFull(f"mailbox full ({self._capacity} messages)")
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            trio.lowlevel.reschedule(waiter)

    async def get(self) -> Any:
        """The next item; raises MailboxClosed once closed and drained."""
        while not self._items:
            if self._closed:
                raise MailboxClosed("the actor is stopped")
            self._waiter = trio.lowlevel.current_task()

            def abort(_: Any) -> trio.lowlevel.Abort:
                self._waiter = None
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)
        return self._items.popleft()

    def close(self) -> None:
        """Refuse new items; the consumer drains what is queued, then sees MailboxClosed."""
        self._closed = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            trio.lowlevel.reschedule(waiter)

    def drain(self) -> list[Any]:
        """Remove and return every queued item (for failing pending asks on a hard stop)."""
        items = list(self._items)
        self._items.clear()
        return items
