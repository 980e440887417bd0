"""Sessions from the management side and the access-key side: open (by tag through the
registry, else created by a fresh session actor), list, read, clear, delete, page messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chinwag.actors import limits
from chinwag.actors.registry import (
    OpenByTag,
    tag_key,
)
from chinwag.actors.session import (
    ClearConversation,
    CreateSession,
    DeleteSession,
    new_id,
)
from chinwag.errors import (
    InvalidInput,
    NotFound,
    UnknownAccessKey,
)
from chinwag.facade.base import (
    STREAM_PAGE,
    FacadeBase,
    _check_session_id,
    _is_id,
)
from chinwag.records import (
    ChatClient,
    Message,
    Session,
)
from chinwag.rules import bounds, checked
from chinwag.rules.bounds import talk_url
from chinwag.service import (
    OpenedSession,
)


class SessionsFacade(FacadeBase):
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
            create = CreateSession(
                client_id=client_id,
                duration=expires,
                extra_context=extra_context,
                context_location=context_location,
                metadata=metadata,
            )
            session = await self._ask_session(new_id(), create)
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
            by_id = self.repo.session(filter) if _is_id(filter) else None
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
        session = self.repo.session(session_id) if _is_id(session_id) else None
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

    async def amessages_page(
        self,
        session_id: str,
        *,
        limit: int = bounds.DEFAULT_MESSAGE_PAGE,
        before: int | None = None,
    ) -> list[Message]:
        """`messages_page` without blocking the Trio thread (a round trip on PostgreSQL)."""
        query = checked.message_page_query(limit=limit, before=before)
        _check_session_id(session_id)
        return await self.repo.amessages_page(session_id, limit=query.limit, before=query.before)

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

    def resolve_access_key(self, access_key: str, *, allow_expired: bool = False) -> Session:
        session_id = (
            self._access_keys.session_id(access_key) if isinstance(access_key, str) else None
        )
        session = self.repo.session(session_id) if session_id else None
        if session is None:
            raise UnknownAccessKey()
        if not allow_expired:
            limits.ensure_active(session, self.core.clock.now())
        return session

    async def aresolve_access_key(self, access_key: str, *, allow_expired: bool = False) -> Session:
        """`resolve_access_key` without blocking the Trio thread (a round trip on PostgreSQL)."""
        session_id = (
            self._access_keys.session_id(access_key) if isinstance(access_key, str) else None
        )
        session = await self.repo.asession(session_id) if session_id else None
        if session is None:
            raise UnknownAccessKey()
        if not allow_expired:
            limits.ensure_active(session, self.core.clock.now())
        return session

    def access_key_for(self, session_id: str) -> str:
        return self._access_keys.issue(session_id)

    def access_key_session_id(self, access_key: str) -> str | None:
        """The session id a genuine access key names, by its MAC alone (no store read): cluster
        routing relays on it before anything else, and the owner then checks the session."""
        return self._access_keys.session_id(access_key)

    def limit_state(self, session_id: str) -> dict[str, Any]:
        session = self.repo.session(session_id)
        if session is None:
            raise NotFound(f"session {session_id} was not found")
        return self._limit_state(session, self.core.client_of(session))

    async def alimit_state(self, session_id: str) -> dict[str, Any]:
        """`limit_state` without blocking the Trio thread (round trips on PostgreSQL)."""
        session = await self.repo.asession(session_id)
        if session is None:
            raise NotFound(f"session {session_id} was not found")
        return self._limit_state(session, await self.core.aclient_of(session))

    def _limit_state(self, session: Session, client: ChatClient) -> dict[str, Any]:
        return limits.limit_state(
            session,
            client.limiting_parameters,
            self.core.clock.now(),
            self.settings.max_history_bytes,
        )
