"""`open_runtime`: builds every part of one runtime and hands it in; the only place that does.

    async with chinwag.open_runtime(Settings(data_dir="./data")) as cw:
        opened = await cw.open_session(client_id, tag="user-42")
        result = await cw.prompt(opened.session.id, "Hello")

Built here: the storage engine and its `Repository` and `IntegrationStore`, the HTTP client,
the actor system and the actors' context (clock, settings, counters), the facade, and the
integration manager (handed to the HTTP app by the caller: `create_app(cw, settings,
cw.integrations)`). Shutdown order matters for "nothing acknowledged is lost": background
tasks stop, running replies are cancelled and stored as stopped, mailboxes drain, the writer
flushes, the engine closes.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
import trio

from chinwag.actors.access_keys import AccessKeys
from chinwag.actors.context import ActorContext
from chinwag.actors.tree import build_actor_tree
from chinwag.clock import WallClock
from chinwag.config import Settings
from chinwag.facade import Chinwag
from chinwag.gateways.base import AssistantDeps
from chinwag.integrations.inbox import InboxItem
from chinwag.integrations.manager import IntegrationManager
from chinwag.integrations.outbox import OutboxReply
from chinwag.runtime import open_actor_system as _open_actor_system
from chinwag.storage.engine import LmdbEngine
from chinwag.storage.integration_store import IntegrationStore
from chinwag.storage.keys import TABLES
from chinwag.storage.repository import Repository


async def _load_secret(repo: Repository) -> bytes:
    secret = repo.meta("access_key_secret")
    if secret is None:
        secret = secrets.token_bytes(32)
        await repo.commit(repo.put_meta("access_key_secret", secret))
    return secret


@asynccontextmanager
async def open_runtime(
    settings: Settings | None = None, **overrides: Any
) -> AsyncIterator[Chinwag]:
    """Open the data directory and run chinwag inside the caller's Trio program."""
    settings = settings or Settings()
    if overrides:
        settings = msgspec.structs.replace(settings, **overrides)
    engine = LmdbEngine.open(settings.data_dir, TABLES, map_size=settings.map_size)
    try:
        repo = Repository(engine)
        secret = await _load_secret(repo)
        timeout = httpx.Timeout(30.0, connect=10.0)
        async with (
            httpx.AsyncClient(timeout=timeout) as http,
            _open_actor_system() as system,
            trio.open_nursery() as turns,
        ):
            core = ActorContext(
                repo=repo,
                clock=WallClock(),
                settings=settings,
                assistant_deps=AssistantDeps(http, settings.fetch_allow_private),
                nursery=turns,
            )
            chinwag = Chinwag(core, build_actor_tree(core, system), AccessKeys(secret), engine)
            integration_store = IntegrationStore(engine, InboxItem, OutboxReply)
            chinwag.integrations = IntegrationManager(
                chinwag, integration_store, settings, background=core.background
            )
            async with trio.open_nursery() as background:
                await background.start(chinwag.sweeper.run)
                await background.start(chinwag.integrations.run)
                try:
                    yield chinwag
                finally:
                    background.cancel_scope.cancel()
            chinwag.stop_all_turns()
    finally:
        engine.close()
