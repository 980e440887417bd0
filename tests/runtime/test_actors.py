"""The actor runtime: ordering, tell/ask, bounded mailboxes, supervision, passivation."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from chinwag.runtime import (
    Actor,
    ActorCrashed,
    ActorStopped,
    Directory,
    MailboxFull,
    RestartPolicy,
    Supervisor,
    open_actor_system,
)


class Recorder(Actor):
    """Appends what it receives; 'crash' raises, ('sleep', s) sleeps, 'get' returns the log."""

    recoverable = (ValueError,)
    starts = 0

    def __init__(self, log: list) -> None:
        self.log = log

    async def started(self) -> None:
        Recorder.starts += 1

    async def receive(self, message):
        if message == "crash":
            raise RuntimeError("boom")
        if message == "bad":
            raise ValueError("bad input")
        if isinstance(message, tuple) and message[0] == "sleep":
            await trio.sleep(message[1])
            self.log.append("slept")
            return "slept"
        if message == "get":
            return list(self.log)
        self.log.append(message)
        return message


async def test_messages_are_processed_in_order_and_ask_replies() -> None:
    log: list = []
    async with open_actor_system() as system:
        ref = system.spawn(lambda: Recorder(log), name="r", mailbox_size=128)
        for i in range(100):
            ref.tell(i)
        assert await ref.ask("get") == list(range(100))


async def test_recoverable_error_reaches_asker_and_actor_keeps_running() -> None:
    async with open_actor_system() as system:
        ref = system.spawn(lambda: Recorder([]), name="r")
        with pytest.raises(ValueError, match="bad input"):
            await ref.ask("bad")
        assert await ref.ask(1) == 1


async def test_full_mailbox_refuses_tell() -> None:
    async with open_actor_system() as system:
        ref = system.spawn(lambda: Recorder([]), name="r", mailbox_size=2)
        ref.tell(("sleep", 1))
        await trio.testing.wait_all_tasks_blocked()
        ref.tell(1)
        ref.tell(2)
        with pytest.raises(MailboxFull):
            ref.tell(3)


async def test_cancelled_ask_leaves_actor_consistent(autojump_clock) -> None:
    log: list = []
    async with open_actor_system() as system:
        ref = system.spawn(lambda: Recorder(log), name="r")
        with trio.move_on_after(0.5):
            await ref.ask(("sleep", 1))
        # The abandoned message still completes; later asks are answered normally.
        assert await ref.ask("get") == ["slept"]


async def test_stopped_actor_refuses_messages() -> None:
    async with open_actor_system() as system:
        ref = system.spawn(lambda: Recorder([]), name="r")
        ref.stop()
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(ActorStopped):
            ref.tell(1)


async def test_supervisor_restarts_then_gives_up_and_reports(autojump_clock) -> None:
    failures = []
    supervisor = Supervisor(RestartPolicy(max_restarts=2, within_seconds=10), failures.append)
    async with open_actor_system() as system:
        flaky = system.spawn(lambda: Recorder([]), name="flaky", supervisor=supervisor)
        healthy = system.spawn(lambda: Recorder([]), name="healthy", supervisor=supervisor)
        for _ in range(2):
            with pytest.raises(ActorCrashed):
                await flaky.ask("crash")
            assert flaky.alive
        assert supervisor.restart_count == 2
        with pytest.raises(ActorCrashed):
            await flaky.ask("crash")
        await trio.testing.wait_all_tasks_blocked()
        assert not flaky.alive
        assert [f.name for f in failures] == ["flaky"]
        assert await healthy.ask("ok") == "ok"


async def test_restart_window_forgets_old_crashes(autojump_clock) -> None:
    supervisor = Supervisor(RestartPolicy(max_restarts=1, within_seconds=10))
    async with open_actor_system() as system:
        ref = system.spawn(lambda: Recorder([]), name="r", supervisor=supervisor)
        with pytest.raises(ActorCrashed):
            await ref.ask("crash")
        await trio.sleep(11)
        with pytest.raises(ActorCrashed):
            await ref.ask("crash")
        assert ref.alive


async def test_directory_single_activation_passivation_and_reactivation(autojump_clock) -> None:
    logs: dict[str, list] = {}

    def factory(key: str) -> Actor:
        return Recorder(logs.setdefault(key, []))

    async with open_actor_system() as system:
        directory: Directory[str] = Directory(
            system, factory, kind="rec", idle_timeout=60, mailbox_size=128
        )
        async with trio.open_nursery() as nursery:
            for i in range(100):
                nursery.start_soon(directory.ask, "a", i)
        assert directory.activations == 1
        assert sorted(await directory.ask("a", "get")) == list(range(100))
        await trio.sleep(59)
        assert directory.is_active("a")
        await trio.sleep(2)
        assert not directory.is_active("a")
        assert directory.passivations == 1
        assert len(directory) == 0
        assert await directory.ask("a", "x") == "x"
        assert directory.activations == 2


async def test_shutdown_drains_mailboxes() -> None:
    log: list = []
    async with open_actor_system() as system:
        ref = system.spawn(lambda: Recorder(log), name="r")
        for i in range(10):
            ref.tell(i)
    assert log == list(range(10))
