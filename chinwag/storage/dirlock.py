"""An exclusive flock on the data directory, so two processes never open the same LMDB env.

LMDB itself allows several processes on one env, but chinwag keeps one writer thread and caches
that assume it is alone; a second process would silently break those assumptions. flock is released
by the kernel when the process dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from chinwag.storage.errors import DataDirLocked
from chinwag.storage.permissions import FILE_MODE, secure_data_dir

LOCK_FILE_NAME = "chinwag.lock"


class DirLock:
    """Holds the lock file descriptor until `release()`; create it with `lock_directory`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        """Drop the lock; safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def lock_directory(directory: str | os.PathLike[str]) -> DirLock:
    """Create `directory` if missing (owner only, see permissions.py) and take its lock, or
    raise DataDirLocked naming it."""
    path = secure_data_dir(directory)
    lock_path = path / LOCK_FILE_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirLocked(
            f"data directory {str(path)!r} is already in use by another chinwag process "
            f"(lock file {str(lock_path)!r}); stop it or choose another data_dir"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    # The pid is only a hint for whoever investigates a refused open; the flock is the lock.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return DirLock(lock_path, fd)
