"""One worker of `chinwag serve --workers N`: a cluster node accepting on the inherited socket.

The parent sends the settings as one JSON line on stdin (so credentials are in neither argv nor
the environment) and keeps the pipe open: end of file means the parent is gone (even SIGKILLed),
and the worker stops gracefully, so no orphan keeps the data directory locked. The worker joins
the group's lock on the data directory (storage/dirlock.py), opens the runtime as a cluster
node (the same ownership and fencing layer as on PostgreSQL) whose URL is its own internal
listener, and serves the app on both sockets until SIGTERM/SIGINT or the parent's end.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from functools import partial
from urllib.parse import urlsplit

import msgspec
import trio
from hypercorn.trio import serve

from chinwag.cluster.retire import retire_node
from chinwag.config import Settings
from chinwag.http.server import hypercorn_config, watch_signals
from chinwag.storage.dirlock import join_group
from chinwag.workers.internal import NodeKeyRequired

log = logging.getLogger("chinwag.workers")


class Assignment(msgspec.Struct):
    """What the parent tells a worker on its stdin (one JSON line)."""

    settings: Settings
    # This worker's node id, chosen by the parent so it can name it to a successor.
    node_id: str
    # Nodes of workers that died (the parent reaped them): their leases end at once.
    retire: list[str] = []


def read_assignment(stream: object = None) -> Assignment:
    """The line the parent wrote on our stdin."""
    source = stream if stream is not None else sys.stdin.buffer
    line = source.readline()  # type: ignore[attr-defined]
    if not line:
        raise SystemExit("chinwag worker: nothing on stdin (only serve --workers starts workers)")
    return msgspec.json.decode(line, type=Assignment)


def worker_main(socket_fd: int, lock_fd: int, *, access_log: bool) -> None:
    """Entry of `chinwag serve --worker-socket-fd …` (spawned by the parent, never by hand)."""
    assignment = read_assignment()
    if lock_fd >= 0:
        join_group(lock_fd)
    trio.run(partial(run_worker, assignment, socket_fd, access_log=access_log))


def internal_socket(settings: Settings) -> tuple[socket.socket, str]:
    """A listening-ready socket on a free port of the bind host, and this worker's node URL
    (the port replaced in CHINWAG_NODE_URL when one is set, so siblings on other machines of a
    PostgreSQL cluster can reach it too)."""
    host = settings.bind.rpartition(":")[0].strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    if settings.node_url:
        parts = urlsplit(settings.node_url)
        hostname = parts.hostname or host
        shown = f"[{hostname}]" if ":" in hostname else hostname
        return sock, f"{parts.scheme}://{shown}:{port}"
    reach = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    if ":" in reach and not reach.startswith("["):
        reach = f"[{reach}]"
    return sock, f"http://{reach}:{port}"


async def watch_parent(stop: trio.Event) -> None:
    """Set `stop` when our stdin (the parent's pipe) reaches end of file; return once stopped."""
    stream = trio.lowlevel.FdStream(os.dup(0))
    async with stream, trio.open_nursery() as nursery:

        async def read() -> None:
            while await stream.receive_some(1024):
                pass
            if not stop.is_set():
                log.warning("the parent process is gone: this worker stops")
                stop.set()

        nursery.start_soon(read)
        await stop.wait()
        nursery.cancel_scope.cancel()


async def run_worker(
    assignment: Assignment,
    socket_fd: int,
    *,
    access_log: bool = False,
    stop: trio.Event | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve as one worker until SIGINT/SIGTERM, the parent's end, or `stop`."""
    from chinwag.http.app import create_app
    from chinwag.wiring import open_runtime

    stop = trio.Event() if stop is None else stop
    internal, node_url = internal_socket(assignment.settings)
    internal_port = internal.getsockname()[1]
    settings = msgspec.structs.replace(assignment.settings, node_url=node_url)
    async with open_runtime(settings, node_id=assignment.node_id) as chinwag:
        node = chinwag.node
        assert node is not None, "a worker is always a cluster node"
        for dead in assignment.retire:  # a predecessor's sessions need not wait for its lease
            if await retire_node(node.engine, dead, node.clock.now()):
                log.info("node %s of a dead worker retired", dead)
        app = NodeKeyRequired(
            create_app(chinwag, settings, chinwag.integrations), internal_port, node
        )
        config = hypercorn_config(settings, bind=f"fd://{socket_fd}", access_log=access_log)
        config.bind.append(f"fd://{internal.detach()}")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_signals, stop)
            nursery.start_soon(watch_parent, stop)
            serving = partial(serve, app, config, shutdown_trigger=stop.wait, mode="asgi")
            await nursery.start(serving)
            log.info("worker %d serving as node %s (internal %s)", os.getpid(), node.id, node_url)
            task_status.started()
    log.info("worker %d stopped; its writes are flushed", os.getpid())
