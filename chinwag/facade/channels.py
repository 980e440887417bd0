"""Chats on Telegram / WhatsApp: their sessions (through the registry) and the "continue on…"
link codes that attach a chat to a web session."""

from __future__ import annotations

from typing import Literal

from chinwag import linkcodes
from chinwag.actors import limits
from chinwag.actors.registry import (
    AttachByCode,
    OpenByChannel,
    channel_key,
)
from chinwag.errors import (
    NotFound,
)
from chinwag.facade.base import (
    FacadeBase,
    _check_session_id,
)
from chinwag.records import (
    Session,
)
from chinwag.rules.bounds import talk_url
from chinwag.storage.repository import ChannelLink


class ChannelsFacade(FacadeBase):
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
