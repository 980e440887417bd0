"""What a failure says, by audience: the public gets a short localized sentence, operators the
(redacted) detail. Both get the request id, which the server log also holds.

Audiences:
- management (`/api/v1/ai-gateways…`, `/api/v1/web-chat-client…`, Bearer API key): the upstream
  error's own message, already redacted (chinwag.errors.UpstreamError), plus the request id.
- everyone else (public API JSON and SSE, talk page, webhooks): for an upstream failure the
  talk page's sentence in the client's language ("The assistant couldn't answer right now.
  Please try again.") plus the request id; for any other 5xx, "internal error" plus the id.

Errors under 500 are the caller's own mistakes and keep their actionable message (the same
sentence HTTP, the CLI and the embedding API give); their request id is in `X-Request-Id`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from quart import request

from chinwag.errors import ChinwagError, ServiceUnavailable, UpstreamError
from chinwag.http import i18n
from chinwag.http.request_id import request_id
from chinwag.redaction import redact
from chinwag.storage.errors import StorageError

log = logging.getLogger("chinwag.errors")

INTERNAL_ERROR = "internal error"
MANAGEMENT_PREFIXES = ("/api/v1/ai-gateways", "/api/v1/web-chat-client")


def is_management_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in MANAGEMENT_PREFIXES)


@dataclass(frozen=True, slots=True)
class PublicErrors:
    """How to word failures for one public request (its language and request id).

    Made while the request context is there (the SSE body is produced after it is gone).
    """

    language: str
    request_id: str

    def sentence(self, error: ChinwagError | None) -> str:
        """The public sentence for a failure, with the request id."""
        if isinstance(error, UpstreamError):
            text = i18n.strings(self.language).get(error.public_text) or INTERNAL_ERROR
        elif isinstance(error, ServiceUnavailable):
            # Ours ("chinwag is shutting down; try again shortly"), localized where the
            # catalog has it (cluster.ownership.Fenced).
            key = getattr(error, "public_text", None)
            text = (i18n.strings(self.language).get(key) if key else None) or error.message
        else:
            text = INTERNAL_ERROR
        return f"{text} (request id {self.request_id})"

    def message(self, error: ChinwagError) -> str:
        """What a public client is told about `error`: the error itself under 500."""
        if error.status < 500:
            return error.message
        return self.sentence(error)


def _client_language() -> str | None:
    """The languageCode of the client behind the access key in the path, if any.

    Known without a read once the request's access key was checked (http/auth.py)."""
    from chinwag.http.auth import request_client, request_client_known

    if request_client_known():
        client = request_client()
        return client.client_parameters.language_code if client is not None else None
    access_key = (request.view_args or {}).get("access_key")
    if not isinstance(access_key, str):
        return None
    try:
        from chinwag.http import deps

        service = deps.service()
        session = service.resolve_access_key(access_key, allow_expired=True)
        return service.get_client(session.client_id).client_parameters.language_code
    except Exception:  # unknown key, storage trouble: the browser's language will do
        return None


def public_errors() -> PublicErrors:
    """PublicErrors for the current request: the client's language, else Accept-Language."""
    language = i18n.choose(_client_language(), request.headers.get("Accept-Language"))
    return PublicErrors(language, request_id())


def log_server_error(error: ChinwagError) -> None:
    """Log a 5xx with its (redacted) detail, the route and the request id."""
    level = logging.ERROR if error.status == 500 else logging.WARNING
    log.log(
        level,
        "%s %s failed with %d %s (request id %s): %s",
        request.method,
        request.path,
        error.status,
        type(error).__name__,
        request_id(),
        redact(error.message),
    )


def error_message(error: ChinwagError) -> str:
    """The envelope message for `error` in the current request, by audience (see module doc)."""
    if error.status < 500 and not isinstance(error, StorageError):
        return error.message
    log_server_error(error)
    if isinstance(error, StorageError) or type(error) is ChinwagError:
        return f"{INTERNAL_ERROR} (request id {request_id()})"
    if is_management_path(request.path):
        return f"{redact(error.message)} (request id {request_id()})"
    return public_errors().sentence(error)
