"""Retry timing for calls to chat-app APIs: exponential backoff with a cap, on Trio's clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import trio

from chinwag.integrations.errors import IntegrationUnavailable
from chinwag.retry import RetryPolicy

log = logging.getLogger(__name__)


# A management request (PUT …/integrations) should fail fast rather than hang the caller.
QUICK = RetryPolicy(attempts=3, first_delay=0.5, max_delay=2.0, max_retry_after=5.0, jitter=False)
# The patient default rides out a platform hiccup of a few minutes (1+2+4+…+60 s) so an
# acknowledged message is not dropped by a short outage; Telegram may ask for up to 10 minutes.
PATIENT = RetryPolicy(
    attempts=10, first_delay=1.0, max_delay=60.0, max_retry_after=600.0, jitter=False
)


@dataclass(frozen=True, slots=True)
class Retry:
    """What `interpret` returns for an answer worth trying again."""

    problem: str
    # A pause the server asked for (429); None means the policy's backoff.
    pause: float | None = None


async def post_with_retries(
    http: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    name: str,
    policy: RetryPolicy,
    interpret: Callable[[httpx.Response], Any],
    headers: dict[str, str] | None = None,
) -> Any:
    """POST until `interpret` accepts an answer (its return value is ours) or the policy runs
    out (IntegrationUnavailable). Connection errors are retried; `interpret` raises for answers
    that must not be retried (IntegrationRejected) and returns `Retry` for those that may."""
    last_problem = "no attempt made"
    for attempt in range(1, policy.attempts + 1):
        pause = policy.delay(attempt)
        try:
            response = await http.post(url, json=payload, headers=headers)
        except httpx.TransportError as exc:
            last_problem = f"connection failed ({type(exc).__name__})"
        else:
            outcome = interpret(response)
            if not isinstance(outcome, Retry):
                return outcome
            last_problem = outcome.problem
            if outcome.pause is not None:
                if outcome.pause > policy.max_retry_after:
                    break
                pause = outcome.pause
        if attempt < policy.attempts:
            log.warning("%s failed (%s); retrying in %.1fs", name, last_problem, pause)
            await trio.sleep(pause)
    raise IntegrationUnavailable(f"{name} failed: {last_problem}")
