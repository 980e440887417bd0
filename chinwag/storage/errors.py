"""Storage failures as ChinwagErrors, so the HTTP layer and CLI report them like any other error.

They live apart from engine.py so that the small helpers (dir lock, writer) can raise them without
importing the engine.
"""

from __future__ import annotations

from chinwag.errors import ChinwagError


class StorageError(ChinwagError):
    """A write or read could not be carried out; the message names the table or op at fault."""

    status = 500
    code = "storage_error"


class StorageClosed(StorageError):
    """The engine was closed: nothing more can be read or written through it."""

    status = 503
    code = "storage_closed"


class DataDirLocked(StorageError):
    """Another process (or another engine in this one) already has the data directory open."""

    status = 503
    code = "data_dir_locked"
