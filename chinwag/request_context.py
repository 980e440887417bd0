"""The id of the HTTP request being served, readable below the HTTP layer without being passed.

Why a module of its own: the HTTP layer sets it (chinwag.http.request_id) and the facade reads
it to tag what a request stores (a failed reply's error marker keeps the id of the prompt
request that failed, so the restored conversation can show the id the log holds). Arrows stay
one way: neither side imports the other for it.
"""

from __future__ import annotations

from contextvars import ContextVar

current: ContextVar[str | None] = ContextVar("chinwag_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request this task serves (None outside a request)."""
    return current.get()
