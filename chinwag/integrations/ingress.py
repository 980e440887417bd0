"""Ingress lanes: one per chat, so a chat's messages are answered in order while chats run side
by side.

A lane owns a queue of jobs for one (client, channel, chat). It takes the oldest job; a plain
text message waits `messageDebounceInterval` for more text from the same chat (each new message
restarts the wait, capped at five intervals) and all of it becomes one turn. A command or an
unreadable message ends the gathering and is handled on its own. A lane with nothing to do for a
while ends; the next message starts a new one.

(Lanes are plain Trio tasks rather than `chinwag.runtime` actors: gathering a debounce window
means waiting on the queue with a deadline, which a one-message-at-a-time `receive` cannot do.)
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio
import uuid_utils

from chinwag.errors import (
    ChinwagError,
    LimitReached,
    ModelFailed,
    ModelTimeout,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    SessionExpired,
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
from chinwag.integrations.errors import IntegrationRejected, IntegrationUnavailable
from chinwag.integrations.inbox import Inbox, InboxItem
from chinwag.integrations.outbox import Outbox, OutboxReply
from chinwag.integrations.parse import IncomingMessage
from chinwag.integrations.senders import Sender
from chinwag.linkcodes import find_code
from chinwag.records import ChatClient
from chinwag.service import ChinwagService, PromptInput
from chinwag.storage.engine import StorageEngine

log = logging.getLogger(__name__)

LaneKey = tuple[str, str, str]  # (client id, channel, chat id)
DEBOUNCE_CAP_FACTOR = 5
# The same notice (e.g. "too many messages") goes to one chat at most once this often.
NOTICE_EVERY = 60.0


class Notice(str):
    """A text chinwag says itself (limit reached, model down…), with its kind."""

    kind: str

    def __new__(cls, kind: str, text: str) -> Notice:
        notice = super().__new__(cls, text)
        notice.kind = kind
        return notice


@dataclass(slots=True)
class PendingJob:
    """A stored user message waiting for its answer."""

    key: bytes
    item: InboxItem

    @property
    def lane(self) -> LaneKey:
        message = self.item.message
        return (self.item.client_id, message.channel, message.chat_id)

    @property
    def mergeable(self) -> bool:
        """Plain text: it may join the texts around it in one turn (images, media, commands
        and link codes are answered on their own)."""
        message = self.item.message
        return (
            not message.unsupported
            and message.image is None
            and parse_command(message.text) is None
            and not (message.channel == "zapi" and find_code(message.text))
        )


@dataclass(slots=True)
class ResumeJob:
    """A reply recorded in the outbox before a restart, with parts still to send."""

    key: bytes
    reply: OutboxReply

    @property
    def lane(self) -> LaneKey:
        return (self.reply.client_id, self.reply.channel, self.reply.chat_id)


Job = PendingJob | ResumeJob


class TurnRunner:
    """What a lane does with a batch: answer it (model or command) and deliver the reply once."""

    def __init__(
        self,
        service: ChinwagService,
        engine: StorageEngine,
        inbox: Inbox,
        outbox: Outbox,
        sender_for: Callable[[ChatClient, str], Sender | None],
        *,
        max_concurrent_turns: int = 64,
    ) -> None:
        self.service = service
        self.engine = engine
        self.inbox = inbox
        self.outbox = outbox
        self.sender_for = sender_for
        self.turn_slots = trio.CapacityLimiter(max_concurrent_turns)
        self.replies_sent = 0
        self.replies_failed = 0
        # (lane, notice kind) -> Trio time it was last sent.
        self._notices: dict[tuple[LaneKey, str], float] = {}

    def _repeated(self, lane: LaneKey, notice: Notice) -> bool:
        """True when the same kind of notice went to this chat less than a minute ago."""
        now = trio.current_time()
        if len(self._notices) > 10_000:
            self._notices = {k: t for k, t in self._notices.items() if now - t < NOTICE_EVERY}
        last = self._notices.get((lane, notice.kind))
        if last is not None and now - last < NOTICE_EVERY:
            return True
        self._notices[(lane, notice.kind)] = now
        return False

    def debounce_interval(self, client_id: str) -> float:
        try:
            client = self.service.get_client(client_id)
        except ChinwagError:
            return 0.0
        return max(0.0, client.client_parameters.message_debounce_interval or 0.0)

    async def handle(self, jobs: list[PendingJob]) -> None:
        """Answer a batch of one chat's messages with one reply."""
        first, last = jobs[0], jobs[-1]
        client_id, channel, chat_id = first.lane
        items = [(job.key, job.item) for job in jobs]
        try:
            client = self.service.get_client(client_id)
        except NotFound:
            log.info("client %s is gone; dropping %d message(s)", client_id, len(jobs))
            await self.engine.write(*self.inbox.finish_ops(items, "failed"))
            return
        sender = self.sender_for(client, channel)
        if sender is None:
            log.info("client %s has no %s integration; dropping", client_id, channel)
            await self.engine.write(*self.inbox.finish_ops(items, "failed"))
            return
        asked = last.item.message
        async with self.turn_slots:
            text = await self._answer(client, channel, chat_id, jobs, sender)
        if isinstance(text, Notice) and self._repeated(first.lane, text):
            # A flood gets one notice a minute, not one each. A message that was not read
            # is still marked as such: a reaction, else a much shorter notice.
            text = None
            if first.item.message.unsupported or first.item.message.image:
                reacted = asked.message_id is not None and await sender.react(
                    chat_id, asked.message_id
                )
                if not reacted:
                    text = texts_for(client)["unsupported_again"]
        parts = (
            sender.parts(text, paragraphs=client.client_parameters.split_answer_into_message_chunks)
            if text
            else []
        )
        if not parts:
            await self.engine.write(*self.inbox.finish_ops(items))
            return
        reply = OutboxReply(
            client_id=client_id,
            channel=channel,
            chat_id=chat_id,
            inbox_keys=[job.key.decode() for job in jobs],
            parts=parts,
            thread_id=asked.thread_id,
            reply_to=asked.message_id if asked.group else None,
        )
        await self.outbox.record(first.key, reply)
        await self.deliver(first.key, reply, sender, items)

    async def resume(self, job: ResumeJob) -> None:
        """Send what a reply recorded before a restart still lacks, then finish its messages."""
        reply = job.reply
        items = [
            (key, item)
            for raw_key in reply.inbox_keys
            if (item := self.inbox.get(key := raw_key.encode())) is not None
        ]
        try:
            client = self.service.get_client(reply.client_id)
            sender = self.sender_for(client, reply.channel)
        except NotFound:
            sender = None
        if sender is None:
            reply.state = "failed"
            await self.engine.write(
                self.outbox.put_op(job.key, reply), *self.inbox.finish_ops(items, "failed")
            )
            return
        await self.deliver(job.key, reply, sender, items)

    async def deliver(
        self,
        key: bytes,
        reply: OutboxReply,
        sender: Sender,
        items: list[tuple[bytes, InboxItem]],
    ) -> None:
        """Send the unsent parts in order, ticking each off, then close the reply atomically."""
        state = "sent"
        for index in range(reply.sent, len(reply.parts)):
            try:
                await sender.send(
                    reply.chat_id,
                    reply.parts[index],
                    first=index == 0,
                    thread_id=reply.thread_id,
                    reply_to=reply.reply_to,
                )
            except (IntegrationRejected, IntegrationUnavailable) as exc:
                log.error("reply to %s/%s not delivered: %s", reply.channel, reply.chat_id, exc)
                state = "failed"
                break
            reply.sent = index + 1
            if reply.sent < len(reply.parts):
                await self.engine.write(self.outbox.put_op(key, reply))
        if state == "sent":
            self.replies_sent += 1
        else:
            self.replies_failed += 1
        reply.state = state  # type: ignore[assignment]
        reply.finished_at = time.time()
        await self.engine.write(
            self.outbox.put_op(key, reply),
            *self.inbox.finish_ops(items, "done" if state == "sent" else "failed"),
        )

    async def _answer(
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


class ChatLane:
    """The queue and task of one chat.

    Each job runs in a shielded scope, so a shutdown lets the reply being worked on finish
    (within the grace `begin_grace` sets) instead of cutting the turn and redoing it later.
    """

    def __init__(
        self,
        key: LaneKey,
        runner: TurnRunner,
        on_exit: Callable[[ChatLane], None],
        *,
        idle_timeout: float = 60.0,
    ) -> None:
        self.key = key
        self.runner = runner
        self.on_exit = on_exit
        self.idle_timeout = idle_timeout
        self.queue: deque[Job] = deque()
        self.closed = False
        self.stopping = False
        self._wakeup = trio.Event()
        self._job_scope: trio.CancelScope | None = None

    def put(self, job: Job) -> None:
        self.queue.append(job)
        self._wakeup.set()

    def begin_grace(self, seconds: float) -> None:
        """Shutting down: finish the current job within `seconds`, start no other."""
        self.stopping = True
        self._wakeup.set()  # ends a debounce wait at once
        if self._job_scope is not None:
            self._job_scope.deadline = min(self._job_scope.deadline, trio.current_time() + seconds)

    async def _wait_until(self, deadline: float) -> bool:
        """Wait for a new job until `deadline` (Trio time); True when one is queued."""
        if not self.queue and not self.stopping:
            self._wakeup = trio.Event()
            with trio.move_on_at(deadline):
                await self._wakeup.wait()
        return bool(self.queue) and not self.stopping

    async def run(self) -> None:
        try:
            while await self._wait_until(trio.current_time() + self.idle_timeout):
                job = self.queue.popleft()
                with trio.CancelScope(shield=True) as scope:
                    self._job_scope = scope
                    try:
                        await self._run_job(job)
                    finally:
                        self._job_scope = None
                if scope.cancelled_caught:
                    log.info("chat %s/%s: reply cut by shutdown", self.key[1], self.key[2])
        finally:
            self.closed = True
            self.on_exit(self)

    async def _run_job(self, job: Job) -> None:
        try:
            if isinstance(job, ResumeJob):
                await self.runner.resume(job)
            elif job.mergeable:
                await self.runner.handle(await self._gather(job))
            else:
                await self.runner.handle([job])
        except Exception:
            # The messages stay pending in the inbox and are retried on the next start.
            log.exception("chat %s/%s: failed to answer", self.key[1], self.key[2])

    async def _gather(self, job: PendingJob) -> list[PendingJob]:
        """`job` plus the texts that follow it within the debounce window."""
        batch = [job]
        interval = self.runner.debounce_interval(job.item.client_id)
        if interval <= 0:
            return batch
        cap = trio.current_time() + interval * DEBOUNCE_CAP_FACTOR
        while await self._wait_until(min(cap, trio.current_time() + interval)):
            following = self.queue[0]
            if (
                not isinstance(following, PendingJob)
                or not following.mergeable
                # Forum topics are answered in their own topic: never merge across them.
                or following.item.message.thread_id != job.item.message.thread_id
            ):
                break
            batch.append(self.queue.popleft())
            if trio.current_time() >= cap:
                break
        return batch
