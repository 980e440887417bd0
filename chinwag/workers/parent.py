"""The parent of `chinwag serve --workers N`: one socket, one bootstrap, N supervised workers.

It binds the public socket once and runs the first-start bootstrap once (admin key printed
once, demo gateway and chat), closing the store again before any worker starts (LMDB must never
be inherited by a fork). Then it holds only the listening socket (the workers accept on it; the
parent never does) and the data directory's lock, which it shares with the workers
(storage/dirlock.py), so a standalone `chinwag serve` or CLI data command is refused while the
group runs. Workers run in their own session (a terminal's Ctrl+C reaches the parent only) and
the parent decides: SIGINT/SIGTERM stop every worker gracefully (SIGTERM, then SIGKILL after
`stop_timeout`), and the parent returns once they are gone. A worker that dies otherwise is
restarted, at most `max_restarts` times within `within_seconds` over the whole group (Erlang's
restart intensity); past that the parent stops the others and fails with a clear message.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import trio
import uuid_utils

from chinwag.config import Settings
from chinwag.errors import ChinwagError
from chinwag.runtime.supervisor import RestartPolicy
from chinwag.storage.dirlock import DirLock, join_group, lock_directory
from chinwag.workers.child import Assignment

log = logging.getLogger("chinwag.workers")

# Worker deaths tolerated over the whole group (Erlang intensity/period), then the group fails.
WORKER_RESTARTS = RestartPolicy(max_restarts=5, within_seconds=60.0)
# Pause before a restart, so a worker that dies at once does not spin.
RESTART_DELAY = 0.5
# After SIGTERM a worker has Hypercorn's graceful timeout (10 s) plus its runtime's close.
STOP_TIMEOUT = 30.0
BACKLOG = 1024
# Node ids of dead workers named to the next worker started (to end their leases).
MAX_RETIRED = 16


class WorkersFailed(ChinwagError):
    """The group gave up: workers kept dying faster than the restart intensity allows."""


class BindFailed(ChinwagError):
    """The public address could not be bound (in use, not ours, malformed)."""


def bind_public(bind: str) -> socket.socket:
    """The listening socket every worker accepts on (the parent never accepts on it)."""
    host, _sep, port = bind.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise BindFailed(f"cannot listen on {bind}: {exc.strerror or exc}") from None
    return sock


@dataclass
class RestartBudget:
    """Deaths within the policy's window; `allow()` records one and says if it may restart."""

    policy: RestartPolicy
    clock: Callable[[], float] = trio.current_time
    deaths: deque[float] = field(default_factory=deque)

    def allow(self) -> bool:
        now = self.clock()
        while self.deaths and now - self.deaths[0] > self.policy.within_seconds:
            self.deaths.popleft()
        if len(self.deaths) >= self.policy.max_restarts:
            return False
        self.deaths.append(now)
        return True


async def bootstrap_once(settings: Settings, announce: Callable[[str], None]) -> None:
    """The first-start bootstrap, run by the parent alone before any worker exists."""
    from chinwag.bootstrap import bootstrap, describe
    from chinwag.wiring import open_runtime

    async with open_runtime(msgspec.structs.replace(settings, workers=1)) as chinwag:
        for line in describe(await bootstrap(chinwag, settings), settings):
            announce(line)


def worker_command(socket_fd: int, lock_fd: int, *, access_log: bool, verbose: bool) -> list[str]:
    command = [sys.executable, "-m", "chinwag.cli", "serve"]
    command += ["--worker-socket-fd", str(socket_fd), "--worker-lock-fd", str(lock_fd)]
    if access_log:
        command.append("--access-log")
    if verbose:
        command.append("--verbose")
    return command


