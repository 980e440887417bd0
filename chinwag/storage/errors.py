"""Storage failures as ChinwagErrors, so the HTTP layer and CLI report them like any other error.

They live apart from engine.py so that the small helpers (dir lock, writer) can raise them without
importing the engine.
"""

from __future__ import annotations

from chinwag.errors import ChinwagError
from chinwag.storage.ops import describe


class StorageError(ChinwagError):
    """A write or read could not be carried out; the message names the table or op at fault."""

    status = 500
    code = "storage_error"


class StorageClosed(StorageError):
    """The engine was closed: nothing more can be read or written through it."""

    status = 503
    code = "storage_closed"


class DataDirUnusable(StorageError):
    """The data directory cannot be created or opened (a file is in its place, no permission)."""

    status = 500
    code = "data_dir_unusable"


class DataDirLocked(StorageError):
    """Another process (or another engine in this one) already has the data directory open."""

    status = 503
    code = "data_dir_locked"


class ConditionFailed(StorageError):
    """A conditional write's condition did not hold, so nothing of that write call was applied.

    `condition` is the op whose condition failed (a Check, PutIfAbsent or CompareAndSet), so the
    caller can tell which race it lost; other calls committed alongside are unaffected.
    """

    status = 409
    code = "condition_failed"

    def __init__(self, condition: object, reason: str) -> None:
        self.condition = condition
        self.reason = reason
        super().__init__(f"condition failed: {describe(condition)}: {reason}")  # type: ignore[arg-type]
