"""The session actor: the single owner of one session's record, history, limits and turns.

Every change to a session goes through its actor, one message at a time, so limits and
counters never race. A turn stores the user message durably *before* the model is called, runs
as a child task (so `Stop`, `Clear` and status reads are served while a reply streams), and
hands the finished reply back to the actor as a message to be stored. Prompts sent while a turn
runs wait in a bounded queue (over the bound: 429).

Every answer is stored with `in_reply_to`, the seq of the user message it answers, and a keyed
prompt's key is indexed (key -> user seq, answer seq) in the transaction that stores it, so a
retry is answered with exactly its own stored answer. A user message left unanswered by a crash
is answered first when the next prompt comes (from the history up to it), so the history stays
a sequence of complete exchanges and the model never sees one cut in the middle.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import trio
import uuid_utils

from chinwag.actors import limits
from chinwag.actors.feedback import SetFeedback, set_feedback
from chinwag.actors.history import amodel_history, history_budget
from chinwag.actors.reply_log import GetReplyLog, ReplyLog, ReplyStarted
from chinwag.errors import (
    ChinwagError,
    Conflict,
    ModelFailed,
    NotFound,
    RateLimited,
    ServiceUnavailable,
)
from chinwag.gateways.base import (
    ContentDelta,
    ReasoningDelta,
    ToolEvent,
    Turn,
    UsageReport,
    estimate_tokens,
    make_assistant,
)
from chinwag.gateways.echo import message_text
from chinwag.gateways.images import normalize_prompt
from chinwag.records import Channel, ChatClient, Gateway, Message, Session, ToolCall, Usage
from chinwag.runtime import Actor
from chinwag.storage.errors import ConditionFailed

if TYPE_CHECKING:
    from chinwag.actors.context import ActorContext

log = logging.getLogger("chinwag.session")


# ------------------------------------------------------------------ messages the actor accepts


@dataclass(frozen=True, slots=True)
class CreateSession:
    """Store this actor's session for the first time (its id was just drawn with `new_id`).

    Reply: the new Session. The session actor is the only writer of its record, creation
    included; the registry and the facade only pick the id and ask.
    """

    client_id: str
    duration: float
    channel: Channel = "web"
    tag: str | None = None
    external_id: str | None = None
    extra_context: str | None = None
    context_location: str | None = None
    metadata: dict[str, Any] | None = None
    # The registry's guard: the tag (or channel) entry must still hold `index_was` (None:
    # absent) when the session is stored, else IndexTaken (cluster mode: another node's
    # registry made the key's session meanwhile).
    guard_index: bool = False
    index_was: str | None = None


class IndexTaken(Conflict):
    """The tag/channel entry changed between the registry's read and the session's write."""


@dataclass(frozen=True, slots=True)
class GetSession:
    """Reply: the current Session record (raises NotFound when it does not exist)."""


@dataclass(frozen=True, slots=True)
class Renew:
    """A tag call: renew to now + expires and replace context and metadata."""

    expires: float
    extra_context: str | None
    context_location: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StartTurn:
    """Begin (or queue) a turn; events and the final TurnEnd go to `sink`."""

    prompt: Any
    commit: bool
    instructions: str | None
    sink: trio.MemorySendChannel[Any]
    idempotency_key: str | None = None
    request_id: str | None = None  # the HTTP request asking (kept on an error marker)


@dataclass(frozen=True, slots=True)
class StopTurn:
    """Cancel the running reply; the partial reply is kept. Reply: whether one was running."""


@dataclass(frozen=True, slots=True)
class ClearConversation:
    """Delete the history, keep session and key."""


@dataclass(frozen=True, slots=True)
class DeleteSession:
    """Delete the session and its history; the actor stops afterwards."""


@dataclass(frozen=True, slots=True)
class EndSession:
    """Expire now (a chat moved to another session): read-only, purged after retention."""


@dataclass(frozen=True, slots=True)
class _FinishTurn:
    epoch: int
    outcome: TurnOutcome
    # The turn itself: it may have been started by an earlier incarnation of this actor.
    running: _Running | None = None


@dataclass(slots=True)
class TurnOutcome:
    # Streamed text arrives in many small pieces: kept as lists and joined once (`content`,
    # `reasoning`), because `str +=` on an attribute copies the whole text every time.
    content_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    usage_reported: bool = False
    # Estimated tokens of what was sent to the model, for replies that end without usage.
    prompt_tokens: int = 0
    status: str = "complete"
    error: ChinwagError | None = None

    @property
    def content(self) -> str:
        if len(self.content_parts) > 1:
            self.content_parts[:] = ["".join(self.content_parts)]
        return self.content_parts[0] if self.content_parts else ""

    @property
    def reasoning(self) -> str:
        if len(self.reasoning_parts) > 1:
            self.reasoning_parts[:] = ["".join(self.reasoning_parts)]
        return self.reasoning_parts[0] if self.reasoning_parts else ""

    def billed_usage(self) -> Usage:
        """The reported usage, or an estimate when the reply was stopped or cut before the
        provider reported any: a stopped reply still spent tokens and counts toward limits."""
        if self.usage_reported or not (self.content or self.reasoning or self.tool_calls):
            return self.usage
        output = estimate_tokens(self.content + self.reasoning)
        return Usage(
            input_tokens=self.prompt_tokens,
            output_tokens=output,
            total_tokens=self.prompt_tokens + output,
        )


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """Last item on a turn's sink: the stored result, or the error that ended it."""

    result: dict[str, Any] | None
    error: ChinwagError | None


