"""The contract the HTTP layer, the CLI and the integrations call: one object per runtime.

It hides actors and storage: callers pass plain values and records and get records back; every
failure is a `chinwag.errors.ChinwagError` carrying its HTTP status and message. It is a
`typing.Protocol` listing exactly what those callers use, so a caller cannot reach past it and a
facade that forgets a method fails the type check instead of silently returning None
(the facade is `chinwag.facade.Chinwag`; tests may stand in their own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from chinwag.actors.reply_log import ReplyGap, ReplyStarted
from chinwag.actors.reply_log import event_id as event_id  # re-exported for the HTTP layer
from chinwag.errors import ChinwagError
from chinwag.gateways.base import Event
from chinwag.records import (
    ChatClient,
    Feedback,
    Gateway,
    Integrations,
    Message,
    Session,
    ToolCall,
    Usage,
)
from chinwag.rules.bounds import DEFAULT_EXPIRES, DEFAULT_SESSION_PAGE

PromptInput = str | dict[str, Any] | list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class OpenedSession:
    session: Session
    access_key: str
    talk_url: str


@dataclass(slots=True)
class TurnResult:
    """The outcome of one prompt: what the seed's prompt endpoint returns in `data`."""

    completion_text: str
    reasoning: str | None
    tool_calls: list[ToolCall]
    usage: Usage
    created_messages: list[Message] = field(default_factory=list)
    status: Literal["complete", "stopped", "error"] = "complete"
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """Last item of a prompt stream. A turn that failed after its reply started has a result
    (status "error", what streamed is stored) and the `error` that ended it."""

    result: TurnResult
    error: ChinwagError | None = None


# A running reply's stream opens with ReplyStarted (the prefix of its event ids);
# GET …/stream may yield ReplyGap (see chinwag.actors.reply_log).
StreamItem = Event | TurnFinished | ReplyStarted | ReplyGap


@dataclass(frozen=True, slots=True)
class FirstStart:
    """The store's first-start setup: "none" (never claimed), "working" (a live process runs
    it), "stale" (its process died before finishing), "done". `version` is the marker as read:
    a claim succeeds only while the store still holds it."""

    state: Literal["none", "working", "stale", "done"]
    version: bytes | None


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class RuntimeStats:
    """Gauges and counters of one runtime, read by /metrics at each scrape."""

    live_sessions: int
    session_activations: int
    session_passivations: int
    stored_sessions: int
    turns_started: int
    model_errors: int
    sessions_created: int
    sessions_purged: int
    actor_restarts: int
    # Items each background loop failed on, by loop name.
    background_failures: dict[str, int]
    # Group commit: transactions and write calls committed (their ratio is the batch size).
    writer_transactions: int
    writer_writes: int
    # Cluster mode's counters (chinwag.cluster.node.Counters), each exported as `<name>_total`.
    cluster: dict[str, int] = field(default_factory=dict)

    def as_metrics(self) -> dict[str, Any]:
        """The names and shapes `chinwag.http.metrics` turns into Prometheus families."""
        return {
            "live_sessions": self.live_sessions,
            "session_activations": self.session_activations,
            "session_passivations": self.session_passivations,
            "stored_sessions": self.stored_sessions,
            "turns_started": self.turns_started,
            "model_errors": self.model_errors,
            "sessions_created": self.sessions_created,
            "sessions_purged": self.sessions_purged,
            "actor_restarts": self.actor_restarts,
            "background_failures_total": {"label": "loop", "values": self.background_failures},
            "writer_transactions_total": self.writer_transactions,
            "writer_writes_total": self.writer_writes,
            **{f"{name}_total": value for name, value in self.cluster.items()},
        }


