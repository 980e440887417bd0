"""`open_runtime`: the whole of chinwag inside the caller's Trio program, behind one facade.

    async with chinwag.open_runtime(Settings(data_dir="./data")) as cw:
        opened = await cw.open_session(client_id, tag="user-42")
        result = await cw.prompt(opened.session.id, "Hello")

Shutdown order matters for "nothing acknowledged is lost": background tasks stop, running
replies are cancelled and stored as stopped, mailboxes drain, the writer flushes, LMDB closes.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal

import httpx
import msgspec
import trio

from chinwag import linkcodes
from chinwag.actors import limits
from chinwag.actors.access_keys import AccessKeys, hash_api_key
from chinwag.actors.core import Core
from chinwag.actors.registry import (
    AttachByCode,
    OpenByChannel,
    OpenByTag,
    RegistryActor,
    RegistryKey,
    channel_key,
    create_session,
    tag_key,
)
from chinwag.actors.session import (
    ClearConversation,
    DeleteSession,
    SessionActor,
    StartTurn,
    StopTurn,
    TurnEnd,
    new_id,
)
from chinwag.actors.sweeper import Sweeper
from chinwag.app_feedback import FeedbackMixin
from chinwag.app_replies import RepliesMixin
from chinwag.clock import WallClock
from chinwag.cluster.fenced import FencedSessionActor
from chinwag.cluster.node import Node, relay_client
from chinwag.config import Settings
from chinwag.errors import (
    ChinwagError,
    Conflict,
    InvalidInput,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from chinwag.gateways.base import AssistantDeps
from chinwag.gateways.fetch import UrlGuard
from chinwag.gateways.images import normalize_prompt
from chinwag.gateways.remote_images import has_remote_images, inline_remote_images
from chinwag.records import (
    ChatClient,
    Gateway,
    Integrations,
    Message,
    Session,
    ToolCall,
    Usage,
)
from chinwag.rules import bounds, checked
from chinwag.rules.bounds import talk_url
from chinwag.rules.prompt import check_idempotency_key, prompt_input
from chinwag.runtime import (
    ActorStopped,
    ActorSystem,
    Directory,
    MailboxFull,
    RestartPolicy,
    Supervisor,
)
from chinwag.runtime import open_actor_system as _open_actor_system
from chinwag.service import (
    ApiKeyInfo,
    ChinwagService,
    OpenedSession,
    PromptInput,
    StreamItem,
    TurnFinished,
    TurnResult,
)
from chinwag.storage.engine import StorageEngine
from chinwag.storage.errors import ConditionFailed
from chinwag.storage.keys import id_bytes
from chinwag.storage.opening import open_engine
from chinwag.storage.repository import ApiKeyRecord, ChannelLink, Repository

log = logging.getLogger("chinwag")

# /healthz's `node` of a single-process (LMDB) runtime: fixed for the life of the process.
_PROCESS_NODE_ID = new_id()
# Messages read per step when a transcript streams.
STREAM_PAGE = 16


def _check_session_id(session_id: str) -> str:
    """A malformed session id cannot name a session: 404, like an unknown one."""
    try:
        id_bytes(session_id)
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"session {session_id} was not found") from None
    return session_id


class Chinwag(FeedbackMixin, RepliesMixin, ChinwagService):
    """The facade over one runtime (see chinwag.service for the contract)."""

    def __init__(
        self,
        core: Core,
        system: ActorSystem,
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
        self.system = system
        self._access_keys = access_keys
        self.closing = False
        self.supervisor = Supervisor(
            RestartPolicy(max(0, core.settings.restart_limit), core.settings.restart_window_seconds)
        )
        self.sessions: Directory[str] = Directory(
            system,
            (lambda session_id: SessionActor(core, session_id))
            if node is None
            else (lambda session_id: FencedSessionActor(core, node, session_id)),
            kind="session",
            idle_timeout=core.settings.passivate_after_seconds,
            mailbox_size=256,
            supervisor=self.supervisor,
        )
        self.registry: Directory[RegistryKey] = Directory(
            system,
            lambda key: RegistryActor(core, self.sessions, key),
            kind="registry",
            idle_timeout=60.0,
            mailbox_size=1024,
            supervisor=self.supervisor,
        )
        self.sweeper = Sweeper(core, self.sessions)
        core.expiry_changed = self.sweeper.expiry_changed

    # ------------------------------------------------------------------ actor calls

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

    # ------------------------------------------------------------------ API keys

    async def create_api_key(self, name: str) -> tuple[ApiKeyInfo, str]:
        name = checked.api_key_name(name)
        plaintext = "cwk_" + secrets.token_urlsafe(32)
        record = ApiKeyRecord(id=new_id(), name=name, created_at=self.core.clock.now())
        await self.repo.commit(self.repo.put_api_key(hash_api_key(plaintext), record))
        return ApiKeyInfo(record.id, record.name, record.created_at), plaintext

    def list_api_keys(self) -> list[ApiKeyInfo]:
        return [ApiKeyInfo(r.id, r.name, r.created_at) for _, r in self.repo.api_keys()]

    async def revoke_api_key(self, key_id: str) -> None:
        for digest, record in self.repo.api_keys():
            if record.id == key_id:
                await self.repo.commit(self.repo.delete_api_key(digest))
                return
        raise NotFound(f"API key {key_id} was not found")

    def check_api_key(self, presented: str) -> bool:
        if not presented:
            return False
        configured = self.settings.api_key
        if configured and hmac.compare_digest(presented.encode(), configured.encode()):
            return True
        # The lookup is by SHA-256 digest, so timing reveals nothing about the stored keys.
        return self.repo.api_key(hash_api_key(presented)) is not None

    # ------------------------------------------------------------------ AI gateways

    async def create_gateway(self, name: str, parameters: dict[str, Any]) -> Gateway:
        name, params = checked.gateway_create(name, parameters)
        now = self.core.clock.now()
        gateway = Gateway(id=new_id(), name=name, parameters=params, created_at=now, updated_at=now)
        await self.repo.commit(self.repo.put_gateway(gateway))
        return gateway

    def list_gateways(self) -> list[Gateway]:
        return self.repo.gateways()

    def get_gateway(self, gateway_id: str) -> Gateway:
        gateway = self._safe(lambda: self.repo.gateway(gateway_id))
        if gateway is None:
            raise NotFound(f"AI gateway {gateway_id} was not found")
        return gateway

    async def update_gateway(self, gateway_id: str, patch: dict[str, Any]) -> Gateway:
        body = checked.gateway_update(patch)
        gateway = self.get_gateway(gateway_id)
        name, params = checked.apply_gateway_update(body, gateway.name, gateway.parameters)
        updated = msgspec.structs.replace(
            gateway, name=name, parameters=params, updated_at=self.core.clock.now()
        )
        await self.repo.commit(self.repo.put_gateway(updated))
        return updated

    async def delete_gateway(self, gateway_id: str) -> None:
        """409 while chat clients use the gateway. The batch checks the gateway's reference
        version read before the clients were listed, so a client created meanwhile (on any
        node) fails it, and the next look finds that client."""
        for _ in range(_RACE_ATTEMPTS):
            self.get_gateway(gateway_id)
            guard = self.repo.gateway_delete_guard(gateway_id)
            users = [c.name for c in self.repo.clients() if c.ai_gateway_id == gateway_id]
            if users:
                raise Conflict(
                    f"AI gateway {gateway_id} is used by chat client(s) {', '.join(users[:5])}; "
                    "delete them or move them to another gateway first"
                )
            try:
                await self.repo.commit([*guard, *self.repo.delete_gateway(gateway_id)])
                return
            except ConditionFailed:
                continue
        raise Conflict(f"AI gateway {gateway_id} kept changing; try again")

    async def _commit_pointing_at_gateway(self, client: ChatClient) -> None:
        """Store `client` only if its gateway still exists when the batch is written (a
        racing delete either sees this client or makes this batch fail: then 404)."""
        for _ in range(_RACE_ATTEMPTS):
            reference = self.repo.gateway_reference(client.ai_gateway_id)
            if reference is None:
                raise _missing_gateway(client.ai_gateway_id)
            try:
                await self.repo.commit([*reference, *self.repo.put_client(client)])
                return
            except ConditionFailed:
                continue  # the gateway changed (updated or deleted) meanwhile: look again
        raise Conflict(f"aiGatewayId: AI gateway {client.ai_gateway_id} kept changing; try again")

    # ------------------------------------------------------------------ chat clients

    async def create_client(self, body: dict[str, Any]) -> ChatClient:
        checked_body, client_params, limiting = checked.client_create(body)
        self._gateway_for_field(checked_body.ai_gateway_id)
        now = self.core.clock.now()
        client = ChatClient(
            id=new_id(),
            name=checked_body.name.strip(),
            ai_gateway_id=checked_body.ai_gateway_id,
            client_parameters=client_params,
            limiting_parameters=limiting,
            created_at=now,
            updated_at=now,
        )
        await self._commit_pointing_at_gateway(client)
        return client

    def _gateway_for_field(self, gateway_id: str) -> Gateway:
        try:
            return self.get_gateway(gateway_id)
        except NotFound:
            raise _missing_gateway(gateway_id) from None

    def list_clients(self) -> list[ChatClient]:
        return self.repo.clients()

    def get_client(self, client_id: str) -> ChatClient:
        client = self._safe(lambda: self.repo.client(client_id))
        if client is None:
            raise NotFound(f"chat client {client_id} was not found")
        return client

    async def update_client(self, client_id: str, patch: dict[str, Any]) -> ChatClient:
        body = checked.client_update(patch)
        client = self.get_client(client_id)
        name = client.name if body.name is msgspec.UNSET else body.name.strip()
        gateway_id = (
            client.ai_gateway_id if body.ai_gateway_id is msgspec.UNSET else body.ai_gateway_id
        )
        self._gateway_for_field(gateway_id)
        params, limiting = checked.apply_client_update(
            body, client.client_parameters, client.limiting_parameters
        )
        updated = msgspec.structs.replace(
            client,
            name=name,
            ai_gateway_id=gateway_id,
            client_parameters=params,
            limiting_parameters=limiting,
            updated_at=self.core.clock.now(),
        )
        await self._commit_pointing_at_gateway(updated)
        return updated

    async def set_integrations(self, client_id: str, integrations: Integrations) -> ChatClient:
        """Replace a client's integration settings (used by the integrations module)."""
        client = self.get_client(client_id)
        updated = msgspec.structs.replace(
            client, integrations=integrations, updated_at=self.core.clock.now()
        )
        await self.repo.commit(self.repo.put_client(updated))
        return updated

    async def delete_client(self, client_id: str) -> None:
        self.get_client(client_id)
        while True:
            batch = self.repo.client_session_ids(client_id, limit=256)
            if not batch:
                break
            async with trio.open_nursery() as nursery:
                for session_id in batch:
                    nursery.start_soon(self._delete_quietly, session_id)
        await self.repo.commit(self.repo.delete_client(client_id))

    async def _delete_quietly(self, session_id: str) -> None:
        with suppress(NotFound):
            await self._ask_session(session_id, DeleteSession())

    # ------------------------------------------------------------------ sessions (management)

    async def open_session(
        self,
        client_id: str,
        *,
        expires: int = bounds.DEFAULT_EXPIRES,
        extra_context: str | None = None,
        context_location: str | None = None,
        tag: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> OpenedSession:
        body = checked.session_create(
            expires=expires,
            extra_context=extra_context,
            context_location=context_location,
            tag=tag,
            metadata=metadata,
        )
        self.get_client(client_id)
        expires, extra_context, context_location = (
            body.expires,
            body.extra_context,
            body.context_location,
        )
        tag, metadata = body.tag, body.metadata
        if tag is not None:
            message = OpenByTag(expires, extra_context, context_location, metadata or {})
            session = await self._ask(self.registry, tag_key(client_id, tag), message)
        else:
            session = await create_session(
                self.core,
                client_id=client_id,
                duration=expires,
                extra_context=extra_context,
                context_location=context_location,
                metadata=metadata,
            )
        key = self._access_keys.issue(session.id)
        return OpenedSession(session, key, talk_url(self.settings.effective_public_url(), key))

    def list_sessions(
        self,
        client_id: str,
        *,
        filter: str | None = None,
        limit: int = bounds.DEFAULT_SESSION_PAGE,
        cursor: str | None = None,
    ) -> tuple[list[Session], str | None]:
        query = checked.session_list_query(filter=filter, limit=limit, cursor=cursor)
        filter, limit, cursor = query.filter, query.limit, query.cursor
        self.get_client(client_id)
        if cursor is not None:
            try:
                _check_session_id(cursor)
            except NotFound:
                raise InvalidInput("cursor is not a cursor returned by this endpoint") from None
        if filter:
            by_id = self._safe(lambda: self.repo.session(filter))
            if by_id is not None and by_id.client_id == client_id:
                return [by_id], None
        found: list[Session] = []
        after = cursor
        while len(found) < limit:
            ids = self.repo.client_session_ids(
                client_id, after=after, limit=limit * 4 if filter else limit
            )
            if not ids:
                return found, None
            for session_id in ids:
                after = session_id
                session = self.repo.session(session_id)
                if session is None or (filter and filter not in (session.tag, session.external_id)):
                    continue
                found.append(session)
                if len(found) == limit:
                    break
        more = bool(self.repo.client_session_ids(client_id, after=after, limit=1))
        return found, (after if more else None)

    def get_session(self, client_id: str, session_id: str) -> Session:
        session = self._safe(lambda: self.repo.session(session_id))
        if session is None or session.client_id != client_id:
            raise NotFound(f"session {session_id} was not found in chat client {client_id}")
        return session

    async def delete_session(self, client_id: str, session_id: str) -> None:
        self.get_session(client_id, session_id)
        await self._ask_session(session_id, DeleteSession())

    async def clear_session(self, session_id: str) -> None:
        _check_session_id(session_id)
        await self._ask_session(session_id, ClearConversation())

    def messages(self, session_id: str) -> list[Message]:
        """The whole history at once: for tests and small exports; servers use the pages."""
        _check_session_id(session_id)
        return self.repo.messages(session_id)

    def messages_page(
        self,
        session_id: str,
        *,
        limit: int = bounds.DEFAULT_MESSAGE_PAGE,
        before: int | None = None,
    ) -> list[Message]:
        query = checked.message_page_query(limit=limit, before=before)
        _check_session_id(session_id)
        return self.repo.messages_page(session_id, limit=query.limit, before=query.before)

    def iter_messages(
        self, session_id: str, *, page_size: int = STREAM_PAGE
    ) -> Iterator[list[Message]]:
        """The history oldest first, one short read per page, so an export of any length
        holds one page in memory at a time."""
        _check_session_id(session_id)
        after: int | None = None
        while True:
            page = self.repo.messages_after(session_id, after, limit=page_size)
            if page:
                yield page
            if len(page) < page_size:
                return
            after = page[-1].seq

    # ------------------------------------------------------------------ public (access key)

    def resolve_access_key(self, access_key: str, *, allow_expired: bool = False) -> Session:
        session_id = (
            self._access_keys.session_id(access_key) if isinstance(access_key, str) else None
        )
        session = self.repo.session(session_id) if session_id else None
        if session is None:
            raise Unauthorized("unknown access key: the link is invalid or the session was deleted")
        if not allow_expired:
            limits.ensure_active(session, self.core.clock.now())
        return session

    def access_key_for(self, session_id: str) -> str:
        return self._access_keys.issue(session_id)

    async def prompt_stream(
        self,
        session_id: str,
        prompt: PromptInput,
        *,
        commit: bool = True,
        instructions: str | None = None,
        idempotency_key: str | None = None,
    ) -> AsyncIterator[StreamItem]:
        body = prompt_input(
            prompt,
            commit=commit,
            instructions=instructions,
            max_chars=self.settings.max_prompt_chars,
        )
        prompt, commit, instructions = body.prompt_builtins(), body.commit, body.instructions
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        prompt = await self._inline_remote_images(session_id, prompt)
        send, receive = trio.open_memory_channel[Any](math.inf)
        async with receive:
            start = StartTurn(prompt, commit, instructions, send, idempotency_key)
            await self._ask_session(session_id, start)
            async for item in receive:
                if isinstance(item, TurnEnd):
                    yield _turn_finished(item)
                    return
                yield item
        raise ServiceUnavailable(
            "the reply ended unexpectedly; the conversation keeps what was stored"
        )

    async def _inline_remote_images(self, session_id: str, prompt: PromptInput) -> PromptInput:
        """Fetch http(s) image URLs through the address guard and send them as data URLs
        (see chinwag.gateways.remote_images), after the prompt's own checks pass."""
        if not has_remote_images(prompt):
            return prompt
        session = self._safe(lambda: self.repo.session(session_id))
        if session is None:
            return prompt  # the session actor answers 404
        client = self.core.client_of(session)
        normalize_prompt(prompt, allow_images="Image" in client.client_parameters.input_modes)
        guard = UrlGuard(allow_private=self.settings.fetch_allow_private)
        return await inline_remote_images(prompt, self.core.assistant_deps.http, guard=guard)

    async def prompt(
        self,
        session_id: str,
        prompt: PromptInput,
        *,
        commit: bool = True,
        instructions: str | None = None,
        idempotency_key: str | None = None,
    ) -> TurnResult:
        stream = self.prompt_stream(
            session_id,
            prompt,
            commit=commit,
            instructions=instructions,
            idempotency_key=idempotency_key,
        )
        async with _aclosing(stream):
            async for item in stream:
                if isinstance(item, TurnFinished):
                    if item.error is not None:
                        raise item.error
                    return item.result
        raise ServiceUnavailable("the reply ended unexpectedly")

    async def stop(self, session_id: str) -> bool:
        _check_session_id(session_id)
        return bool(await self._ask_session(session_id, StopTurn()))

    def limit_state(self, session_id: str) -> dict[str, Any]:
        session = self.repo.session(session_id)
        if session is None:
            raise NotFound(f"session {session_id} was not found")
        client = self.core.client_of(session)
        return limits.limit_state(
            session,
            client.limiting_parameters,
            self.core.clock.now(),
            self.settings.max_history_bytes,
        )

    # ------------------------------------------------------------------ integrations

    async def open_channel_session(
        self,
        client_id: str,
        channel: Literal["telegram", "zapi"],
        external_id: str,
        duration: float,
    ) -> Session:
        self.get_client(client_id)
        return await self._ask(
            self.registry, channel_key(client_id, channel, external_id), OpenByChannel(duration)
        )

    # ------------------------------------------------------------------ one chat, several apps

    async def create_channel_link(
        self, session_id: str, channel: Literal["telegram", "zapi"]
    ) -> tuple[str, float]:
        """A fresh single-use code that attaches a chat on `channel` to this session.

        Returns (code, expiresAt). A newer code for the same session and channel replaces the
        older one, so a session never holds more than one live code per channel.
        """
        session = self.repo.session(_check_session_id(session_id))
        if session is None:
            raise NotFound(f"session {session_id} was not found")
        now = self.core.clock.now()
        limits.ensure_active(session, now)
        code = linkcodes.new_code()
        expires_at = min(now + linkcodes.LINK_TTL_SECONDS, session.expires_at)
        link = ChannelLink(
            client_id=session.client_id,
            session_id=session.id,
            channel=channel,
            expires_at=expires_at,
        )
        await self.repo.commit(self.repo.put_channel_link(linkcodes.digest(code), link))
        return code, expires_at

    async def attach_channel(
        self, client_id: str, channel: Literal["telegram", "zapi"], external_id: str, code: str
    ) -> str | None:
        """Use a link code from a chat: the chat joins the code's session (its earlier session
        ends). Returns that session id, or None for an unknown, used or expired code."""
        self.get_client(client_id)
        message = AttachByCode(linkcodes.digest(code))
        return await self._ask(self.registry, channel_key(client_id, channel, external_id), message)

    def talk_url(self, session_id: str) -> str:
        """The talk page of a session (for `/web` in a chat)."""
        key = self._access_keys.issue(_check_session_id(session_id))
        return talk_url(self.settings.effective_public_url(), key)

    def linked_chats(self, session_id: str) -> list[tuple[str, str]]:
        """(channel, external id) of the chats attached to a session with a link code."""
        return self.repo.chats_of_session(_check_session_id(session_id))

    # ------------------------------------------------------------------ operations

    async def health(self) -> dict[str, Any]:
        """/healthz: this node, the storage engine, and how many live nodes share it."""
        nodes = len(await self.node.live_nodes()) if self.node is not None else 1
        return {
            "status": "ok",
            "node": self.node.id if self.node is not None else _PROCESS_NODE_ID,
            "storage": self.engine.name,
            "nodes": nodes,
        }

    def stats(self) -> dict[str, Any]:
        """Gauges and counters for /metrics."""
        metrics = self.core.metrics
        cluster = vars(self.node.counters) if self.node is not None else {}
        return {
            **{f"{name}_total": value for name, value in cluster.items()},
            "live_sessions": len(self.sessions),
            "session_activations": self.sessions.activations,
            "session_passivations": self.sessions.passivations,
            "stored_sessions": self.repo.count_sessions(),
            "turns_started": metrics.turns_started,
            "model_errors": metrics.model_errors,
            "sessions_created": metrics.sessions_created,
            "sessions_purged": metrics.sessions_purged,
            "actor_restarts": self.supervisor.restart_count,
            "background_failures_total": self.core.background.metric(),
            **self._writer_stats(),
            **self._integration_stats(),
        }

    def _integration_stats(self) -> dict[str, float]:
        try:
            from chinwag.integrations.manager import manager_for
        except ImportError:
            return {}
        return dict(manager_for(self).stats())

    def _writer_stats(self) -> dict[str, float]:
        """Group commit: transactions and write calls committed (their ratio is the batch size)."""
        commit_stats = getattr(self.engine, "commit_stats", None)
        if commit_stats is None:
            return {}
        transactions, writes = commit_stats
        return {"writer_transactions_total": transactions, "writer_writes_total": writes}

    def stop_all_turns(self) -> None:
        """Cancel every running reply (they are stored as stopped); used at shutdown."""
        self.closing = self.core.closing = True
        for session_id in self.sessions.active_keys():
            with suppress(MailboxFull, ActorStopped):
                self.sessions.ref(session_id).tell(StopTurn())

    @staticmethod
    def _safe(read: Any) -> Any:
        """Run a lookup whose id came from a client: a malformed id is simply not found."""
        try:
            return read()
        except (ValueError, TypeError, AttributeError):
            return None


class ChinwagErrorBusy(ChinwagError):
    status = 429
    code = "busy"

    def __init__(self) -> None:
        super().__init__(
            "this session is receiving too many requests; try again shortly", retry_after=1
        )


# Conditional batches lost to a racing writer are retried this often before a 409.
_RACE_ATTEMPTS = 5


def _missing_gateway(gateway_id: str) -> NotFound:
    return NotFound(f"aiGatewayId: AI gateway {gateway_id} was not found")


def _turn_finished(end: TurnEnd) -> TurnFinished:
    """The last item of a prompt stream. A turn that failed before it stored a reply raises its
    error; one that failed after its reply started ends with its stored result (status "error")
    and the error, so a stream shows `error` and then `done`."""
    if end.result is None:
        raise end.error or ChinwagError("the reply ended without a result")
    result = _turn_result(end.result)
    if end.error is not None:
        result.status, result.error = "error", end.error.message
    return TurnFinished(result, end.error)


def _turn_result(data: dict[str, Any]) -> TurnResult:
    return TurnResult(
        completion_text=data["completionText"],
        reasoning=data["reasoning"],
        tool_calls=msgspec.convert(data["toolCalls"], list[ToolCall]),
        usage=msgspec.convert(data["usage"], Usage),
        created_messages=msgspec.convert(data["createdMessages"], list[Message]),
        status=data["status"],
    )


@asynccontextmanager
async def _aclosing(stream: Any) -> AsyncIterator[Any]:
    try:
        yield stream
    finally:
        await stream.aclose()


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
    settings: Settings | None = None, **overrides: Any
) -> AsyncIterator[Chinwag]:
    """Open the storage (LMDB data directory or PostgreSQL) and run chinwag inside Trio."""
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
            core = Core(
                repo=repo,
                clock=WallClock(),
                settings=settings,
                assistant_deps=AssistantDeps(http, settings.fetch_allow_private),
                nursery=turns,
            )
            node = _cluster_node(settings, engine, core.clock)
            if node is not None:
                node.secret = (await _load_secret(repo, "cluster_node_secret")).hex()
                node.http = relay_http
            chinwag = Chinwag(core, system, AccessKeys(secret), engine, node)
            async with trio.open_nursery() as background:
                if node is not None:
                    await background.start(node.run)
                await background.start(chinwag.sweeper.run)
                await _start_integrations(chinwag, background)
                try:
                    yield chinwag
                finally:
                    background.cancel_scope.cancel()
            chinwag.stop_all_turns()
    finally:
        engine.close()


def _cluster_node(settings: Settings, engine: StorageEngine, clock: WallClock) -> Node | None:
    """This process as a cluster node when the store is shared (PostgreSQL), else None."""
    if not settings.database_url:
        return None
    return Node(
        engine=engine,
        clock=clock,
        url=(settings.node_url or f"http://{settings.bind}").rstrip("/"),
        lease_seconds=settings.node_lease_seconds,
        renew_seconds=settings.node_renew_seconds,
    )


async def _start_integrations(chinwag: Chinwag, nursery: trio.Nursery) -> None:
    """Start the Telegram/Z-API machinery (recovering unanswered updates) when it is installed."""
    try:
        from chinwag.integrations.manager import run_integrations
    except ImportError:
        return
    await nursery.start(run_integrations, chinwag)
