"""What every actor of one runtime shares: storage, clock, settings, HTTP client, task spawning.

Passed explicitly to actors (no globals), so several runtimes can live in one process.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

from chinwag.clock import WallClock
from chinwag.config import Settings
from chinwag.errors import NotFound
from chinwag.gateways.base import AssistantDeps
from chinwag.records import ChatClient, Gateway, Session
from chinwag.runtime.background import BackgroundFailures
from chinwag.storage.repository import Repository

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RuntimeCounters:
    """Counters the metrics endpoint reads."""

    turns_started: int = 0
    model_errors: int = 0
    sessions_created: int = 0
    sessions_purged: int = 0


class ActorContext:
    """The parts of one runtime its actors use, handed in by `open_runtime` (no globals)."""

    def __init__(
        self,
        *,
        repo: Repository,
        clock: WallClock,
        settings: Settings,
        assistant_deps: AssistantDeps,
        nursery: trio.Nursery,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.settings = settings
        self.assistant_deps = assistant_deps
        self.metrics = RuntimeCounters()
        # Failures of background loops, by loop (see chinwag.runtime.background).
        self.background = BackgroundFailures()
        self._nursery = nursery
        # Set at shutdown: queued prompts are refused instead of starting new replies.
        self.closing = False
        self.expiry_changed: Callable[[float], None] = lambda _expires_at: None
        # Serialises the use of "continue on…" link codes, so a code attaches one chat only.
        self.link_lock = trio.Lock()

    def start_task(self, fn: Callable[..., Awaitable[Any]], *args: Any, name: str) -> None:
        """Run a background task (a streaming turn) inside the runtime's nursery."""
        self._nursery.start_soon(fn, *args, name=name)

    def client_of(self, session: Session) -> ChatClient:
        client = self.repo.client(session.client_id)
        if client is None:
            raise NotFound(f"chat client {session.client_id} was not found")
        return client

    async def aclient_of(self, session: Session) -> ChatClient:
        """`client_of` without blocking the Trio thread (a round trip on PostgreSQL)."""
        client = await self.repo.aclient(session.client_id)
        if client is None:
            raise NotFound(f"chat client {session.client_id} was not found")
        return client

    def gateway_of(self, client: ChatClient) -> Gateway:
        return self._gateway_found(client, self.repo.gateway(client.ai_gateway_id))

    async def agateway_of(self, client: ChatClient) -> Gateway:
        return self._gateway_found(client, await self.repo.agateway(client.ai_gateway_id))

    @staticmethod
    def _gateway_found(client: ChatClient, gateway: Gateway | None) -> Gateway:
        if gateway is None:
            # Said to the public too (a prompt): the internal id goes to the log only.
            log.warning(
                "chat client %s points at a missing AI gateway %s", client.id, client.ai_gateway_id
            )
            raise NotFound("the AI gateway of this chat client was not found")
        return gateway

    async def fetch_context(self, url: str) -> str | None:
        """The session's contextLocation text for this turn (None when the fetch fails)."""
        from chinwag.gateways.context import fetch_context

        return await fetch_context(
            self.assistant_deps.http, url, allow_private=self.settings.fetch_allow_private
        )
