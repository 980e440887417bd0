"""The id of the HTTP request being served, readable below the HTTP layer without being passed.

Why a module of its own: the HTTP layer sets it (chinwag.http.request_id) and the facade reads
it to tag what a request stores (a failed reply's error marker keeps the id of the prompt
request that failed, so the restored conversation can show the id the log holds). Arrows stay
one way: neither side imports the other for it.

Tasks inherit context variables from the task that started them, so a task started while a
request was served (a chat's lane, an actor) would still see that request's id long after it
ended. `request_id_here` therefore answers only in the very task the id was set in.
"""

from __future__ import annotations

from contextvars import ContextVar

import trio

# (the task serving the request, its id)
_current: ContextVar[tuple[object, str] | None] = ContextVar("chinwag_request_id", default=None)


def _task() -> object | None:
    try:
        return trio.lowlevel.current_task()
    except RuntimeError:  # not in Trio
        return None


def set_request_id(request_id: str) -> None:
    """Record `request_id` as the id of the request the current task serves."""
    _current.set((_task(), request_id))


def inherited_request_id() -> str | None:
    """The id of the request this task serves or was started from (for log lines)."""
    value = _current.get()
    return value[1] if value is not None else None


def request_id_here() -> str | None:
    """The id of the request the current task itself serves (None in any other task)."""
    value = _current.get()
    return value[1] if value is not None and value[0] is _task() else None
