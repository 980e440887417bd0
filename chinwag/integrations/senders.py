"""Egress per platform: paced sending, typing indicators and the message-size rule.

A `Sender` is what the ingress lanes talk to; they never see Bot API or Z-API details.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import trio

from chinwag.integrations import media
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


# The reaction that tells a user "I saw this but cannot read it" without another message.
NOT_READ_REACTION = "\U0001f937"  # 🤷 (in Telegram's list of allowed reaction emoji)


class Sender(Protocol):
    def parts(self, text: str, *, paragraphs: bool = False) -> list[str]:
        """The messages `text` is sent as."""
        ...

    async def send(
        self,
        chat_id: str,
        text: str,
        *,
        first: bool,
        thread_id: int | None = None,
        reply_to: str | None = None,
    ) -> None:
        """Send one part; raises IntegrationRejected / IntegrationUnavailable."""
        ...

    def typing(self, chat_id: str, thread_id: int | None = None) -> AsyncIterator[None]:
        """An async context manager showing "typing…" while the body runs."""
        ...

    async def react(self, chat_id: str, message_id: str) -> bool:
        """Put the "not read" reaction on a message; False when the platform refused."""
        ...

    async def image(self, ref: str, max_bytes: int) -> str:
        """The image `ref` (file id / media URL) as a data URL; raises media.Image* errors."""
        ...


class TelegramSender:
    def __init__(self, api: TelegramApi, limiter: SendRateLimiter | None = None) -> None:
        self.api = api
        self.limiter = limiter or SendRateLimiter()

    def parts(self, text: str, *, paragraphs: bool = False) -> list[str]:
        return (split_paragraphs if paragraphs else split_text)(text, TELEGRAM_LIMIT)

    async def send(
        self,
        chat_id: str,
        text: str,
        *,
        first: bool,
        thread_id: int | None = None,
        reply_to: str | None = None,
    ) -> None:
        await self.limiter.acquire(chat_id)
        await self.api.send_message(
            chat_id, text, thread_id=thread_id, reply_to=reply_to if first else None
        )

    async def react(self, chat_id: str, message_id: str) -> bool:
        if not message_id.isdigit():
            return False
        try:
            await self.api.call(
                "setMessageReaction",
                {
                    "chat_id": _chat_ref(chat_id),
                    "message_id": int(message_id),
                    "reaction": [{"type": "emoji", "emoji": NOT_READ_REACTION}],
                },
                policy=_ONE_TRY,
            )
        except (IntegrationRejected, IntegrationUnavailable) as exc:
            log.info("reaction refused: %s", exc.message)  # e.g. reactions off in a group
            return False
        return True

    async def image(self, ref: str, max_bytes: int) -> str:
        try:
            path, size = await self.api.get_file_path(ref)
        except (IntegrationRejected, IntegrationUnavailable) as exc:
            raise media.ImageUnreadable(exc.message) from None
        if size is not None and size > max_bytes:
            raise media.ImageTooLarge(f"the image is larger than {max_bytes} bytes")
        data = await media.download(self.api.http, self.api.file_url(path), max_bytes=max_bytes)
        return media.data_url(data)

    @asynccontextmanager
    async def typing(self, chat_id: str, thread_id: int | None = None) -> AsyncIterator[None]:
        action: dict[str, object] = {"chat_id": _chat_ref(chat_id), "action": "typing"}
        if thread_id is not None:
            action["message_thread_id"] = thread_id

        async def keep_typing() -> None:
            while True:
                try:
                    await self.api.call("sendChatAction", action, policy=_ONE_TRY)
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

    async def send(
        self,
        chat_id: str,
        text: str,
        *,
        first: bool,
        thread_id: int | None = None,
        reply_to: str | None = None,
    ) -> None:
        await self.limiter.acquire(chat_id)
        await self.api.send_text(
            chat_id,
            text,
            delay_typing=self.delay_typing if first else None,
            reply_to=reply_to if first else None,
        )

    async def react(self, chat_id: str, message_id: str) -> bool:
        try:
            await self.api.call(
                "send-reaction",
                {"phone": chat_id, "messageId": message_id, "reaction": NOT_READ_REACTION},
                policy=_ONE_TRY,
            )
        except (IntegrationRejected, IntegrationUnavailable) as exc:
            log.info("reaction refused: %s", exc.message)
            return False
        return True

    async def image(self, ref: str, max_bytes: int) -> str:
        # The media URL comes from the authenticated Z-API webhook (Z-API's own storage).
        if not ref.lower().startswith(("https://", "http://")):
            raise media.ImageUnreadable("the image URL is not an http(s) URL")
        return media.data_url(await media.download(self.api.http, ref, max_bytes=max_bytes))

    @asynccontextmanager
    async def typing(self, chat_id: str, thread_id: int | None = None) -> AsyncIterator[None]:
        yield
