"""Send pacing: about one message a second per chat and thirty a second overall, queued.

Telegram answers bursts beyond those rates with 429 and a forced pause. Pacing ourselves keeps
replies flowing instead: a sender that is over the rate waits its turn rather than failing.
Each limit is a virtual-schedule token bucket (GCRA): every acquisition reserves the next free
slot, so waiters are served in arrival order, and time comes from `trio.current_time()` so
`trio.testing.MockClock` drives it in tests.
"""

from __future__ import annotations

import trio


class Pacer:
    """One token bucket: `rate` sends per second with bursts of up to `burst` sends."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.interval = 1.0 / rate
        self.tolerance = self.interval * (burst - 1)
        self._tat = -float("inf")  # theoretical arrival time of the next send

    def reserve(self, now: float) -> float:
        """Reserve the next slot; returns the Trio time at which the caller may send."""
        tat = max(self._tat, now)
        start = max(now, tat - self.tolerance)
        self._tat = tat + self.interval
        return start

    def idle_at(self, now: float) -> bool:
        """True when the bucket is full again (it can be forgotten without changing behaviour)."""
        return self._tat <= now


class SendRateLimiter:
    """Per-chat and global pacing. `await limiter.acquire(chat)` returns when a send may go."""

    def __init__(
        self,
        per_chat_rate: float = 1.0,
        global_rate: float = 30.0,
        per_chat_burst: int = 1,
        global_burst: int = 1,
    ) -> None:
        self._per_chat_rate = per_chat_rate
        self._per_chat_burst = per_chat_burst
        self._global = Pacer(global_rate, global_burst)
        self._chats: dict[str, Pacer] = {}

    async def acquire(self, chat: str) -> None:
        now = trio.current_time()
        self._forget_idle(now)
        pacer = self._chats.get(chat)
        if pacer is None:
            pacer = self._chats[chat] = Pacer(self._per_chat_rate, self._per_chat_burst)
        await trio.sleep_until(pacer.reserve(now))
        await trio.sleep_until(self._global.reserve(trio.current_time()))

    def _forget_idle(self, now: float) -> None:
        """Drop buckets of chats that have been quiet long enough to be full again."""
        if len(self._chats) > 1024:
            for chat in [c for c, p in self._chats.items() if p.idle_at(now)]:
                del self._chats[chat]