@dataclass(slots=True)
class _Pending:
    contents: list[Any]
    commit: bool
    instructions: str | None
    sink: trio.MemorySendChannel[Any]
    idempotency_key: str | None = None
    request_id: str | None = None
    # The chat client as read when the turn began (its reply uses it too: one read a turn).
    client: ChatClient | None = None


@dataclass(slots=True)
class _Running:
    scope: trio.CancelScope
    epoch: int
    pending: _Pending
    user_messages: list[Message]
    log: ReplyLog = field(default_factory=ReplyLog)  # what GET …/stream (re)attaches to
    # A retried prompt whose stored answer is an error marker: the new answer takes its place.
    replaces: Message | None = None
    # Why its result will not be stored (clear, end, delete), told to whoever waits for it.
    abandoned: ChinwagError | None = None


def new_id() -> str:
    """A UUIDv7: unique, and sorts by creation time (keys, listings, cursors)."""
    return str(uuid_utils.uuid7())


def _send(sink: trio.MemorySendChannel[Any], item: Any) -> None:
    """Deliver to a listener that may have gone away (closed tab): the turn carries on."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, trio.WouldBlock):
        sink.send_nowait(item)


def _close(sink: trio.MemorySendChannel[Any]) -> None:
    sink.close()


def _finish(sink: trio.MemorySendChannel[Any], end: TurnEnd) -> None:
    _send(sink, end)
    _close(sink)


def _nobody() -> trio.MemorySendChannel[Any]:
    """A sink for a turn nobody waits for (answering a message a crash left unanswered)."""
    send, receive = trio.open_memory_channel[Any](0)
    receive.close()
    return send


def _input_tokens(contents: list[Any], instructions: str | None) -> int:
    """What userInputMaxTokens counts: the prompt and its per-prompt instructions."""
    tokens = sum(estimate_tokens(message_text(c)) for c in contents)
    return tokens + (estimate_tokens(instructions) if instructions else 0)


def _least_bytes(contents: list[Any]) -> int:
    """A lower bound of the bytes `contents` take once stored (the exact size is known later)."""
    return sum(len(message_text(c).encode("utf-8", "surrogatepass")) for c in contents)


def _result_of(reply: Message, created: list[Message]) -> dict[str, Any]:
    """The prompt endpoint's `data` for a stored (or uncommitted) reply."""
    return {
        "completionText": reply.content if isinstance(reply.content, str) else "",
        "reasoning": reply.reasoning,
        "toolCalls": msgspec.to_builtins(reply.tool_calls),
        "usage": msgspec.to_builtins(reply.usage or Usage()),
        "createdMessages": msgspec.to_builtins(created),
        "status": reply.status,
    }


