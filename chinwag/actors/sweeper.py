"""Expiry and retention, driven by the expiry and purge indexes.

The sweeper sleeps until the earliest entry of either index is due, so its cost is proportional
to what actually expires, never to the number of sessions. An expired session stays readable for
the retention period (its entry moves from `expiry` to `purge`); then it is deleted with its
history through its own actor.

Failures follow the background policy (chinwag.runtime.background): a session whose purge fails
(a record that no longer decodes, an actor that cannot start) is logged with its id, counted,
and its purge entry moved RETRY_FAILED_AFTER later, so the sweeper goes on with the others and
never retries it in a tight loop. A failure of a whole pass (storage trouble) is counted too and
the pass is retried after RETRY_FAILED_AFTER_PASS; the sweeper never ends the runtime.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from chinwag.actors.session import DeleteSession
from chinwag.errors import NotFound, ServiceUnavailable
from chinwag.runtime import Directory

if TYPE_CHECKING:
    from chinwag.actors.context import ActorContext

log = logging.getLogger("chinwag.sweeper")

BATCH = 256
IDLE_RECHECK = 24 * 3600.0
RETRY_FAILED_AFTER = 3600.0
RETRY_FAILED_AFTER_PASS = 60.0
LOOP = "sweeper"
# A session to purge that is active on another node (cluster mode) is tried again this much later.
PURGE_RETRY_SECONDS = 60.0


class Sweeper:
    def __init__(self, core: ActorContext, sessions: Directory[str]) -> None:
        self.core = core
        self.sessions = sessions
        self._wake = trio.Event()
        self._planned: float = float("inf")

    def expiry_changed(self, expires_at: float) -> None:
        """Called when a session may now expire earlier than the sweeper planned to wake."""
        if expires_at < self._planned:
            self._wake.set()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            try:
                await self.sweep_once()
            except Exception as error:  # storage trouble: count it, try the pass again later
                self.core.background.failed(LOOP, "a sweep pass", error)
                await trio.sleep(RETRY_FAILED_AFTER_PASS)
                continue
            upcoming = [
                t
                for t in (
                    await self.core.repo.anext_due("expiry"),
                    await self.core.repo.anext_due("purge"),
                )
                if t is not None
            ]
            now = self.core.clock.now()
            self._planned = min(upcoming, default=now + IDLE_RECHECK)
            self._wake = trio.Event()
            with trio.move_on_at(self.core.clock.trio_deadline(self._planned)):
                await self._wake.wait()

    async def sweep_once(self) -> int:
        """Process every due entry; returns how many sessions were expired or purged."""
        done = 0
        retention = self.core.settings.retention_seconds
        while True:
            now = self.core.clock.now()
            expired = await self.core.repo.adue("expiry", now, BATCH)
            if not expired:
                break
            ops = []
            for expired_at, session_id in expired:
                ops.extend(
                    self.core.repo.move_to_purge(expired_at, session_id, expired_at + retention)
                )
                try:
                    self.sessions.deactivate(session_id)
                except Exception as error:
                    self.core.background.failed(LOOP, f"deactivating session {session_id}", error)
            await self.core.repo.commit(ops)
            done += len(expired)
        while True:
            now = self.core.clock.now()
            purgeable = await self.core.repo.adue("purge", now, BATCH)
            if not purgeable:
                break
            ops = []
            for purge_at, session_id in purgeable:
                ops.extend(self.core.repo.drop_purge_entry(purge_at, session_id))
                try:
                    await self.sessions.ask(session_id, DeleteSession())
                    self.core.metrics.sessions_purged += 1
                except NotFound:
                    pass
                except ServiceUnavailable:
                    # Cluster: active on another node right now; purged on a later pass.
                    later = now + PURGE_RETRY_SECONDS
                    ops.extend(self.core.repo.move_to_purge(purge_at, session_id, later))
                except Exception as error:
                    self.core.background.failed(LOOP, f"purging session {session_id}", error)
                    # Try again later, not in this pass: a new purge entry, an hour on. (No
                    # expiry entry exists at `purge_at`; move_to_purge only adds the new one.)
                    retry_at = now + RETRY_FAILED_AFTER
                    ops.extend(self.core.repo.move_to_purge(purge_at, session_id, retry_at))
            await self.core.repo.commit(ops)
            done += len(purgeable)
        return done