class ChinwagService(Protocol):
    """Method contract (implemented by `chinwag.facade.Chinwag`)."""

    # ---- operations
    def now(self) -> float:
        """The runtime's wall clock (Unix seconds; it follows Trio's clock under MockClock)."""
        ...

    def stats(self) -> RuntimeStats: ...

    # ---- API keys
    async def create_api_key(self, name: str) -> tuple[ApiKeyInfo, str]: ...
    def list_api_keys(self) -> list[ApiKeyInfo]: ...
    async def revoke_api_key(self, key_id: str) -> None: ...
    def check_api_key(self, presented: str) -> bool: ...
    async def acheck_api_key(self, presented: str) -> bool:
        """`check_api_key` for the Trio thread: on PostgreSQL the read runs in a worker thread."""
        ...

    # ---- AI gateways
    async def create_gateway(self, name: str, parameters: dict[str, Any]) -> Gateway: ...
    def list_gateways(self) -> list[Gateway]: ...
    def get_gateway(self, gateway_id: str) -> Gateway: ...
    async def update_gateway(self, gateway_id: str, patch: dict[str, Any]) -> Gateway: ...
    async def delete_gateway(self, gateway_id: str) -> None: ...

    # ---- chat clients (patch: camelCase keys; parameter objects are shallow-merged)
    async def create_client(self, body: dict[str, Any]) -> ChatClient: ...
    def list_clients(self) -> list[ChatClient]: ...
    async def alist_clients(self) -> list[ChatClient]:
        """`list_clients` for the Trio thread (see `acheck_api_key`)."""
        ...

    def get_client(self, client_id: str) -> ChatClient: ...
    async def aget_client(self, client_id: str) -> ChatClient:
        """`get_client` for the Trio thread (see `acheck_api_key`)."""
        ...

    async def update_client(self, client_id: str, patch: dict[str, Any]) -> ChatClient: ...
    async def delete_client(self, client_id: str) -> None: ...
    async def set_integrations(self, client_id: str, integrations: Integrations) -> ChatClient:
        """Replace a client's Telegram/Z-API settings (the integrations' own field)."""
        ...

    # ---- sessions (management)
    async def open_session(
        self,
        client_id: str,
        *,
        expires: int = DEFAULT_EXPIRES,
        extra_context: str | None = None,
        context_location: str | None = None,
        tag: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> OpenedSession: ...
    def list_sessions(
        self,
        client_id: str,
        *,
        filter: str | None = None,
        limit: int = DEFAULT_SESSION_PAGE,
        cursor: str | None = None,
    ) -> tuple[list[Session], str | None]: ...
    def get_session(self, client_id: str, session_id: str) -> Session: ...
    async def delete_session(self, client_id: str, session_id: str) -> None: ...
    async def clear_session(self, session_id: str) -> None: ...
    def messages(self, session_id: str) -> list[Message]: ...
    def messages_page(
        self, session_id: str, *, limit: int = 100, before: int | None = None
    ) -> list[Message]:
        """At most `limit` messages just before seq `before` (newest when None), oldest first."""
        ...

    async def amessages_page(
        self, session_id: str, *, limit: int = 100, before: int | None = None
    ) -> list[Message]:
        """`messages_page` for the Trio thread (see `acheck_api_key`)."""
        ...

    def iter_messages(self, session_id: str, *, page_size: int = 16) -> Iterator[list[Message]]:
        """The whole history, oldest first, one page at a time (bounded memory)."""
        ...

    # ---- public (access key)
    def resolve_access_key(self, access_key: str, *, allow_expired: bool = False) -> Session: ...
    async def aresolve_access_key(self, access_key: str, *, allow_expired: bool = False) -> Session:
        """`resolve_access_key` for the Trio thread (see `acheck_api_key`)."""
        ...

    def access_key_for(self, session_id: str) -> str: ...
    def access_key_session_id(self, access_key: str) -> str | None: ...
    def prompt_stream(
        self,
        session_id: str,
        prompt: PromptInput,
        *,
        commit: bool = True,
        instructions: str | None = None,
        idempotency_key: str | None = None,
    ) -> AsyncIterator[StreamItem]: ...
    async def prompt(
        self,
        session_id: str,
        prompt: PromptInput,
        *,
        commit: bool = True,
        instructions: str | None = None,
        idempotency_key: str | None = None,
    ) -> TurnResult: ...
    async def stop(self, session_id: str) -> bool: ...
    def limit_state(self, session_id: str) -> dict[str, Any]: ...
    async def alimit_state(self, session_id: str) -> dict[str, Any]:
        """`limit_state` for the Trio thread (see `acheck_api_key`)."""
        ...

    # ---- resumable replies and feedback (chinwag.facade.replies, chinwag.facade.feedback)
    async def follow_reply(
        self, session_id: str, last_event_id: str | None = None
    ) -> AsyncIterator[tuple[str, Any]] | None: ...
    async def set_feedback(
        self, session_id: str, message_id: str, rating: Any, comment: Any = None
    ) -> Feedback | None: ...
    def feedback_for(self, session_id: str, messages: list[Message]) -> dict[str, Feedback]: ...
    async def afeedback_for(self, session_id: str, messages: list[Message]) -> dict[str, Feedback]:
        """`feedback_for` for the Trio thread (see `acheck_api_key`)."""
        ...

    def feedback_by_message(self, session_id: str) -> dict[str, Feedback]: ...
    def list_feedback(
        self,
        client_id: str,
        *,
        rating: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Feedback], str | None]: ...

    # ---- cluster mode
    # This node of a cluster (chinwag.cluster.node.Node), or None on a single-process runtime.
    node: Any

    async def chat_session_id(self, client_id: str, channel: str, chat_id: str) -> str | None:
        """The session a Telegram/WhatsApp chat talks in (None: none yet)."""
        ...

    # ---- first start (chinwag.bootstrap; decided once per store, chinwag.facade.setup)
    async def first_start(self) -> FirstStart: ...
    async def claim_first_start(self, seen: FirstStart) -> bool: ...
    async def finish_first_start(self) -> None: ...

    # ---- operations
    async def health(self) -> dict[str, Any]:
        """{status, node, storage, nodes} for /healthz."""
        ...

    # ---- integrations
    async def open_channel_session(
        self,
        client_id: str,
        channel: Literal["telegram", "zapi"],
        external_id: str,
        duration: float,
    ) -> Session: ...
    async def create_channel_link(
        self, session_id: str, channel: Literal["telegram", "zapi"]
    ) -> tuple[str, float]: ...
    async def attach_channel(
        self, client_id: str, channel: Literal["telegram", "zapi"], external_id: str, code: str
    ) -> str | None: ...
    def talk_url(self, session_id: str) -> str: ...
    def linked_chats(self, session_id: str) -> list[tuple[str, str]]: ...
