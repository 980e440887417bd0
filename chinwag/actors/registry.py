"""The registry: resolves a tag or a (channel, external id) to its session, creating it if needed.

One registry activation per key (client + tag, or client + channel + external id) serialises
the calls for that key, which is what makes 100 concurrent tag calls yield one session, while
different keys proceed in parallel (and their writes share group commits).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from chinwag.actors.session import EndSession, GetSession, Renew, new_id
from chinwag.errors import ChinwagError, NotFound, SessionExpired
from chinwag.records import Channel, Session
from chinwag.runtime import Actor, Directory
from chinwag.storage.errors import ConditionFailed

if TYPE_CHECKING:
    from chinwag.actors.core import Core


@dataclass(frozen=True, slots=True)
class OpenByTag:
    expires: float
    extra_context: str | None
    context_location: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OpenByChannel:
    duration: float


@dataclass(frozen=True, slots=True)
class AttachByCode:
    """Attach this chat to the web session a link code was made for.

    Reply: the session id, or None when the code is unknown, used by another chat, expired,
    for another client or channel, or its session has ended.
    """

    digest: bytes


RegistryKey = tuple[str, str, str]


def tag_key(client_id: str, tag: str) -> RegistryKey:
    """Registry key of a tag; "tag" cannot clash with a channel name."""
    return (client_id, "tag", tag)


def channel_key(client_id: str, channel: Channel, external_id: str) -> RegistryKey:
    return (client_id, channel, external_id)


class RegistryActor(Actor):
    recoverable = (ChinwagError,)

    def __init__(self, core: Core, sessions: Directory[str], key: RegistryKey) -> None:
        self.core = core
        self.sessions = sessions
        self.client_id, self.kind, self.name = key

    async def receive(self, message: Any) -> Any:
        if isinstance(message, OpenByTag):
            return await self._open_by_tag(message)
        if isinstance(message, OpenByChannel):
            return await self._open_by_channel(message)
        if isinstance(message, AttachByCode):
            return await self._attach(message)
        raise TypeError(f"unexpected message {message!r}")

    async def _open_by_tag(self, message: OpenByTag) -> Session:
        # The tag entry is written only if it still holds what was read (cluster mode: another
        # node's registry may create the tag's session meanwhile); the loser renews the winner's.
        for attempt in range(1, INDEX_RACE_ATTEMPTS + 1):
            existing = await self.core.repo.asession_id_by_tag(self.client_id, self.name)
            if existing is not None:
                renew = Renew(
                    message.expires,
                    message.extra_context,
                    message.context_location,
                    message.metadata,
                )
                try:
                    return await self.sessions.ask(existing, renew)
                except (SessionExpired, NotFound):
                    pass  # expired or gone: a new session takes the tag
            try:
                return await create_session(
                    self.core,
                    client_id=self.client_id,
                    duration=message.expires,
                    tag=self.name,
                    extra_context=message.extra_context,
                    context_location=message.context_location,
                    metadata=message.metadata,
                    index_was=existing,
                )
            except ConditionFailed:
                if attempt == INDEX_RACE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _open_by_channel(self, message: OpenByChannel) -> Session:
        repo = self.core.repo
        for attempt in range(1, INDEX_RACE_ATTEMPTS + 1):
            existing = await repo.asession_id_by_channel(self.client_id, self.kind, self.name)
            if existing is not None:
                try:
                    session: Session = await self.sessions.ask(existing, GetSession())
                    if session.expires_at > self.core.clock.now():
                        return session
                except NotFound:
                    pass
            try:
                return await create_session(
                    self.core,
                    client_id=self.client_id,
                    duration=message.duration,
                    channel=self.kind,  # type: ignore[arg-type]
                    external_id=self.name,
                    index_was=existing,
                )
            except ConditionFailed:  # another node made the chat's session first
                if attempt == INDEX_RACE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _attach(self, message: AttachByCode) -> str | None:
        repo = self.core.repo
        # The lock serialises uses within this process; the compare-and-set below makes the
        # use single across processes sharing one database.
        async with self.core.link_lock:
            found = repo.channel_link_version(message.digest)
            if found is None:
                return None
            link, version = found
            now = self.core.clock.now()
            if (link.client_id, link.channel) != (self.client_id, self.kind):
                return None
            if link.used_by is not None:
                # The same chat again (a redelivered /start): already done, say so again.
                return link.session_id if link.used_by == self.name else None
            if link.expires_at <= now:
                return None
            try:
                target: Session = await self.sessions.ask(link.session_id, GetSession())
            except NotFound:
                return None
            if target.expires_at <= now:
                return None
            previous = repo.session_id_by_channel(self.client_id, self.kind, self.name)
            used = msgspec.structs.replace(link, used_by=self.name)
            try:
                await repo.commit(
                    [
                        *repo.use_channel_link(message.digest, version, used),
                        *repo.attach_chat(self.client_id, self.kind, self.name, link.session_id),
                    ]
                )
            except ConditionFailed:
                return None  # another node used (or replaced) the code first
        if previous is not None and previous != link.session_id:
            # The chat's earlier conversation ends (it stays readable until purged).
            with contextlib.suppress(ChinwagError):
                await self.sessions.ask(previous, EndSession())
        return link.session_id


class _Any:
    """No guard on the tag/channel entry (sessions made outside a registry)."""


_ANY = _Any()
# Tries of a tag/channel open that keeps losing the race for the index entry to other nodes.
INDEX_RACE_ATTEMPTS = 4


async def create_session(
    core: Core,
    *,
    client_id: str,
    duration: float,
    tag: str | None = None,
    channel: Channel = "web",
    external_id: str | None = None,
    extra_context: str | None = None,
    context_location: str | None = None,
    metadata: dict[str, Any] | None = None,
    index_was: str | _Any | None = _ANY,
) -> Session:
    """Create and durably store a new session (with its tag/channel index entries).

    `index_was`: the session id the tag or channel entry held when read (None: none); the
    write then fails with ConditionFailed if it changed meanwhile (another node won).
    """
    now = core.clock.now()
    session = Session(
        id=new_id(),
        client_id=client_id,
        channel=channel,
        tag=tag,
        external_id=external_id,
        extra_context=extra_context,
        context_location=context_location,
        metadata=metadata or {},
        created_at=now,
        expires_at=now + duration,
        duration=duration,
    )
    ops = core.repo.put_session(session)
    if not isinstance(index_was, _Any):
        ops.append(core.repo.index_guard(session, index_was))
    await core.repo.commit(ops)
    core.metrics.sessions_created += 1
    core.expiry_changed(session.expires_at)
    return session
