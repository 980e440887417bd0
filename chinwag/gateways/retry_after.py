"""Which model-server answers are worth another try, and how long the server asks us to wait.

Only failures that happen before the first token are retried (a retry after tokens were shown
would repeat or contradict them): connection errors, 429 and 5xx. The waits themselves follow
`chinwag.retry.RetryPolicy`; a server's `Retry-After` is capped there.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from time import time


def is_retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
