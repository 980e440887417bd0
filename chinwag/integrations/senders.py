"""Egress per platform: paced sending, typing indicators and the message-size rule.

A `Sender` is what the ingress lanes talk to; they never see Bot API or Z-API details.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import trio

from chinwag.integrations.backoff import RetryPolicy
from chinwag.integrations.errors import IntegrationRejected, IntegrationUnavailable
from chinwag.integrations.ratelimit import SendRateLimiter
from chinwag.integrations.split import TELEGRAM_LIMIT, ZAPI_LIMIT, split_paragraphs, split_text
from chinwag.integrations.telegram_api import TelegramApi
from chinwag.integrations.zapi_api import ZapiApi

log = logging.getLogger(__name__)

# Telegram shows "typing…" for 5 seconds after each chat action.
TYPING_REPEAT_SECONDS = 4.5
_ONE_TRY = RetryPolicy(attempts=1)


class Sender(Protocol):
    def parts(self, text: str, *, paragraphs: bool = False) -> list[str]:
        """The messages `text` is sent as."""
        ...

    async def send(self, chat_id: str, text: str, *, first: bool) -> None:
        """Send one part; raises IntegrationRejected / IntegrationUnavailable."""
        ...

    def typing(self, chat_id: str) -> AsyncIterator[None]:
        """An async context manager showing "typing…" while the body runs."""
        ...


class TelegramSender:
    def __init__(self, api: TelegramApi, limiter: SendRateLimiter | None = None) -> None:
        self.api = api
        self.limiter = limiter or SendRateLimiter()

    def parts(self, text: str, *, paragraphs: bool = False) -> list[str]:
        return (split_paragraphs if paragraphs else split_text)(text, TELEGRAM_LIMIT)

    async def send(self, chat_id: str, text: str, *, first: bool) -> None:
        await self.limiter.acquire(chat_id)
        await self.api.send_message(chat_id, text)

    @asynccontextmanager
    async def typing(self, chat_id: str) -> AsyncIterator[None]:
        async def keep_typing() -> None:
            while True:
                try:
                    await self.api.call(
                        "sendChatAction",
                        {"chat_id": _chat_ref(chat_id), "action": "typing"},
                        policy=_ONE_TRY,
                    )
                except (IntegrationRejected, IntegrationUnavailable) as exc:
                    log.info("typing indicator failed: %s", exc.message)
                except Exception:  # a typing hint must never break the reply itself
                    log.exception("typing indicator failed")
                await trio.sleep(TYPING_REPEAT_SECONDS)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_typing)
            try:
                yield
            finally:
                nursery.cancel_scope.cancel()


def _chat_ref(chat_id: str) -> int | str:
    try:
        return int(chat_id)
    except ValueError:
        return chat_id


class ZapiSender:
    """WhatsApp through Z-API: the first part of a reply carries `delayTyping`."""

    def __init__(
        self, api: ZapiApi, limiter: SendRateLimiter | None = None, delay_typing: int = 2
    ) -> None:
        self.api = api
        self.limiter = limiter or SendRateLimiter()
        self.delay_typing = delay_typing

    def parts(self, text: str, *, paragraphs: bool = False) -> list[str]:
        return (split_paragraphs if paragraphs else split_text)(text, ZAPI_LIMIT)

    async def send(self, chat_id: str, text: str, *, first: bool) -> None:
        await self.limiter.acquire(chat_id)
        await self.api.send_text(chat_id, text, delay_typing=self.delay_typing if first else None)

    @asynccontextmanager
    async def typing(self, chat_id: str) -> AsyncIterator[None]:
        yield
