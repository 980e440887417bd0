"""What chinwag says in a chat: the model's answer to a batch, a command's reply, a link, or a
notice (limit reached, model down…). Sending it is `chinwag.integrations.delivery`'s job."""

from __future__ import annotations

import logging
from typing import Any

import uuid_utils

from chinwag.errors import (
    ChinwagError,
    LimitReached,
    ModelFailed,
    ModelTimeout,
    NotFound,
    PromptTooLong,
    RateLimited,
    ServiceUnavailable,
    SessionExpired,
    TooLarge,
)
from chinwag.gateways.images import MAX_IMAGE_BYTES
from chinwag.integrations import media
from chinwag.integrations.commands import (
    command_argument,
    hello_text,
    parse_command,
    texts_for,
    usage_text,
    wait_text,
)
from chinwag.integrations.duration import parse_duration
from chinwag.integrations.jobs import PendingJob
from chinwag.integrations.parse import IncomingMessage
from chinwag.integrations.senders import Sender
from chinwag.linkcodes import find_code
from chinwag.records import ChatClient
from chinwag.service import ChinwagService, PromptInput

log = logging.getLogger(__name__)


class Notice(str):
    """A text chinwag says itself (limit reached, model down…), with its kind."""

    kind: str

    def __new__(cls, kind: str, text: str) -> Notice:
        notice = super().__new__(cls, text)
        notice.kind = kind
        return notice


class Answerer:
    """Turns a batch of one chat's messages into the text to send back."""

    def __init__(self, service: ChinwagService) -> None:
        self.service = service

    async def answer(
        self,
        client: ChatClient,
        channel: str,
        chat_id: str,
        jobs: list[PendingJob],
        sender: Sender,
    ) -> str | None:
        texts = texts_for(client)
        first = jobs[0].item.message
        if len(jobs) == 1:
            linked = await self._link(client, channel, chat_id, first)
            if linked is not None:
                return linked
        reads_images = "Image" in client.client_parameters.input_modes
        note = None  # said after the answer when part of the message was not read
        if first.unsupported or (first.image and not reads_images):
            if not first.text.strip():
                return Notice("unsupported", texts["unsupported"])
            note = texts["not_read"]  # the caption is answered, the media is not read
        integration = getattr(client.integrations, channel, None)
        duration = parse_duration(getattr(integration, "session_duration", None) or "03:00:00")
        open_session = self.service.open_channel_session
        session = await open_session(client.id, channel, chat_id, duration)  # type: ignore[arg-type]
        command = parse_command(first.text) if len(jobs) == 1 else None
        if command == "start":
            return hello_text(client)
        if command == "reset":
            await self.service.clear_session(session.id)
            return texts["reset"]
        if command == "usage":
            return usage_text(client, session)
        if command == "web":
            return texts["web"].format(url=self.service.talk_url(session.id))
        prompt: PromptInput = "\n".join(job.item.message.text for job in jobs)
        if first.image and reads_images:
            try:
                image = await sender.image(first.image, MAX_IMAGE_BYTES)
            except media.ImageTooLarge:
                return Notice("image_too_large", texts["image_too_large"])
            except media.ImageUnreadable as exc:
                log.warning("image from %s/%s not read: %s", channel, chat_id, exc)
                return Notice("image_failed", texts["image_failed"])
            parts: list[dict[str, Any]] = []
            if first.text.strip():
                parts.append({"type": "text", "text": first.text})
            parts.append({"type": "image_url", "image_url": {"url": image}})
            prompt = parts
        elif not str(prompt).strip():
            return hello_text(client)  # only the bot's @mention: greet
        # After a crash the same batch carries the same key: the runtime then answers from the
        # stored turn, or answers the stored user message, instead of storing it twice.
        key = turn_key(channel, first.update_key, len(jobs))
        async with sender.typing(chat_id, first.thread_id):
            for attempt in (1, 2):
                try:
                    result = await self.service.prompt(session.id, prompt, idempotency_key=key)
                except (SessionExpired, NotFound):
                    # The session ended between opening and prompting: start a fresh one once.
                    if attempt == 2:
                        return Notice("expired", texts["expired"])
                    session = await open_session(client.id, channel, chat_id, duration)  # type: ignore[arg-type]
                    continue
                except (PromptTooLong, TooLarge):
                    # Over CHINWAG_MAX_PROMPT_CHARS, or larger than a history may hold.
                    return Notice("too_long", texts["too_long"])
                except LimitReached as exc:
                    # A too-long message is not fixed by /reset: say what helps.
                    too_long = "userInputMaxTokens" in exc.message
                    kind = "too_long" if too_long else "limit"
                    return Notice(kind, texts[kind])
                except RateLimited as exc:
                    return Notice("rate", texts["rate"].format(wait=wait_text(exc.retry_after)))
                except (ModelFailed, ModelTimeout) as exc:
                    return model_notice(texts["model"], channel, chat_id, exc)
                except ServiceUnavailable:
                    raise  # shutting down: the message stays pending for the next start
                except ChinwagError as exc:
                    if exc.status == 429:  # the session is busy: same advice as a rate limit
                        wait = wait_text(exc.retry_after)
                        return Notice("rate", texts["rate"].format(wait=wait))
                    return model_notice(texts["model"], channel, chat_id, exc)
                break
        if result.status == "error" and not result.completion_text.strip():
            return Notice("model", texts["model"])
        if note:
            return f"{result.completion_text}\n\n{note}"
        return result.completion_text

    async def _link(
        self, client: ChatClient, channel: str, chat_id: str, message: IncomingMessage
    ) -> str | None:
        """A "continue on…" code (Telegram `/start <code>`, a WhatsApp text holding it):
        attach this chat to the web session. None when the message carries no code."""
        if channel == "telegram":
            if parse_command(message.text) != "start":
                return None
            code = find_code(command_argument(message.text))
        else:
            code = find_code(message.text)
        if code is None:
            return None
        texts = texts_for(client)
        if message.group:
            return texts["link_group"]
        attached = await self.service.attach_channel(client.id, channel, chat_id, code)  # type: ignore[arg-type]
        # Answered every time (not a rate-limited notice): it replies to a deliberate step.
        return texts["linked"] if attached is not None else texts["link_invalid"]


def model_notice(text: str, channel: str, chat_id: str, error: ChinwagError) -> Notice:
    """The chat's notice for a failed turn: the localized sentence and a request id, never the
    upstream's words; the log line with the (redacted) detail names the same id."""
    request_id = str(uuid_utils.uuid7())
    log.warning(
        "turn for %s/%s failed (request id %s): %s", channel, chat_id, request_id, error.message
    )
    return Notice("model", f"{text} (request id {request_id})")


def turn_key(channel: str, first_update_key: str, count: int) -> str:
    """The idempotency key of a turn: its first update and how many updates it merges.

    The count keeps a batch that grew after a restart (more messages merged in) from being
    answered with the stored turn of the smaller batch, which would drop the new messages.
    """
    return f"{channel}:{first_update_key}+{count}"
