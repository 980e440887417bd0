"""The one response shape: `{"message": str | null, "data": ...}`, for success and failure alike.

Every route and every error handler goes through `ok`/`fail`, so a client never has to guess
whether a body is an envelope, HTML or a bare error string.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec
from quart import Response

_encoder = msgspec.json.Encoder()

JSON_MIMETYPE = "application/json"


def envelope_bytes(data: Any = None, message: str | None = None) -> bytes:
    """The encoded envelope; records (msgspec Structs) are encoded directly in camelCase."""
    return _encoder.encode({"message": message, "data": data})


def ok(
    data: Any = None,
    *,
    status: int = 200,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A success response carrying `data`."""
    return Response(
        envelope_bytes(data, message),
        status=status,
        mimetype=JSON_MIMETYPE,
        headers=dict(headers or {}),
    )


def fail(
    status: int,
    message: str,
    *,
    retry_after: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An error response: `data` is null and `message` says what to fix."""
    all_headers = dict(headers or {})
    if retry_after is not None:
        # Retry-After takes whole seconds; round up so a client never retries too early.
        all_headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return Response(
        envelope_bytes(None, message),
        status=status,
        mimetype=JSON_MIMETYPE,
        headers=all_headers,
    )


def no_content(headers: Mapping[str, str] | None = None) -> Response:
    """A 204: no body, so no Content-Type either (Quart would otherwise label it text/html)."""
    response = Response(b"", status=204, headers=dict(headers or {}))
    response.headers.pop("Content-Type", None)
    return response
