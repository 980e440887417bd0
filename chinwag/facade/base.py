"""What every part of the facade shares: the actor context, storage, the actor directories
and how an ask becomes a public error (mailbox full: 429, actor stopped: 503).

Also the record lookups every concern uses (chat clients, AI gateways), the clock and the
runtime's typed stats. Module helpers here check ids given by callers."""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import trio

from chinwag.actors.access_keys import AccessKeys
from chinwag.actors.context import ActorContext
from chinwag.actors.session import (
    StopTurn,
    new_id,
)
from chinwag.actors.tree import ActorTree
from chinwag.errors import (
    NotFound,
    RateLimited,
    ServiceUnavailable,
)
from chinwag.records import (
    ChatClient,
    Gateway,
)
from chinwag.runtime import (
    ActorStopped,
    Directory,
    MailboxFull,
)
from chinwag.service import (
    RuntimeStats,
)
from chinwag.storage.engine import StorageEngine
from chinwag.storage.errors import StorageError
from chinwag.storage.keys import id_bytes

if TYPE_CHECKING:  # built around the facade by open_runtime; no import at run time
    from chinwag.cluster.node import Node
    from chinwag.integrations.manager import IntegrationManager

log = logging.getLogger("chinwag")

# /healthz's `node` of a single-process (LMDB) runtime: fixed for the life of the process.
_PROCESS_NODE_ID = new_id()


# /healthz answers within this many seconds even when the store hangs (a load balancer's check
# must not wait for a database connect timeout).
HEALTH_TIMEOUT = 1.5

# Messages read per step when a transcript streams.
STREAM_PAGE = 16
# Conditional batches lost to a racing writer are retried this often before a 409.
RACE_ATTEMPTS = 5


def _is_id(value: Any) -> bool:
    """Whether a client-given id can name a record at all (a malformed one names nothing)."""
    if not isinstance(value, str):
        return False
    try:
        id_bytes(value)
    except ValueError:
        return False
    return True


def _check_session_id(session_id: str) -> str:
    """A malformed session id cannot name a session: 404, like an unknown one."""
    if not _is_id(session_id):
        raise NotFound(f"session {session_id} was not found")
    return session_id


class FacadeBase:
    """State and plumbing shared by the concern classes of `chinwag.facade.Chinwag`."""

    # The Telegram/Z-API side, built around the facade and handed in by `open_runtime`.
    integrations: IntegrationManager

    def __init__(
        self,
        core: ActorContext,
        actors: ActorTree,
        access_keys: AccessKeys,
        engine: StorageEngine,
        node: Node | None = None,
    ) -> None:
        self.core = core
        # Cluster mode (a shared store): session actors claim and fence (chinwag/cluster).
        self.node = node
        self.settings = core.settings
        self.repo = core.repo
        self.engine = engine
        self._access_keys = access_keys
        self.closing = False
        self.supervisor = actors.supervisor
        self.sessions = actors.sessions
        self.registry = actors.registry
        self.sweeper = actors.sweeper

    async def _ask_session(self, session_id: str, message: Any) -> Any:
        return await self._ask(self.sessions, session_id, message)

    async def _ask(self, directory: Directory[Any], key: Any, message: Any) -> Any:
        if self.closing:
            raise ServiceUnavailable("chinwag is shutting down; try again shortly")
        try:
            return await directory.ask(key, message)
        except MailboxFull:
            raise RateLimited(
                "this session is receiving too many requests; try again shortly", retry_after=1
            ) from None
        except ActorStopped as exc:
            raise ServiceUnavailable("this session is temporarily unavailable; try again") from exc

    def get_client(self, client_id: str) -> ChatClient:
        client = self.repo.client(client_id) if _is_id(client_id) else None
        if client is None:
            raise NotFound(f"chat client {client_id} was not found")
        return client

    async def aget_client(self, client_id: str) -> ChatClient:
        """`get_client` without blocking the Trio thread (a round trip on PostgreSQL)."""
        client = await self.repo.aclient(client_id) if _is_id(client_id) else None
        if client is None:
            raise NotFound(f"chat client {client_id} was not found")
        return client

    def get_gateway(self, gateway_id: str) -> Gateway:
        gateway = self.repo.gateway(gateway_id) if _is_id(gateway_id) else None
        if gateway is None:
            raise NotFound(f"AI gateway {gateway_id} was not found")
        return gateway

    def now(self) -> float:
        return self.core.clock.now()

    async def chat_session_id(self, client_id: str, channel: str, chat_id: str) -> str | None:
        """The session a Telegram/WhatsApp chat talks in (None: none yet)."""
        return await self.repo.asession_id_by_channel(client_id, channel, chat_id)

    async def health(self) -> dict[str, Any]:
        """/healthz: this node, the storage engine, and how many live nodes share it.

        `status` is "unavailable" (and `nodes` None) when one read of the store fails or does not
        answer within HEALTH_TIMEOUT: the read runs in a thread that is abandoned on timeout, so a
        database that hangs (or refuses connections) never holds the health check."""
        node = self.node.id if self.node is not None else _PROCESS_NODE_ID
        nodes: int | None = None
        with trio.move_on_after(HEALTH_TIMEOUT):
            try:
                await trio.to_thread.run_sync(self.repo.meta, "health", abandon_on_cancel=True)
                nodes = len(await self.node.live_nodes()) if self.node is not None else 1
            except StorageError as exc:
                log.warning("health check: the store failed: %s", exc)
        if nodes is None:
            log.warning("health check: the store did not answer")
        return {
            "status": "ok" if nodes is not None else "unavailable",
            "node": node,
            "storage": self.engine.name,
            "nodes": nodes,
        }

    def stats(self) -> RuntimeStats:
        """Gauges and counters for /metrics (the integrations report their own)."""
        metrics = self.core.metrics
        transactions, writes = self.engine.commit_stats
        return RuntimeStats(
            cluster=dict(vars(self.node.counters)) if self.node is not None else {},
            live_sessions=len(self.sessions),
            session_activations=self.sessions.activations,
            session_passivations=self.sessions.passivations,
            stored_sessions=self.repo.count_sessions(),
            turns_started=metrics.turns_started,
            model_errors=metrics.model_errors,
            sessions_created=metrics.sessions_created,
            sessions_purged=metrics.sessions_purged,
            actor_restarts=self.supervisor.restart_count,
            background_failures=dict(self.core.background.counts),
            writer_transactions=transactions,
            writer_writes=writes,
        )

    def stop_all_turns(self) -> None:
        """Cancel every running reply (they are stored as stopped); used at shutdown."""
        self.closing = self.core.closing = True
        for session_id in self.sessions.active_keys():
            with suppress(MailboxFull, ActorStopped):
                self.sessions.ref(session_id).tell(StopTurn())
