"""An exclusive flock on the data directory: one process, or one worker group, opens the env.

LMDB itself allows several processes on one env, but a second, unrelated process would break
chinwag's assumptions (one writer per session, one bootstrap, one set of background loops), so a
standalone `chinwag serve` or CLI data command takes the lock alone. `chinwag serve --workers N`
shares it instead: its parent takes the lock and hands the very same open file description to
its workers (`pass_fds`), which `join_group` it. An flock belongs to the open file description,
so the group holds it while any member lives (a SIGKILLed parent leaves its workers locked in,
a standalone process is still refused), and the kernel drops it when the last member dies, so a
crash never leaves a stale lock behind. Within a worker the sessions are kept consistent by the
cluster layer (chinwag/cluster), as across the nodes of a PostgreSQL cluster.
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

    shared = False
    """True when a worker group holds the lock, so other processes write the env too."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @property
    def fd(self) -> int:
        """The locked descriptor (a worker group's parent passes it to its workers)."""
        assert self._fd is not None, "the lock was released"
        return self._fd

    def release(self) -> None:
        """Drop the lock; safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class _GroupLock(DirLock):
    """This process's use of its worker group's lock: releasing it only ends the use (the
    descriptor stays open, and unlocking it would unlock the whole group)."""

    shared = True

    def __init__(self, path: Path, fd: int) -> None:
        super().__init__(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            self._fd = None
            _group.in_use = False


class _Group:
    fd: int | None = None
    in_use: bool = False


_group = _Group()


def join_group(fd: int) -> None:
    """Make this process a member of the worker group whose locked descriptor is `fd`: the
    next `lock_directory` of that directory uses it instead of taking a lock of its own."""
    _group.fd = fd
    _group.in_use = False


def leave_group() -> None:
    """Forget the group (the descriptor stays with whoever owns it)."""
    _group.fd = None
    _group.in_use = False


def _is_group_lock(lock_path: Path) -> bool:
    if _group.fd is None:
        return False
    try:
        ours, theirs = os.fstat(_group.fd), os.stat(lock_path)
    except OSError:
        return False
    return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)


def lock_directory(directory: str | os.PathLike[str]) -> DirLock:
    """Create `directory` if missing (owner only, see permissions.py) and take its lock (or use
    the worker group's, see `join_group`), or raise DataDirLocked naming it."""
    path = secure_data_dir(directory)
    lock_path = path / LOCK_FILE_NAME
    if _is_group_lock(lock_path) and not _group.in_use:
        assert _group.fd is not None
        _group.in_use = True
        return _GroupLock(lock_path, _group.fd)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirLocked(
            f"data directory {str(path)!r} is already in use by another chinwag process "
            f"(a server, its workers or a CLI command; lock file {str(lock_path)!r}); stop it "
            "or choose another data_dir"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    # The pid is only a hint for whoever investigates a refused open; the flock is the lock.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return DirLock(lock_path, fd)
