"""Errors that cross layers: each carries the HTTP status and a sentence a developer can act on.

The HTTP layer turns them into the envelope; the CLI prints the message. Nothing else needs to
know about status codes.
"""

from __future__ import annotations

import re

# Ids echoed in a message are cut to this many characters: a 5,000-character id in a URL is
# not worth a 5 KB answer (or log line).
MAX_ECHOED_ID_CHARS = 64
_LONG_WORD = re.compile(rf"\S{{{MAX_ECHOED_ID_CHARS + 1},}}")


def short_ids(message: str) -> str:
    """`message` with every word longer than MAX_ECHOED_ID_CHARS cut, saying how long it was."""
    return _LONG_WORD.sub(
        lambda m: f"{m[0][:MAX_ECHOED_ID_CHARS]}… ({len(m[0])} characters)", message
    )


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


class PromptTooLong(InvalidInput):
    """400: the prompt's text passes CHINWAG_MAX_PROMPT_CHARS (chats get the "too long" notice)."""


class Unauthorized(ChinwagError):
    status = 401
    code = "unauthorized"


class UnknownAccessKey(Unauthorized):
    """401 for an access key that opens no session: one sentence on every route."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(
            message or "Unknown access key: the link is invalid or its session has been deleted.",
            retry_after=retry_after,
        )


class LimitReached(ChinwagError):
    """The conversation is blocked by one of the chat client's limits."""

    status = 403
    code = "limit_reached"


class NotFound(ChinwagError):
    """404; the message names what was looked up, with long ids cut (see `short_ids`)."""

    status = 404
    code = "not_found"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(short_ids(message), retry_after=retry_after)


class TooLarge(ChinwagError):
    """413: the input itself is too large for a bound (sending it again cannot help)."""

    status = 413
    code = "too_large"


class Conflict(ChinwagError):
    status = 409
    code = "conflict"


class RateLimited(ChinwagError):
    """Too many requests; `retry_after` (seconds) tells the client when to try again."""

    status = 429
    code = "rate_limited"


class UpstreamError(ChinwagError):
    """A failure of a service chinwag calls (model server, Telegram, Z-API).

    Its message is redacted when it is made (API keys, bearer tokens, `user:password@`, bot
    tokens: see chinwag.redaction), so it may be logged and shown to operators as it is; the
    public gets only the sentence named by `public_text` (a key of the talk page's catalog).
    """

    status = 502
    code = "upstream_failed"
    public_text = "genericError"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        from chinwag.redaction import redact

        super().__init__(redact(message), retry_after=retry_after)


class ModelFailed(UpstreamError):
    status = 502
    code = "model_failed"
    public_text = "modelFailed"


class ModelTimeout(UpstreamError):
    status = 504
    code = "model_timeout"
    public_text = "modelTimeout"


class SessionExpired(Unauthorized):
    """The access key belongs to a session that has expired: read-only until purged."""

    code = "session_expired"


class ServiceUnavailable(ChinwagError):
    """The runtime is shutting down; the client may retry against the restarted server."""

    status = 503
    code = "unavailable"