class WorkerGroup:
    """Spawns and supervises the workers; `run()` returns once all of them are gone."""

    def __init__(
        self,
        settings: Settings,
        listener: socket.socket,
        lock: DirLock | None,
        *,
        access_log: bool = False,
        verbose: bool = False,
        policy: RestartPolicy = WORKER_RESTARTS,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.listener = listener
        self.lock = lock
        self.access_log = access_log
        self.verbose = verbose
        self.budget = RestartBudget(policy)
        self.stop_timeout = stop_timeout
        self.stopping = trio.Event()
        self.failure: str | None = None
        self.processes: dict[int, trio.Process] = {}
        self.node_ids: dict[int, str] = {}
        self.dead_nodes: list[str] = []
        self.restarts = 0
        self.killed = 0

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_signals)
            for slot in range(self.settings.workers):
                await nursery.start(self._keep, slot)
            task_status.started()
            await self.stopping.wait()
            await self._stop_all()
            nursery.cancel_scope.cancel()

    async def _spawn(self, slot: int) -> trio.Process:
        fds = [self.listener.fileno()] + ([self.lock.fd] if self.lock is not None else [])
        command = worker_command(
            self.listener.fileno(),
            self.lock.fd if self.lock is not None else -1,
            access_log=self.access_log,
            verbose=self.verbose,
        )
        process = await trio.lowlevel.open_process(
            command, stdin=subprocess.PIPE, pass_fds=fds, start_new_session=True
        )
        assert process.stdin is not None
        node_id = str(uuid_utils.uuid7())
        assignment = Assignment(self.settings, node_id, retire=self.dead_nodes)
        # The pipe stays open for the worker's life: its end of file tells the worker we died.
        # A worker that died at once cannot read it; wait() then reports the death.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await process.stdin.send_all(msgspec.json.encode(assignment) + b"\n")
        self.processes[slot] = process
        self.node_ids[slot] = node_id
        log.info("worker %d started (pid %d)", slot, process.pid)
        return process

    async def _keep(self, slot: int, task_status: trio.TaskStatus[None]) -> None:
        """Run worker `slot`, and again after each unexpected death while the budget allows."""
        process = await self._spawn(slot)
        task_status.started()
        while True:
            code = await process.wait()
            if self.stopping.is_set():
                return
            log.error("worker %d (pid %d) died: %s", slot, process.pid, _exit_reason(code))
            # Gone for sure (reaped): its successor ends its lease instead of waiting it out.
            self.dead_nodes = [*self.dead_nodes[-(MAX_RETIRED - 1) :], self.node_ids[slot]]
            if not self.budget.allow():
                policy = self.budget.policy
                self.failure = (
                    f"worker processes died more than {policy.max_restarts} times within "
                    f"{policy.within_seconds:g} s; giving up (see the log above)"
                )
                self.stopping.set()
                return
            await trio.sleep(RESTART_DELAY)
            if self.stopping.is_set():
                return
            self.restarts += 1
            process = await self._spawn(slot)

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
            async for signum in received:
                if self.stopping.is_set():  # a second signal: no more waiting
                    log.warning("second %s: killing the workers", signal.Signals(signum).name)
                    self._signal_all(signal.SIGKILL)
                    continue
                log.info("received %s: stopping the workers", signal.Signals(signum).name)
                self.stopping.set()

    def _signal_all(self, signum: int) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signum)

    async def _stop_all(self) -> None:
        """SIGTERM every worker, wait for them, SIGKILL the ones still there after the timeout."""
        self._signal_all(signal.SIGTERM)
        with trio.move_on_after(self.stop_timeout):
            for process in self.processes.values():
                await process.wait()
        for slot, process in self.processes.items():
            if process.returncode is None:
                log.error("worker %d (pid %d) did not stop in time: killed", slot, process.pid)
                process.kill()
                self.killed += 1
                await process.wait()


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


async def run_group(
    settings: Settings,
    *,
    announce: Callable[[str], None] = print,
    access_log: bool = False,
    verbose: bool = False,
    task_status: trio.TaskStatus[WorkerGroup] = trio.TASK_STATUS_IGNORED,
) -> None:
    """What `chinwag serve --workers N` runs; raises WorkersFailed when the group gave up."""
    lock = None if settings.database_url else lock_directory(settings.data_dir)
    try:
        if lock is not None:
            join_group(lock.fd)  # the bootstrap's engine opens under the group's lock
        listener = bind_public(settings.bind)
        # Port 0 picks a free port: everyone (talk URLs, workers) uses the one bound.
        host = settings.bind.rpartition(":")[0]
        settings = msgspec.structs.replace(settings, bind=f"{host}:{listener.getsockname()[1]}")
        try:
            await bootstrap_once(settings, announce)
            group = WorkerGroup(settings, listener, lock, access_log=access_log, verbose=verbose)
            async with trio.open_nursery() as nursery:
                await nursery.start(group.run)
                url = "http://" + settings.bind
                announce(
                    f"chinwag is listening on {url} with {settings.workers} worker processes "
                    "(Ctrl+C to stop)"
                )
                task_status.started(group)
        finally:
            listener.close()
    finally:
        if lock is not None:
            lock.release()
    if group.failure is not None:
        raise WorkersFailed(group.failure)
    if group.killed:
        announce(f"chinwag stopped; {group.killed} worker(s) had to be killed.")
    else:
        announce("chinwag stopped; all writes are flushed.")


__all__ = ["RestartBudget", "WorkerGroup", "WorkersFailed", "bind_public", "run_group"]
