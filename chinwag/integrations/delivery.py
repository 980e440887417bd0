"""Delivery: a lane's batch is answered once and its reply reaches the chat exactly once.

The reply is recorded in the outbox before its first part is sent, each sent part is ticked off,
and the last tick closes the reply and marks its inbox items answered in one commit; after a
restart `resume` sends only what is missing. What to say is `chinwag.integrations.answer`'s job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from chinwag.errors import ChinwagError, NotFound
from chinwag.integrations.answer import Answerer, Notice
from chinwag.integrations.commands import texts_for
from chinwag.integrations.errors import IntegrationRejected, IntegrationUnavailable
from chinwag.integrations.inbox import Inbox, InboxItem
from chinwag.integrations.jobs import LaneKey, PendingJob, ResumeJob
from chinwag.integrations.outbox import Outbox, OutboxReply, Store
from chinwag.integrations.senders import Sender
from chinwag.records import ChatClient
from chinwag.service import ChinwagService

log = logging.getLogger(__name__)

# The same notice (e.g. "too many messages") goes to one chat at most once this often.
NOTICE_EVERY = 60.0


class TurnRunner:
    """What a lane does with a batch: answer it (model or command) and deliver the reply once."""

    def __init__(
        self,
        service: ChinwagService,
        store: Store,
        inbox: Inbox,
        outbox: Outbox,
        sender_for: Callable[[ChatClient, str], Sender | None],
        *,
        max_concurrent_turns: int = 64,
    ) -> None:
        self.service = service
        self.answerer = Answerer(service)
        self.store = store
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

    async def debounce_interval(self, client_id: str) -> float:
        try:
            client = await self.service.aget_client(client_id)
        except ChinwagError:
            return 0.0
        return max(0.0, client.client_parameters.message_debounce_interval or 0.0)

    async def handle(self, jobs: list[PendingJob]) -> None:
        """Answer a batch of one chat's messages with one reply."""
        first, last = jobs[0], jobs[-1]
        client_id, channel, chat_id = first.lane
        items = [(job.key, job.item) for job in jobs]
        try:
            client = await self.service.aget_client(client_id)
        except NotFound:
            log.info("client %s is gone; dropping %d message(s)", client_id, len(jobs))
            await self.store.commit(self.inbox.finish_ops(items, "failed"))
            return
        sender = self.sender_for(client, channel)
        if sender is None:
            log.info("client %s has no %s integration; dropping", client_id, channel)
            await self.store.commit(self.inbox.finish_ops(items, "failed"))
            return
        asked = last.item.message
        async with self.turn_slots:
            text = await self.answerer.answer(client, channel, chat_id, jobs, sender)
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
            await self.store.commit(self.inbox.finish_ops(items))
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
            if (item := await self.inbox.aget(key := raw_key.encode())) is not None
        ]
        try:
            client = await self.service.aget_client(reply.client_id)
            sender = self.sender_for(client, reply.channel)
        except NotFound:
            sender = None
        if sender is None:
            reply.state = "failed"
            await self.store.commit(
                [*self.outbox.put_op(job.key, reply), *self.inbox.finish_ops(items, "failed")]
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
                await self.store.commit(self.outbox.put_op(key, reply))
        if state == "sent":
            self.replies_sent += 1
        else:
            self.replies_failed += 1
        reply.state = state  # type: ignore[assignment]
        reply.finished_at = self.outbox.now()
        await self.store.commit(
            [
                *self.outbox.put_op(key, reply),
                *self.inbox.finish_ops(items, "done" if state == "sent" else "failed"),
            ]
        )
