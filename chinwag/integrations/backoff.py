"""Retry timing for calls to chat-app APIs: exponential backoff with a cap, on Trio's clock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a failing call.

    `attempts` counts the first try. The defaults ride out a platform hiccup of a few minutes
    (1+2+4+…+60 s) so an acknowledged message is not dropped by a short outage.
    """

    attempts: int = 10
    first_delay: float = 1.0
    max_delay: float = 60.0
    # The longest server-requested pause (Telegram retry_after) we accept before giving up.
    max_retry_after: float = 600.0

    def delay(self, attempt: int) -> float:
        """Pause after failed attempt number `attempt` (1-based)."""
        return min(self.max_delay, self.first_delay * (2 ** (attempt - 1)))


# A management request (PUT …/integrations) should fail fast rather than hang the caller.
QUICK = RetryPolicy(attempts=3, first_delay=0.5, max_delay=2.0, max_retry_after=5.0)
PATIENT = RetryPolicy()
