"""The registry: resolves a tag or a (channel, external id) to its session.

When no live session answers to the key, the registry draws a new id and asks that session's
actor to create it (`CreateSession`): the session actor is the only writer of its record.
One registry activation per key (client + tag, or client + channel + external id) serialises
the calls for that key, which is what makes 100 concurrent tag calls yield one session, while
different keys proceed in parallel (and their writes share group commits).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from chinwag.actors.session import (
    CreateSession,
    EndSession,
    GetSession,
    IndexTaken,
    Renew,
    new_id,
)
from chinwag.errors import ChinwagError, NotFound, SessionExpired
from chinwag.records import Channel, Session
from chinwag.runtime import Actor, Directory
from chinwag.storage.errors import ConditionFailed

if TYPE_CHECKING:
    from chinwag.actors.context import ActorContext


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

    def __init__(self, core: ActorContext, sessions: Directory[str], key: RegistryKey) -> None:
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
                create = CreateSession(
                    client_id=self.client_id,
                    duration=message.expires,
                    tag=self.name,
                    extra_context=message.extra_context,
                    context_location=message.context_location,
                    metadata=message.metadata,
                    guard_index=True,
                    index_was=existing,
                )
                return await self.sessions.ask(new_id(), create)
            except IndexTaken:
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
                create = CreateSession(
                    client_id=self.client_id,
                    duration=message.duration,
                    channel=self.kind,  # type: ignore[arg-type]
                    external_id=self.name,
                    guard_index=True,
                    index_was=existing,
                )
                return await self.sessions.ask(new_id(), create)
            except IndexTaken:  # another node made the chat's session first
                if attempt == INDEX_RACE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _attach(self, message: AttachByCode) -> str | None:
        repo = self.core.repo
        # The lock serialises uses within this process; the compare-and-set below makes the
        # use single across processes sharing one database.
        async with self.core.link_lock:
            found = await repo.achannel_link_version(message.digest)
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
            # The web session is only read (from the store, where its actor saves every
            # change before answering), never activated here: it may live on another node.
            target = await repo.asession(link.session_id)
            if target is None or target.expires_at <= now:
                return None
            previous = await repo.asession_id_by_channel(self.client_id, self.kind, self.name)
            if previous is not None and previous != link.session_id:
                # The chat's earlier session must end where it lives: activate it here first.
                # Held by another live node: NotOwner, nothing written; the chat's lane hands
                # the update to that node (Inbox.hand_over), which attaches and ends it there.
                with contextlib.suppress(NotFound):
                    await self.sessions.ask(previous, GetSession())
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


# Tries of a tag/channel open that keeps losing the race for the index entry to other nodes.
INDEX_RACE_ATTEMPTS = 4
