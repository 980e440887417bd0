"""How often and how patiently to try a failing call again: one policy for every upstream.

Model servers (chinwag.gateways.openai) and chat-app APIs (chinwag.integrations.backoff) differ
only in their numbers: waits grow exponentially up to a cap, optionally with random jitter
(half to all of each step, so sessions hitting one overloaded server do not retry in lockstep),
and a pause the server asks for is honoured up to `max_retry_after`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` counts the first try; `delay` is the pause after a failed attempt."""

    attempts: int = 3
    first_delay: float = 0.5
    max_delay: float = 8.0
    # The longest server-requested pause (Retry-After, Telegram retry_after) honoured.
    max_retry_after: float = 20.0
    jitter: bool = True

    def delay(
        self, attempt: int, retry_after: float | None = None, rand: float | None = None
    ) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.first_delay * 2 ** (attempt - 1))
        if not self.jitter:
            return ceiling
        return ceiling * (0.5 + (random.random() if rand is None else rand) / 2)
