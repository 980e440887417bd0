"""Serving the app with Hypercorn's Trio worker, inside the caller's nursery.

Embedding (a Trio program that already runs the runtime):

    async with open_runtime(settings) as chinwag, trio.open_nursery() as nursery:
        app = create_app(chinwag, settings, chinwag.integrations)
        stop = trio.Event()
        binds = await nursery.start(partial(serve_app, app, settings, shutdown_trigger=stop.wait))
        ...                      # binds == ["http://127.0.0.1:8080"]
        stop.set()               # graceful: in-flight requests get `graceful_timeout` seconds

`run_server` is what `chinwag serve` runs: runtime + first-start bootstrap + app + signals.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable
from functools import partial

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from chinwag.config import Settings

log = logging.getLogger(__name__)

DEFAULT_GRACEFUL_TIMEOUT = 10.0


def hypercorn_config(
    settings: Settings,
    *,
    bind: str | None = None,
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT,
    access_log: bool = False,
) -> Config:
    """Hypercorn settings for chinwag: one bind, quiet access log, bounded graceful shutdown."""
    config = Config()
    config.bind = [bind or settings.bind]
    config.graceful_timeout = graceful_timeout
    config.accesslog = logging.getLogger("chinwag.access") if access_log else None
    config.errorlog = logging.getLogger("chinwag.server")
    config.include_server_header = False
    # Slightly above Quart's body limit so Quart (not h11) answers oversize bodies with 413.
    config.h11_max_incomplete_size = 64 * 1024
    config.backlog = 1024
    return config


async def serve_app(
    app: object,
    settings: Settings,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    bind: str | None = None,
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT,
    access_log: bool = False,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` until `shutdown_trigger` returns; `task_status.started` gets the bound URLs."""
    config = hypercorn_config(
        settings, bind=bind, graceful_timeout=graceful_timeout, access_log=access_log
    )
    await serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)  # type: ignore[arg-type]


async def watch_signals(
    stop: trio.Event, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
) -> None:
    """Set `stop` on SIGINT/SIGTERM; return as soon as `stop` is set (by a signal or anyone)."""
    with trio.open_signal_receiver(*signals) as received:

        async def on_signal() -> None:
            async for signum in received:
                log.info("received %s: shutting down gracefully", signal.Signals(signum).name)
                stop.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(on_signal)
            await stop.wait()
            nursery.cancel_scope.cancel()


async def run_server(
    settings: Settings,
    *,
    announce: Callable[[str], None] = print,
    access_log: bool = False,
    stop: trio.Event | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Open the runtime, bootstrap a first start, serve until SIGINT/SIGTERM (or `stop`)."""
    from chinwag.bootstrap import bootstrap, describe
    from chinwag.http.app import create_app
    from chinwag.wiring import open_runtime

    stop = trio.Event() if stop is None else stop
    async with open_runtime(settings) as chinwag:
        result = await bootstrap(chinwag, settings)
        for line in describe(result, settings):
            announce(line)
        app = create_app(chinwag, settings, chinwag.integrations)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_signals, stop)
            binds = await nursery.start(
                partial(serve_app, app, settings, shutdown_trigger=stop.wait, access_log=access_log)
            )
            for url in binds:
                announce(f"chinwag is listening on {url} (Ctrl+C to stop)")
            task_status.started(binds)
            # Both tasks end once `stop` is set: Hypercorn after in-flight requests finished
            # (or graceful_timeout passed); then the runtime closes and flushes its writes.
    announce("chinwag stopped; all writes are flushed.")
