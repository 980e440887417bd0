"""`open_runtime`: builds every part of one runtime and hands it in; the only place that does.

    async with chinwag.open_runtime(Settings(data_dir="./data")) as cw:
        opened = await cw.open_session(client_id, tag="user-42")
        result = await cw.prompt(opened.session.id, "Hello")

Built here: the storage engine (LMDB, or PostgreSQL at `CHINWAG_DATABASE_URL`) and its
`Repository` and `IntegrationStore`, the HTTP clients, the actor system and the actors' context
(clock, settings, counters), the cluster node (PostgreSQL, or a worker of `serve --workers`),
the facade, and the integration manager (handed to the HTTP app by the caller:
`create_app(cw, settings, cw.integrations)`). Shutdown order matters for "nothing acknowledged
is lost": background tasks stop, running replies are cancelled and stored as stopped, mailboxes
drain, the writer flushes, the engine closes.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpx
import msgspec
import trio

from chinwag.actors.access_keys import AccessKeys
from chinwag.actors.context import ActorContext
from chinwag.actors.tree import build_actor_tree
from chinwag.clock import WallClock
from chinwag.cluster.node import Node, relay_client
from chinwag.cluster.retire import retire_node
from chinwag.config import Settings
from chinwag.facade import Chinwag
from chinwag.gateways.base import AssistantDeps
from chinwag.integrations.inbox import InboxItem
from chinwag.integrations.manager import IntegrationManager
from chinwag.integrations.outbox import OutboxReply
from chinwag.runtime import open_actor_system as _open_actor_system
from chinwag.storage.engine import StorageEngine
from chinwag.storage.errors import ConditionFailed
from chinwag.storage.integration_store import IntegrationStore
from chinwag.storage.opening import open_engine
from chinwag.storage.repository import Repository


async def _load_secret(repo: Repository, name: str = "access_key_secret") -> bytes:
    """A secret made once for the whole store: nodes starting together agree on the first."""
    secret = repo.meta(name)
    if secret is None:
        with suppress(ConditionFailed):  # another node stored one first: use that one
            await repo.commit(repo.put_meta_once(name, secrets.token_bytes(32)))
        secret = repo.meta(name)
        assert secret is not None
    return secret


@asynccontextmanager
async def open_runtime(
    settings: Settings | None = None, *, node_id: str | None = None, **overrides: Any
) -> AsyncIterator[Chinwag]:
    """Open the storage (LMDB data directory or PostgreSQL) and run chinwag inside Trio.

    `node_id`: this process's id as a cluster node (default: a fresh one), for a supervisor
    that must know it (`serve --workers`)."""
    settings = settings or Settings()
    if overrides:
        settings = msgspec.structs.replace(settings, **overrides)
    engine = await open_engine(settings)
    try:
        repo = Repository(engine)
        secret = await _load_secret(repo)
        timeout = httpx.Timeout(30.0, connect=10.0)
        async with (
            httpx.AsyncClient(timeout=timeout) as http,
            relay_client() as relay_http,
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
            node = _cluster_node(settings, engine, core.clock, node_id)
            if node is not None:
                node.secret = (await _load_secret(repo, "cluster_node_secret")).hex()
                node.http = relay_http
            chinwag = Chinwag(
                core, build_actor_tree(core, system, node), AccessKeys(secret), engine, node
            )
            integration_store = IntegrationStore(engine, InboxItem, OutboxReply)
            chinwag.integrations = IntegrationManager(
                chinwag, integration_store, settings, background=core.background
            )
            async with trio.open_nursery() as background:
                if node is not None:
                    await background.start(node.run)
                await background.start(chinwag.sweeper.run)
                await background.start(chinwag.integrations.run)
                try:
                    yield chinwag
                finally:
                    background.cancel_scope.cancel()
            chinwag.stop_all_turns()
        if node is not None:  # every actor stopped and released its sessions: leave at once
            with trio.CancelScope(shield=True):
                await retire_node(engine, node.id, core.clock.now())
    finally:
        engine.close()


def _cluster_node(
    settings: Settings, engine: StorageEngine, clock: WallClock, node_id: str | None = None
) -> Node | None:
    """This process as a cluster node when the store is shared (PostgreSQL, or the LMDB env of
    a `serve --workers N` group, whose workers set node_url to their internal listener), else
    None: a single process on LMDB runs no cluster layer at all."""
    if not settings.database_url and settings.workers <= 1:
        return None
    return Node(
        engine=engine,
        clock=clock,
        url=(settings.node_url or f"http://{settings.bind}").rstrip("/"),
        lease_seconds=settings.node_lease_seconds,
        renew_seconds=settings.node_renew_seconds,
        **({"id": node_id} if node_id else {}),
    )
