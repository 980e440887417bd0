"""The data directory holds gateway keys, bot tokens and the access-key secret: owner only.

A new directory is created 0700 and every file in it is created 0600 (the LMDB files, the lock
file). A directory made by an older version (0755/0644) is tightened at start; when that is not
possible (another owner, a read-only mount) a warning says so and the server still starts.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from chinwag.storage.errors import DataDirUnusable

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def secure_data_dir(directory: str | os.PathLike[str]) -> Path:
    """Create `directory` (0700) if missing; remove group/other access from it and its files."""
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise DataDirUnusable(f"the data directory {path} is not a directory (CHINWAG_DATA_DIR)")
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise DataDirUnusable(
            f"cannot create the data directory {path} (CHINWAG_DATA_DIR): {reason}"
        ) from None
    tighten(path, DIR_MODE)
    for entry in path.iterdir():
        if entry.is_file() and not entry.is_symlink():
            tighten(entry, FILE_MODE)
    return path


def tighten(path: Path, allowed: int) -> bool:
    """Drop the mode bits of `path` outside `allowed`; False (and a warning) when that fails."""
    current = stat.S_IMODE(path.stat().st_mode)
    if not current & ~allowed:
        return True
    try:
        os.chmod(path, current & allowed)
    except OSError as error:
        log.warning(
            "%s has mode %o, so other users may read it, and it could not be tightened to %o: "
            "%s. Fix its owner or mode.",
            path,
            current,
            current & allowed,
            error.strerror or error,
        )
        return False
    log.info("tightened the mode of %s from %o to %o", path, current, current & allowed)
    return True
