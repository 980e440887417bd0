"""What every part of the facade shares: the actor context, storage, the actor directories
and how an ask becomes a public error (mailbox full: 429, actor stopped: 503).

Also the record lookups every concern uses (chat clients, AI gateways), the clock and the
runtime's typed stats. Module helpers here check ids given by callers."""

from __future__ import annotations

import logging
import re
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

import msgspec

from chinwag.actors.access_keys import AccessKeys
from chinwag.actors.context import ActorContext
from chinwag.actors.session import (
    StopTurn,
)
from chinwag.actors.tree import ActorTree
from chinwag.errors import (
    InvalidInput,
    NotFound,
    RateLimited,
    ServiceUnavailable,
)
from chinwag.integrations.manager import IntegrationManager
from chinwag.records import (
    ChatClient,
    ClientParameters,
    Gateway,
    GatewayParameters,
    LimitingParameters,
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
from chinwag.storage.keys import id_bytes

log = logging.getLogger("chinwag")


MAX_TAG_LENGTH = 256


MAX_LIST_LIMIT = 200


# Message pages (GET …/messages): API.md Revision 2 "Paging".
DEFAULT_MESSAGE_PAGE = 100


MAX_MESSAGE_PAGE = 500


MAX_SEQ = (1 << 63) - 1


# Messages read per step when a transcript streams.
STREAM_PAGE = 16


def _validation_error(exc: msgspec.ValidationError, prefix: str) -> InvalidInput:
    """msgspec says 'Expected `int`, got `str` - at `$.maxMessages`'; name the field plainly."""
    text = str(exc)
    if " - at `$" in text:
        detail, _, path = text.rpartition(" - at `$")
        field = prefix + path.rstrip("`")
        return InvalidInput(f"{field}: {detail}")
    return InvalidInput(f"{prefix}: {text}" if prefix else text)


def _convert(value: Any, kind: type, field: str) -> Any:
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be an object")
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc, field) from None


def _merge(current: Any, patch: Any, kind: type, field: str) -> Any:
    """Shallow merge: keys in `patch` replace those of `current`; the result is validated."""
    if patch is None:
        return current
    if not isinstance(patch, dict):
        raise InvalidInput(f"{field} must be an object")
    merged = {**msgspec.to_builtins(current), **patch}
    return _convert(merged, kind, field)


def _check_name(name: Any, field: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{field} must be a non-empty string")
    if len(name) > 200:
        raise InvalidInput(f"{field} must be at most 200 characters")
    return name.strip()


MAX_LIMIT_VALUE = 1_000_000_000


MAX_METADATA_BYTES = 64 * 1024


_ORIGIN = re.compile(r"^(https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?|'self')$")


_IMAGE_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")


MAX_IMAGE_ORIGINS = 20


def _check_limits(limiting: LimitingParameters) -> None:
    for field in msgspec.structs.fields(limiting):
        value = getattr(limiting, field.name)
        if value is not None and not 1 <= value <= MAX_LIMIT_VALUE:
            raise InvalidInput(
                f"limitingParameters.{field.encode_name} must be between 1 and {MAX_LIMIT_VALUE}"
            )
    if limiting.max_messages is not None and limiting.max_messages < 2:
        raise InvalidInput(
            "limitingParameters.maxMessages must be at least 2 (a user message and its reply)"
        )


def _check_client_parameters(params: ClientParameters) -> None:
    for index, origin in enumerate(params.allowed_frame_origins):
        if not _ORIGIN.match(origin):
            raise InvalidInput(
                f"clientParameters.allowedFrameOrigins[{index}] must be an origin such as "
                "https://example.com, https://*.example.com or 'self'"
            )
    if len(params.image_origins) > MAX_IMAGE_ORIGINS:
        raise InvalidInput(f"clientParameters.imageOrigins has at most {MAX_IMAGE_ORIGINS} entries")
    for index, origin in enumerate(params.image_origins):
        if not _IMAGE_ORIGIN.match(origin):
            raise InvalidInput(
                f"clientParameters.imageOrigins[{index}] must be an origin such as "
                "https://images.example.com (scheme, host and optional port)"
            )
    if not 0 <= params.message_debounce_interval <= 60:
        raise InvalidInput(
            "clientParameters.messageDebounceInterval must be between 0 and 60 seconds"
        )


def _check_metadata(metadata: dict[str, Any]) -> None:
    """Metadata is stored as msgpack: integers must fit in 64 bits, and it must stay small."""
    try:
        size = len(msgspec.msgpack.encode(metadata))
    except (OverflowError, RecursionError, TypeError):
        raise InvalidInput(
            "metadata must be plain JSON with integers that fit in 64 bits"
        ) from None
    if size > MAX_METADATA_BYTES:
        raise InvalidInput(f"metadata must be at most {MAX_METADATA_BYTES // 1024} KiB")


def _check_gateway(parameters: GatewayParameters) -> None:
    if parameters.provider == "openai":
        if not parameters.base_url:
            raise InvalidInput("parameters.baseUrl is required for provider 'openai'")
        if not parameters.model:
            raise InvalidInput("parameters.model is required for provider 'openai'")
    if parameters.base_url is not None and urlsplit(parameters.base_url).scheme not in (
        "http",
        "https",
    ):
        raise InvalidInput("parameters.baseUrl must be an http(s) URL")
    search_url = parameters.research.web_search_url
    if search_url is not None and (
        urlsplit(search_url).scheme not in ("http", "https") or not urlsplit(search_url).netloc
    ):
        raise InvalidInput("parameters.research.webSearchUrl must be an http(s) URL")
    if parameters.timeout_seconds <= 0:
        raise InvalidInput("parameters.timeoutSeconds must be positive")
    if not 0 <= parameters.max_tool_steps <= 16:
        raise InvalidInput("parameters.maxToolSteps must be between 0 and 16")
    if not 0 <= parameters.stream_delay_seconds <= 5:
        raise InvalidInput("parameters.streamDelaySeconds must be between 0 and 5")


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
    ) -> None:
        self.core = core
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

    def get_gateway(self, gateway_id: str) -> Gateway:
        gateway = self.repo.gateway(gateway_id) if _is_id(gateway_id) else None
        if gateway is None:
            raise NotFound(f"AI gateway {gateway_id} was not found")
        return gateway

    def now(self) -> float:
        return self.core.clock.now()

    def stats(self) -> RuntimeStats:
        """Gauges and counters for /metrics (the integrations report their own)."""
        metrics = self.core.metrics
        transactions, writes = self.engine.commit_stats
        return RuntimeStats(
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
