"""Choose and open the storage engine a runtime uses: PostgreSQL when a database URL is set.

Kept apart from wiring.py so the facade does not need to know either engine's options.
"""

from __future__ import annotations

from functools import partial

import trio

from chinwag.config import Settings
from chinwag.storage.engine import LmdbEngine, LocalStorageEngine
from chinwag.storage.keys import TABLES


async def open_engine(settings: Settings) -> LocalStorageEngine:
    """LMDB in `settings.data_dir`, or PostgreSQL at `settings.database_url` when it is set.

    Connecting to PostgreSQL blocks (DNS, TCP, authentication, CREATE TABLE IF NOT EXISTS), so
    it runs in a worker thread; a wrong URL is a StorageError that never shows the URL.
    """
    if settings.database_url:
        from chinwag.storage.postgres import PostgresEngine

        return await trio.to_thread.run_sync(
            partial(PostgresEngine.open, settings.database_url, TABLES)
        )
    return LmdbEngine.open(settings.data_dir, TABLES, map_size=settings.map_size)
