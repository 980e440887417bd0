"""Actors: a task that owns its state and handles one message at a time from a bounded mailbox.

`ActorRef.tell` enqueues and returns at once; `ActorRef.ask` enqueues and parks the caller until the
actor replies. A caller cancelled while waiting only abandons its reply slot: the actor still
processes the message and simply drops the answer, so no state is ever half-updated by a caller's
timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import outcome
import trio

from chinwag.runtime.mailbox import Mailbox, MailboxClosed, MailboxFull

if TYPE_CHECKING:
    from chinwag.runtime.supervisor import Supervisor
    from chinwag.runtime.system import ActorSystem

log = logging.getLogger("chinwag.runtime")

__all__ = ["Actor", "ActorCrashed", "ActorRef", "ActorStopped", "MailboxFull"]


class ActorStopped(Exception):
    """The actor is stopped (or passivated) and did not take the message."""


class ActorCrashed(Exception):
    """The actor failed while handling this ask; the cause is chained."""


class Actor:
    """Base class. Override `receive`; `started`/`stopped` are optional hooks.

    Exceptions listed in `recoverable` are returned to the asker and leave the actor running
    (expected outcomes such as "limit reached"); any other exception crashes the actor and its
    supervisor decides whether to restart it.
    """

    recoverable: tuple[type[BaseException], ...] = ()

    ref: ActorRef

    async def started(self) -> None:
        """Runs before the first message (and again after each restart)."""

    async def receive(self, message: Any) -> Any:
        raise NotImplementedError

    async def stopped(self) -> None:
        """Runs once the actor stops for good or passivates (not after a crash)."""

    def can_passivate(self) -> bool:
        """False while the actor has work in flight that an idle timer must not cut short."""
        return True


class _Envelope:
    """A message and, for an ask, the parked caller waiting for the answer."""

    __slots__ = ("abandoned", "message", "task")

    def __init__(self, message: Any, task: trio.lowlevel.Task | None) -> None:
        self.message = message
        self.task = task
        self.abandoned = False

    def abort(self, _raise_cancel: Any) -> trio.lowlevel.Abort:
        """The asker was cancelled: the actor still handles the message, the answer is dropped."""
        self.abandoned = True
        return trio.lowlevel.Abort.SUCCEEDED


def _answer(envelope: _Envelope, result: outcome.Outcome) -> None:
    task = envelope.task
    if task is not None and not envelope.abandoned:
        envelope.abandoned = True
        trio.lowlevel.reschedule(task, result)


class ActorRef:
    """The handle other code holds; cheap to copy, never exposes the actor object."""

    __slots__ = ("_cell",)

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell

    @property
    def name(self) -> str:
        return self._cell.name

    @property
    def alive(self) -> bool:
        return not self._cell.mailbox.closed

    def tell(self, message: Any) -> None:
        """Send without waiting for an answer. Raises MailboxFull or ActorStopped."""
        try:
            self._cell.mailbox.put(_Envelope(message, None))
        except MailboxClosed:
            raise ActorStopped(f"actor {self._cell.name} is stopped") from None

    async def ask(self, message: Any) -> Any:
        """Send and wait for the actor's answer (or its recoverable error)."""
        envelope = _Envelope(message, trio.lowlevel.current_task())
        try:
            self._cell.mailbox.put(envelope)
        except MailboxClosed:
            raise ActorStopped(f"actor {self._cell.name} is stopped") from None
        return await trio.lowlevel.wait_task_rescheduled(envelope.abort)

    def stop(self) -> None:
        """Ask the actor to stop after the messages already queued."""
        self._cell.mailbox.close()

    def __repr__(self) -> str:
        return f"<ActorRef {self._cell.name}>"


class ActorCell:
    """Runtime bookkeeping for one actor: mailbox, lifecycle, supervision, passivation."""

    __slots__ = (
        "actor",
        "factory",
        "idle_timeout",
        "mailbox",
        "name",
        "on_exit",
        "ref",
        "supervisor",
        "system",
    )

    def __init__(
        self,
        system: ActorSystem,
        factory: Callable[[], Actor],
        *,
        name: str,
        mailbox_size: int,
        idle_timeout: float | None,
        supervisor: Supervisor | None,
        on_exit: Callable[[ActorCell, str], None] | None,
    ) -> None:
        self.system = system
        self.factory = factory
        self.name = name
        self.mailbox = Mailbox(mailbox_size)
        self.idle_timeout = idle_timeout
        self.supervisor = supervisor
        self.on_exit = on_exit
        self.actor: Actor | None = None
        self.ref = ActorRef(self)

    async def run(self) -> None:
        """Create the actor, handle messages, restart on crash as the supervisor allows."""
        reason = "stopped"
        try:
            while True:
                try:
                    self.actor = self.factory()
                    self.actor.ref = self.ref
                    await self.actor.started()
                    reason = await self._loop(self.actor)
                    await self.actor.stopped()
                    return
                except Exception as exc:
                    if self.supervisor is not None and self.supervisor.allow_restart(self, exc):
                        log.warning("actor %s crashed; restarting", self.name, exc_info=exc)
                        continue
                    reason = "failed"
                    self.mailbox.close()
                    self._fail_pending(exc)
                    if self.supervisor is not None:
                        self.supervisor.report_failure(self, exc)
                    else:
                        log.error("actor %s crashed and stops", self.name, exc_info=exc)
                    return
        finally:
            self.actor = None
            if self.on_exit is not None:
                self.on_exit(self, reason)

    async def _loop(self, actor: Actor) -> str:
        mailbox = self.mailbox
        recoverable = actor.recoverable
        idle = self.idle_timeout
        handled = 0
        while True:
            envelope: _Envelope | None = None
            try:
                if idle is not None and not len(mailbox):
                    with trio.move_on_after(idle):
                        envelope = await mailbox.get()
                    if envelope is None:
                        if len(mailbox) or not actor.can_passivate():
                            continue  # a message arrived as the timer fired, or work is running
                        mailbox.close()  # no await since the check: nobody slipped in
                        return "passivated"
                else:
                    envelope = await mailbox.get()
                    handled += 1
                    if handled % 64 == 0:
                        await trio.lowlevel.checkpoint()
            except MailboxClosed:
                return "stopped"
            try:
                result = await actor.receive(envelope.message)
            except recoverable as exc:
                _answer(envelope, outcome.Error(exc))
            except Exception as exc:
                crashed = ActorCrashed(f"actor {self.name} crashed: {exc!r}")
                crashed.__cause__ = exc
                _answer(envelope, outcome.Error(crashed))
                raise
            else:
                _answer(envelope, outcome.Value(result))

    def _fail_pending(self, exc: BaseException) -> None:
        for envelope in self.mailbox.drain():
            stopped = ActorStopped(f"actor {self.name} failed and stopped")
            stopped.__cause__ = exc
            _answer(envelope, outcome.Error(stopped))
