"""Credentials: management API keys (Bearer) and session access keys (in the path).

`CHINWAG_API_KEY`, when configured, is accepted as given (compared in constant time) next to the
stored keys, so containers and scripts can be provisioned without running the CLI first.

The checks are async: their store reads run in a worker thread on PostgreSQL, so a request never
blocks the Trio thread on the network. The session and chat client an access key opens are kept
for the rest of the request (`request_client`), so a prompt reads each once.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from quart import g, request

from chinwag.errors import NotFound, Unauthorized, UnknownAccessKey
from chinwag.http import deps
from chinwag.http.public_errors import is_management_path
from chinwag.records import ChatClient, Session
from chinwag.rules.bounds import ACCESS_KEY_PREFIX

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

_MAX_CREDENTIAL_LENGTH = 512


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if well formed."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_CREDENTIAL_LENGTH:
        return None
    return token


def _refusal() -> Unauthorized:
    """Why the request's Authorization header gave no usable API key, in one sentence."""
    header = request.headers.get("Authorization")
    if header is None or not header.strip():
        return Unauthorized(
            "Missing API key: send it as `Authorization: Bearer <api key>` "
            "(create one with `chinwag keys create`)."
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Unauthorized(
            f"The Authorization header must be `Bearer <api key>` (got the {scheme[:20]!r} scheme)."
            if scheme.lower() != "bearer"
            else "The Authorization header must be `Bearer <api key>`: the key is empty."
        )
    return Unauthorized(
        f"The API key is not valid: it is longer than {_MAX_CREDENTIAL_LENGTH} characters."
    )


def challenge(path: str) -> str:
    """The `WWW-Authenticate` value a 401 on `path` carries (RFC 9110 requires one): Bearer for
    the management API; the public routes' credential is the access key in the path, and a
    webhook's is its secret, so they name that scheme (no client will send it as a header)."""
    if is_management_path(path):
        return 'Bearer realm="chinwag"'
    if path.startswith("/api/v1/webhooks/"):
        return 'WebhookSecret realm="chinwag"'
    return 'AccessKey realm="chinwag"'


async def api_key_is_valid(token: str) -> bool:
    configured = deps.settings().api_key
    if configured and hmac.compare_digest(token.encode(), configured.encode()):
        return True
    return await deps.service().acheck_api_key(token)


async def require_api_key() -> None:
    """Raise 401 unless the request carries a valid management API key."""
    token = bearer_token()
    if token is None:
        raise _refusal()
    if not await api_key_is_valid(token):
        raise Unauthorized("The API key is not valid (unknown or revoked).")


def api_key_required(view: F) -> F:
    """Decorator for management routes defined outside the management blueprint."""

    @functools.wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        await require_api_key()
        return await view(*args, **kwargs)

    wrapper.__chinwag_auth__ = "apiKey"  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


async def session_for_access_key(access_key: str) -> Session:
    """The live session an access key opens, or 401 (unknown, deleted or expired).

    Its chat client is read too and kept for the request (`request_client`): the prompt and the
    public error sentences (their language) need it, and one read serves them all."""
    g.chinwag_client = None  # known: no client's language for this request's errors
    if not access_key.startswith(ACCESS_KEY_PREFIX) or len(access_key) > _MAX_CREDENTIAL_LENGTH:
        raise UnknownAccessKey()
    service = deps.service()
    session = await service.aresolve_access_key(access_key)
    with contextlib.suppress(NotFound):  # a route that needs the client says 404 itself
        g.chinwag_client = await service.aget_client(session.client_id)
    return session


def request_client() -> ChatClient | None:
    """The chat client of the access key this request was authenticated with, if any."""
    return g.get("chinwag_client")


def request_client_known() -> bool:
    """Whether `session_for_access_key` ran in this request (its client, or None, is known)."""
    return "chinwag_client" in g
