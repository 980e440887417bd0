"""The work a chat lane queues: a stored message to answer, or a recorded reply to finish."""

from __future__ import annotations

from dataclasses import dataclass

from chinwag.integrations.commands import parse_command
from chinwag.integrations.inbox import InboxItem
from chinwag.integrations.outbox import OutboxReply
from chinwag.linkcodes import find_code

LaneKey = tuple[str, str, str]  # (client id, channel, chat id)


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
