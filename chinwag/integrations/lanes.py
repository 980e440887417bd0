"""Chat lanes: one per chat, so a chat's messages are answered in order while chats run side
by side.

A lane owns a queue of jobs for one (client, channel, chat). It takes the oldest job; a plain
text message waits `messageDebounceInterval` for more text from the same chat (each new message
restarts the wait, capped at five intervals) and all of it becomes one turn. A command or an
unreadable message ends the gathering and is handled on its own. A lane with nothing to do for a
while ends; the next message starts a new one.

Lanes are plain Trio tasks rather than `chinwag.runtime` actors under a `Directory`: gathering a
debounce window means waiting on the queue with a deadline (a one-message-at-a-time `receive`
cannot), and shutdown needs a per-job grace period (`begin_grace`) that actors do not offer.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import trio

from chinwag.integrations.delivery import TurnRunner
from chinwag.integrations.jobs import Job, LaneKey, PendingJob, ResumeJob

log = logging.getLogger(__name__)

DEBOUNCE_CAP_FACTOR = 5


class ChatLane:
    """The queue and task of one chat.

    Each job runs in a shielded scope, so a shutdown lets the reply being worked on finish
    (within the grace `begin_grace` sets) instead of cutting the turn and redoing it later.
    """

    def __init__(
        self,
        key: LaneKey,
        runner: TurnRunner,
        on_exit: Callable[[ChatLane], None],
        *,
        idle_timeout: float = 60.0,
    ) -> None:
        self.key = key
        self.runner = runner
        self.on_exit = on_exit
        self.idle_timeout = idle_timeout
        self.queue: deque[Job] = deque()
        self.closed = False
        self.stopping = False
        self._wakeup = trio.Event()
        self._job_scope: trio.CancelScope | None = None

    def put(self, job: Job) -> None:
        self.queue.append(job)
        self._wakeup.set()

    def begin_grace(self, seconds: float) -> None:
        """Shutting down: finish the current job within `seconds`, start no other."""
        self.stopping = True
        self._wakeup.set()  # ends a debounce wait at once
        if self._job_scope is not None:
            self._job_scope.deadline = min(self._job_scope.deadline, trio.current_time() + seconds)

    async def _wait_until(self, deadline: float) -> bool:
        """Wait for a new job until `deadline` (Trio time); True when one is queued."""
        if not self.queue and not self.stopping:
            self._wakeup = trio.Event()
            with trio.move_on_at(deadline):
                await self._wakeup.wait()
        return bool(self.queue) and not self.stopping

    async def run(self) -> None:
        try:
            while await self._wait_until(trio.current_time() + self.idle_timeout):
                job = self.queue.popleft()
                with trio.CancelScope(shield=True) as scope:
                    self._job_scope = scope
                    try:
                        await self._run_job(job)
                    finally:
                        self._job_scope = None
                if scope.cancelled_caught:
                    log.info("chat %s/%s: reply cut by shutdown", self.key[1], self.key[2])
        finally:
            self.closed = True
            self.on_exit(self)

    async def _run_job(self, job: Job) -> None:
        try:
            if isinstance(job, ResumeJob):
                await self.runner.resume(job)
            elif job.mergeable:
                await self.runner.handle(await self._gather(job))
            else:
                await self.runner.handle([job])
        except Exception:
            # The messages stay pending in the inbox and are retried on the next start.
            log.exception("chat %s/%s: failed to answer", self.key[1], self.key[2])

    async def _gather(self, job: PendingJob) -> list[PendingJob]:
        """`job` plus the texts that follow it within the debounce window."""
        batch = [job]
        interval = self.runner.debounce_interval(job.item.client_id)
        if interval <= 0:
            return batch
        cap = trio.current_time() + interval * DEBOUNCE_CAP_FACTOR
        while await self._wait_until(min(cap, trio.current_time() + interval)):
            following = self.queue[0]
            if (
                not isinstance(following, PendingJob)
                or not following.mergeable
                # Forum topics are answered in their own topic: never merge across them.
                or following.item.message.thread_id != job.item.message.thread_id
            ):
                break
            batch.append(self.queue.popleft())
            if trio.current_time() >= cap:
                break
        return batch
