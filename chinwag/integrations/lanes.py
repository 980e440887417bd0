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

Cluster mode: a batch whose chat session is held by another live node (NotOwner: the chat
went to two nodes at once, or its owner just died and its lease still runs) is handed over to
that node (`Inbox.hand_over`; it picks it up at its next take-over pass, or, if it is dead, the
node taking its items over does). Another retryable refusal (503: the session moved, storage
trouble) is tried again on the same lane after a growing pause (`UNAVAILABLE_RETRY`), ahead of
the chat's later messages. Either way no item stays pending on a live node that gave up on it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import trio

from chinwag.cluster.ownership import NotOwner
from chinwag.errors import ServiceUnavailable
from chinwag.integrations.delivery import TurnRunner
from chinwag.integrations.jobs import Job, LaneKey, PendingJob, ResumeJob
from chinwag.retry import RetryPolicy

log = logging.getLogger(__name__)

DEBOUNCE_CAP_FACTOR = 5
# Pauses before a batch refused with 503 is tried again: about 1, 2, 4, then 10 s (jittered),
# as long as it takes: a held session is released when its owner dies (its lease, 10 s by
# default, runs out) or passivates it.
UNAVAILABLE_RETRY = RetryPolicy(first_delay=1.0, max_delay=10.0, max_retry_after=10.0)


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
        failures = 0
        try:
            while await self._wait_until(trio.current_time() + self.idle_timeout):
                job = self.queue.popleft()
                with trio.CancelScope(shield=True) as scope:
                    self._job_scope = scope
                    try:
                        retry = await self._run_job(job)
                    finally:
                        self._job_scope = None
                if scope.cancelled_caught:
                    log.info("chat %s/%s: reply cut by shutdown", self.key[1], self.key[2])
                    continue
                if retry is None:
                    failures = 0
                    continue
                jobs, unavailable = retry
                failures += 1
                pause = max(unavailable.retry_after or 0.0, UNAVAILABLE_RETRY.delay(failures))
                log.info(
                    "chat %s/%s: not answered yet (%s); trying again in %.1f s",
                    self.key[1],
                    self.key[2],
                    unavailable.message,
                    pause,
                )
                self.queue.extendleft(reversed(jobs))  # first again, in their order
                await trio.sleep(pause)
        finally:
            self.closed = True
            self.on_exit(self)

    async def _run_job(self, job: Job) -> tuple[list[Job], ServiceUnavailable] | None:
        """Run one job; a retryable refusal returns the jobs to try again (else None)."""
        jobs: list[Job] = [job]
        try:
            if isinstance(job, ResumeJob):
                await self.runner.resume(job)
            elif job.mergeable:
                batch = await self._gather(job)
                jobs = list(batch)
                await self.runner.handle(batch)
            else:
                await self.runner.handle([job])
        except NotOwner as exc:
            if exc.node_id:
                try:
                    await self._hand_over(jobs, exc.node_id)
                except Exception:  # storage trouble: the items stay ours; try again later
                    log.exception("chat %s/%s: handing over failed", *self.key[1:])
                    return jobs, exc
                return None
            if not self.stopping:
                return jobs, exc
        except ServiceUnavailable as exc:
            if not self.stopping:
                return jobs, exc
            log.info("chat %s/%s: left for the next start: %s", *self.key[1:], exc.message)
        except Exception:
            # The messages stay pending in the inbox and are retried on the next start.
            log.exception("chat %s/%s: failed to answer", self.key[1], self.key[2])
        return None

    async def _hand_over(self, jobs: list[Job], node_id: str) -> None:
        """Give the batch's items to `node_id`, which holds the chat's session."""
        inbox = self.runner.inbox
        handed = [job for job in jobs if isinstance(job, PendingJob)]
        for job in handed:
            await inbox.hand_over(job.key, node_id)
        log.info("chat %s/%s: %d item(s) handed to the session's node", *self.key[1:], len(handed))

    async def _gather(self, job: PendingJob) -> list[PendingJob]:
        """`job` plus the texts that follow it within the debounce window."""
        batch = [job]
        interval = await self.runner.debounce_interval(job.item.client_id)
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