class SessionActor(Actor):
    recoverable = (ChinwagError,)

    def __init__(self, core: ActorContext, session_id: str) -> None:
        self.core = core
        self.session_id = session_id
        self.session: Session | None = None
        self.running: _Running | None = None
        self.queue: deque[_Pending] = deque()
        self.epoch = 0
        self.reply_log: ReplyLog | None = None  # the running (or last) reply's events
        # Known since this activation started: the newest stored message is not a user message
        # left unanswered (by a crash or a failed reply store), so a turn need not read it.
        self._tail_answered = False

    async def started(self) -> None:
        # Rebuild from storage: after a crash or a passivation the record there is the truth.
        self.session = await self.core.repo.asession(self.session_id)

    def can_passivate(self) -> bool:
        return self.running is None and not self.queue

    def _require(self) -> Session:
        if self.session is None:
            raise NotFound(f"session {self.session_id} was not found")
        return self.session

    async def _save(self, session: Session, extra_ops: list[Any] | None = None) -> None:
        ops = self.core.repo.put_session(session, previous=self.session)
        if extra_ops:
            ops.extend(extra_ops)
        await self.core.repo.commit(ops)
        if self.session is None or session.expires_at != self.session.expires_at:
            self.core.expiry_changed(session.expires_at)
        self.session = session

    # -------------------------------------------------------------- dispatch

    async def receive(self, message: Any) -> Any:
        if isinstance(message, GetSession):
            return self._require()
        if isinstance(message, CreateSession):
            return await self._create(message)
        if isinstance(message, StartTurn):
            return await self._start_turn(message)
        if isinstance(message, _FinishTurn):
            return await self._finish_turn(message)
        if isinstance(message, StopTurn):
            return self._stop()
        if isinstance(message, Renew):
            return await self._renew(message)
        if isinstance(message, ClearConversation):
            return await self._clear()
        if isinstance(message, DeleteSession):
            return await self._delete()
        if isinstance(message, EndSession):
            return await self._end()
        if isinstance(message, GetReplyLog):
            return self.reply_log
        if isinstance(message, SetFeedback):
            return await set_feedback(self, message)
        raise TypeError(f"unexpected message {message!r}")

    # -------------------------------------------------------------- session record

    async def _create(self, message: CreateSession) -> Session:
        if self.session is not None:
            raise Conflict(f"session {self.session_id} already exists")
        now = self.core.clock.now()
        session = Session(
            id=self.session_id,
            client_id=message.client_id,
            channel=message.channel,
            tag=message.tag,
            external_id=message.external_id,
            extra_context=message.extra_context,
            context_location=message.context_location,
            metadata=message.metadata or {},
            created_at=now,
            expires_at=now + message.duration,
            duration=message.duration,
        )
        guard = (
            [self.core.repo.index_guard(session, message.index_was)] if message.guard_index else []
        )
        try:
            await self._save(session, guard)
        except ConditionFailed:
            if not message.guard_index:
                raise
            raise IndexTaken(f"the key of session {self.session_id} was taken meanwhile") from None
        self.core.metrics.sessions_created += 1
        return session

    async def _renew(self, message: Renew) -> Session:
        session = self._require()
        now = self.core.clock.now()
        limits.ensure_active(session, now)
        updated = msgspec.structs.replace(
            session,
            expires_at=now + message.expires,
            duration=message.expires,
            extra_context=message.extra_context,
            context_location=message.context_location,
            metadata=message.metadata,
        )
        await self._save(updated)
        return updated

    async def _clear(self) -> None:
        session = self._require()
        if limits.is_expired(session, self.core.clock.now()):
            raise Conflict("this session has expired and is read-only until it is purged")
        self._abandon_turns(Conflict("the conversation was cleared"))
        cleared = msgspec.structs.replace(
            session, message_count=0, history_bytes=0, conversation_usage=Usage()
        )
        await self._save(cleared, await self.core.repo.clear_messages(session.id))

    async def _end(self) -> None:
        session = self._require()
        now = self.core.clock.now()
        if limits.is_expired(session, now):
            return
        self._abandon_turns(Conflict("the session has ended"))
        await self._save(msgspec.structs.replace(session, expires_at=now))

    async def _delete(self) -> None:
        session = self._require()
        self._abandon_turns(
            NotFound("the session was deleted while this prompt was waiting or being answered")
        )
        await self.core.repo.commit(await self.core.repo.delete_session(session))
        self.session = None
        self.ref.stop()

    def _abandon_turns(self, error: ChinwagError) -> None:
        """Cancel the running turn (its result is discarded) and fail the queued ones."""
        self.epoch += 1
        if self.running is not None:
            self.running.abandoned = error
            self.running.scope.cancel()
        while self.queue:
            pending = self.queue.popleft()
            _send(pending.sink, TurnEnd(None, error))
            _close(pending.sink)

    # -------------------------------------------------------------- turns

    async def _start_turn(self, message: StartTurn) -> None:
        session = self._require()
        client = await self.core.aclient_of(session)
        contents = [
            m["content"]
            for m in normalize_prompt(
                message.prompt, allow_images="Image" in client.client_parameters.input_modes
            )
        ]
        if message.idempotency_key is None:
            # Fail fast; a keyed prompt may be a retry of an answered turn, which `_begin`
            # answers from storage even when the limits have been reached since.
            limits.check_turn(
                session,
                client.limiting_parameters,
                self.core.clock.now(),
                input_tokens=_input_tokens(contents, message.instructions),
                new_messages=len(contents) if message.commit else 0,
                new_bytes=_least_bytes(contents) if message.commit else 0,
                max_history_bytes=self.core.settings.max_history_bytes,
            )
        pending = _Pending(
            contents,
            message.commit,
            message.instructions,
            message.sink,
            message.idempotency_key,
            message.request_id,
        )
        if self.running is not None:
            if not self._has_room(message.idempotency_key):
                raise RateLimited(
                    "a reply is already being generated and too many prompts are waiting; "
                    "try again in a moment",
                    retry_after=1,
                )
            self.queue.append(pending)
            return
        await self._begin(pending, client)

    def _has_room(self, key: str | None) -> bool:
        """Whether a prompt may wait in the queue. A copy of a prompt already running or
        waiting (same Idempotency-Key: a client retrying on another connection) does not
        count against the bound, since it is answered from what that one stores; copies stay
        bounded too, at twice the bound."""
        bound = self.core.settings.max_queued_prompts
        if len(self.queue) < bound:
            return True
        if key is None or len(self.queue) >= 2 * bound:
            return False
        running = self.running
        if running is not None and running.pending.idempotency_key == key:
            return True
        return any(waiting.idempotency_key == key for waiting in self.queue)

    async def _begin(self, pending: _Pending, client: ChatClient | None = None) -> None:
        """Check limits again (the history may have changed while queued), store, start.

        `client`: read just now by `_start_turn` (a queued prompt reads it again)."""
        session = self._require()
        if client is None:
            client = await self.core.aclient_of(session)
        pending.client = client
        now = self.core.clock.now()
        max_bytes = self.core.settings.max_history_bytes
        try:
            retried = await self._keyed_turn(session, pending)
            replaces: Message | None = None
            if retried is not None and retried[1] is not None:
                # The same prompt was answered already: hand back its stored answer, ask nothing.
                user, reply = retried
                if self._stored_answer_stands(session, reply):
                    _finish(pending.sink, TurnEnd(_result_of(reply, [user, reply]), None))
                    return
                replaces = reply  # an error marker, the newest message: answer it again
            if retried is None and await self._answer_unanswered_first(session, pending):
                return
            limits.check_turn(
                session,
                client.limiting_parameters,
                now,
                input_tokens=_input_tokens(pending.contents, pending.instructions),
                new_messages=len(pending.contents) if pending.commit and retried is None else 0,
                new_bytes=0,
                max_history_bytes=max_bytes,
            )
        except ChinwagError as exc:
            _finish(pending.sink, TurnEnd(None, exc))
            return
        if retried is not None:
            # Stored before a crash but never answered, or answered by an error marker: answer
            # it without storing it again, from the history up to it.
            await self._launch(pending, [retried[0]], replaces=replaces)
            return
        seq = session.next_seq
        last = len(pending.contents) - 1
        user_messages = [
            Message(
                id=new_id(),
                seq=seq + i,
                role="user",
                content=c,
                created_at=now,
                idempotency_key=pending.idempotency_key if i == last else None,
            )
            for i, c in enumerate(pending.contents)
        ]
        updated = msgspec.structs.replace(
            session,
            expires_at=limits.renewed_expiry(session.expires_at, now),
            last_activity_at=now,
            recent_prompts=limits.record_prompt(session, client.limiting_parameters, now),
        )
        extra: list[Any] = []
        if pending.commit:
            extra, size = self.core.repo.put_messages_sized(session.id, user_messages)
            try:
                limits.check_history_size(session, size, max_bytes)
            except ChinwagError as exc:
                _finish(pending.sink, TurnEnd(None, exc))
                return
            if pending.idempotency_key is not None:
                extra += self.core.repo.put_idempotency(
                    session.id, pending.idempotency_key, user_messages[-1].seq
                )
            updated = msgspec.structs.replace(
                updated,
                next_seq=seq + len(user_messages),
                message_count=session.message_count + len(user_messages),
                history_bytes=session.history_bytes + size,
            )
            self._tail_answered = False  # until its reply is stored
        await self._save(updated, extra)  # durable before the model sees it
        await self._launch(pending, user_messages)

    def _stored_answer_stands(self, session: Session, reply: Message) -> bool:
        """Whether a retry gets the stored answer as is (raises when it cannot be answered).

        A complete or stopped answer is returned exactly. An error marker that is still the
        newest message is answered again (the retry is why the client came back); one with
        other exchanges after it cannot be answered again without breaking the history's order.
        """
        if reply.status != "error":
            return True
        if reply.seq == session.next_seq - 1:
            return False
        raise ModelFailed(
            "the assistant could not answer this message and the conversation has moved on; "
            "send it again as a new message"
        )

    async def _answer_unanswered_first(self, session: Session, pending: _Pending) -> bool:
        """When the newest stored message is a user message nobody answered (the process died
        before its reply was stored), answer it now, before `pending`, which waits at the front
        of the queue. Its answer is stored for a later retry of that message."""
        if self._tail_answered or limits.is_expired(session, self.core.clock.now()):
            return False
        tail = await self.core.repo.anewest_message(session.id)
        if tail is None or tail.role != "user":
            self._tail_answered = True
            return False
        log.info("session %s: answering message %d left unanswered", session.id, tail.seq)
        self.queue.appendleft(pending)
        recovery = _Pending([tail.content], True, None, _nobody(), tail.idempotency_key)
        await self._launch(recovery, [tail])
        return True

    async def _launch(
        self, pending: _Pending, user_messages: list[Message], *, replaces: Message | None = None
    ) -> None:
        session = self._require()
        self.core.metrics.turns_started += 1
        scope = trio.CancelScope()
        self.running = _Running(scope, self.epoch, pending, user_messages, replaces=replaces)
        self.reply_log = self.running.log
        _send(pending.sink, ReplyStarted(self.reply_log.reply_id))
        self.core.start_task(self._run_turn, self.running, name=f"turn:{session.id}")

    async def _run_turn(self, running: _Running) -> None:
        outcome = TurnOutcome()
        pending = running.pending
        try:
            with running.scope:
                await self._stream_reply(running, outcome)
        except ChinwagError as exc:
            outcome.status, outcome.error = "error", exc
        except Exception as exc:  # a provider bug must not take the session down
            log.exception("turn failed in session %s", self.session_id)
            outcome.status, outcome.error = "error", ModelFailed(f"the assistant failed: {exc}")
        if running.scope.cancelled_caught and outcome.status == "complete":
            outcome.status = "stopped"
        if outcome.error is not None:
            self.core.metrics.model_errors += 1
        try:
            result = await self.ref.ask(_FinishTurn(running.epoch, outcome, running))
        except ChinwagError as exc:  # not stored (e.g. cluster: another node took the session)
            result, outcome.error = None, exc
        except Exception as exc:  # the actor stopped (deleted) meanwhile
            log.info("turn result of %s not stored: %s", self.session_id, exc)
            result = None
        if result is None and outcome.error is None:
            end = TurnEnd(None, running.abandoned or Conflict("the conversation was cleared"))
        else:
            end = TurnEnd(result, outcome.error)
        running.log.finish(end)
        _send(pending.sink, end)
        _close(pending.sink)

    async def _stream_reply(self, running: _Running, outcome: TurnOutcome) -> None:
        session = self._require()
        client = running.pending.client or await self.core.aclient_of(session)
        gateway = await self.core.agateway_of(client)
        context: list[str] = []
        if session.extra_context:
            context.append(session.extra_context)
        if session.context_location:
            fetched = await self.core.fetch_context(session.context_location)
            if fetched:
                context.append(fetched)
        if running.pending.instructions:
            context.append(running.pending.instructions)
        history = await self._model_history(session, gateway, running, context)
        outcome.prompt_tokens = estimate_tokens(
            "\n".join(context) + "".join(message_text(m["content"]) for m in history)
        )
        assistant = make_assistant(gateway, self.core.assistant_deps)
        sink = running.pending.sink
        stream = assistant.stream(Turn(messages=history, context=context))
        async with contextlib.aclosing(stream) as events:  # a stop closes the upstream at once
            async for event in events:
                self._collect(event, outcome)
                running.log.append(event)
                _send(sink, event)

    @staticmethod
    def _collect(event: Any, outcome: TurnOutcome) -> None:
        """Accumulate a streamed event into what will be stored."""
        if isinstance(event, ContentDelta):
            outcome.content_parts.append(event.text)
        elif isinstance(event, ReasoningDelta):
            outcome.reasoning_parts.append(event.text)
        elif isinstance(event, ToolEvent):
            if event.result is None:
                outcome.tool_calls.append(
                    ToolCall(id=event.id, name=event.name, arguments=event.arguments)
                )
            else:
                for call in outcome.tool_calls:
                    if call.id == event.id:
                        call.result = event.result
        elif isinstance(event, UsageReport):
            outcome.usage = outcome.usage.plus(event.usage)
            outcome.usage_reported = True

    async def _keyed_turn(
        self, session: Session, pending: _Pending
    ) -> tuple[Message, Message | None] | None:
        """The stored user message carrying this prompt's idempotency key, and its stored
        answer if it has one (None when the key was never seen: a new prompt). Found through
        the key index, however many messages came after it."""
        key = pending.idempotency_key
        if key is None or not pending.commit:
            return None
        entry = await self.core.repo.aidempotency_entry(session.id, key)
        if entry is None:
            return None
        user_seq, answer_seq = entry
        user = await self.core.repo.amessage(session.id, user_seq)
        if user is None:
            return None
        if user.content != pending.contents[-1]:
            raise Conflict(
                "this Idempotency-Key was already used for a different prompt; "
                "use a new key for a new message"
            )
        answer = (
            await self.core.repo.amessage(session.id, answer_seq)
            if answer_seq is not None
            else None
        )
        return user, answer

    async def _model_history(
        self, session: Session, gateway: Gateway, running: _Running, context: list[str]
    ) -> list[dict[str, Any]]:
        """What the model is sent: the newest stored messages up to (and including) the one
        answered, as far as the context budget goes, plus an uncommitted prompt at the end."""
        budget = history_budget(gateway, self.core.settings, estimate_tokens("\n".join(context)))
        repo = self.core.repo
        pending = running.pending
        if pending.commit and running.user_messages:
            up_to = running.user_messages[-1].seq
            return await amodel_history(repo.amessages_backward(session.id, up_to=up_to), budget)
        extra = [{"role": "user", "content": c} for c in pending.contents]
        return await amodel_history(repo.amessages_backward(session.id), budget, extra=extra)

    async def _finish_turn(self, message: _FinishTurn) -> dict[str, Any] | None:
        running = message.running or self.running
        own = running is self.running
        if own:
            self.running = None
        try:
            if message.epoch != self.epoch or self.session is None:
                return None  # cleared or deleted while it ran: nothing to store
            if not own and not self._still_unanswered(running):
                return None  # started before a restart of this actor and answered since
            return await self._store_reply(message.outcome, running)
        finally:
            if own:
                await self._start_next()

    def _still_unanswered(self, running: _Running | None) -> bool:
        """Whether a turn's user message is still the newest message (nothing answered it)."""
        if running is None or not running.pending.commit or not running.user_messages:
            return running is not None
        session = self._require()
        newest = session.next_seq - 1
        if running.replaces is not None:
            return running.replaces.seq == newest  # its error marker is still the newest
        return running.user_messages[-1].seq == newest

    async def _store_reply(self, outcome: TurnOutcome, running: _Running | None) -> dict[str, Any]:
        session = self._require()
        now = self.core.clock.now()
        commit = running.pending.commit if running is not None else True
        answered = running.user_messages[-1] if running and running.user_messages else None
        usage = outcome.billed_usage()
        if usage.total_tokens == 0 and usage.input_tokens + usage.output_tokens:
            usage = msgspec.structs.replace(
                usage, total_tokens=usage.input_tokens + usage.output_tokens
            )
        # A retry answering an error marker that is still the newest message stores its answer
        # in the marker's place: one answer per user message, no pile of markers counting
        # toward maxMessages and the history size.
        replaced = running.replaces if running is not None and commit else None
        if replaced is not None and replaced.seq != session.next_seq - 1:
            replaced = None
        reply = Message(
            id=new_id(),
            seq=replaced.seq if replaced is not None else session.next_seq,
            role="assistant",
            content=outcome.content,
            created_at=now,
            reasoning=outcome.reasoning or None,
            tool_calls=outcome.tool_calls,
            usage=usage,
            status=outcome.status,  # type: ignore[arg-type]
            error=outcome.error.message if outcome.error else None,
            in_reply_to=answered.seq if commit and answered is not None else None,
            request_id=running.pending.request_id if running and outcome.error else None,
        )
        updated = msgspec.structs.replace(
            session,
            usage=session.usage.plus(usage),
            conversation_usage=session.conversation_usage.plus(usage),
            last_activity_at=now,
        )
        extra: list[Any] = []
        if commit:
            extra, size = self.core.repo.put_messages_sized(session.id, [reply])
            if answered is not None and answered.idempotency_key is not None:
                extra += self.core.repo.put_idempotency(
                    session.id, answered.idempotency_key, answered.seq, reply.seq
                )
            if replaced is not None:
                # The marker's stored size (the repository measures it as it would store it).
                _ops, replaced_size = self.core.repo.put_messages_sized(session.id, [replaced])
                # Feedback is kept per seq: a rating of the marker must not pass to its successor.
                old_feedback = await self.core.repo.afeedback(session.id, replaced.seq)
                if old_feedback is not None:
                    extra += self.core.repo.delete_feedback(old_feedback)
                updated = msgspec.structs.replace(
                    updated,
                    history_bytes=max(0, session.history_bytes - replaced_size) + size,
                )
            else:
                updated = msgspec.structs.replace(
                    updated,
                    next_seq=session.next_seq + 1,
                    message_count=session.message_count + 1,
                    history_bytes=session.history_bytes + size,
                )
        await self._save(updated, extra)
        if commit:
            self._tail_answered = True  # the reply just stored is the newest message
        created = (running.user_messages if running is not None else []) + [reply] if commit else []
        return _result_of(reply, created)

    async def _start_next(self) -> None:
        if self.core.closing:
            self._abandon_turns(
                ServiceUnavailable("chinwag is shutting down; send it again shortly")
            )
            return
        while self.queue and self.running is None:
            pending = self.queue.popleft()
            try:
                await self._begin(pending)
            except ChinwagError as exc:  # e.g. a refused write: the waiting client learns why
                _send(pending.sink, TurnEnd(None, exc))
                _close(pending.sink)

    def _stop(self) -> bool:
        if self.running is None:
            return False
        self.running.scope.cancel()
        return True
