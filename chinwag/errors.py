"""Errors that cross layers: each carries the HTTP status and a sentence a developer can act on.

The HTTP layer turns them into the envelope; the CLI prints the message. Nothing else needs to
know about status codes.
"""

from __future__ import annotations


class ChinwagError(Exception):
    """Base error: `status` is the HTTP status, `message` the user-facing sentence."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class InvalidInput(ChinwagError):
    status = 400
    code = "invalid_input"


class Unauthorized(ChinwagError):
    status = 401
    code = "unauthorized"


class LimitReached(ChinwagError):
    """The conversation is blocked by one of the chat client's limits."""

    status = 403
    code = "limit_reached"


class NotFound(ChinwagError):
    status = 404
    code = "not_found"


class Conflict(ChinwagError):
    status = 409
    code = "conflict"


class RateLimited(ChinwagError):
    """Too many requests; `retry_after` (seconds) tells the client when to try again."""

    status = 429
    code = "rate_limited"


class ModelFailed(ChinwagError):
    status = 502
    code = "model_failed"


class ModelTimeout(ChinwagError):
    status = 504
    code = "model_timeout"


class SessionExpired(Unauthorized):
    """The access key belongs to a session that has expired: read-only until purged."""

    code = "session_expired"


class ServiceUnavailable(ChinwagError):
    """The runtime is shutting down; the client may retry against the restarted server."""

    status = 503
    code = "unavailable"
