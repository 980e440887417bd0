"""One id per HTTP request, so a user's "it failed" can be found in the server log.

Every request gets an id: a well-formed incoming `X-Request-Id` (from a proxy or the caller) is
kept, anything else is replaced by a fresh UUIDv7 (sortable by time, like every chinwag id).
The id is returned as `X-Request-Id` on every response, is what a 5xx envelope quotes
("internal error (request id …)") and is written with every error the server logs.

It lives in a context variable as well as on `g`, so code below the HTTP layer that logs
during a request can read it (`current_request_id()`) without being handed it.
"""

from __future__ import annotations

import contextlib
import re

import uuid_utils
from quart import Response, g
from quart_trio import QuartTrio

from chinwag.request_context import inherited_request_id, set_request_id

HEADER = "X-Request-Id"
# Printable and short: a header value that goes into logs must not carry newlines or megabytes.
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}$")


def new_request_id() -> str:
    """A fresh id: a UUIDv7."""
    return str(uuid_utils.uuid7())


def accepted(incoming: str | None) -> str | None:
    """`incoming` when it is a usable id (1-128 of `A-Z a-z 0-9 . _ : + = / -`), else None."""
    if incoming and _VALID.match(incoming):
        return incoming
    return None


def current_request_id() -> str | None:
    """The id of the request being handled (None outside a request)."""
    try:
        found = getattr(g, "chinwag_request_id", None)
    except RuntimeError:  # no request or app context
        found = None
    return found or inherited_request_id()


def request_id() -> str:
    """The current request's id, made on first use (error handlers may run before the hook)."""
    found = current_request_id()
    if found is None:
        found = new_request_id()
        with contextlib.suppress(RuntimeError):  # no request context: the variable suffices
            g.chinwag_request_id = found
        set_request_id(found)
    return found


def with_request_id(message: str) -> str:
    """`message` followed by the request id, as a 5xx envelope says it."""
    return f"{message} (request id {request_id()})"


def register_request_ids(app: QuartTrio) -> None:
    """Assign the id first thing in every request and return it on every response."""
    from quart import request

    @app.before_request
    async def assign_request_id() -> None:
        rid = accepted(request.headers.get(HEADER)) or new_request_id()
        g.chinwag_request_id = rid
        set_request_id(rid)

    @app.after_request
    async def return_request_id(response: Response) -> Response:
        response.headers[HEADER] = request_id()
        return response

    # Hooks run in registration order: make the id the very first thing a request gets.
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks.remove(assign_request_id)
    hooks.insert(0, assign_request_id)
