"""Turns: a prompt goes to its session actor, which streams the reply back; remote images
are fetched through the address guard first."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import msgspec
import trio

from chinwag.actors.session import (
    StartTurn,
    StopTurn,
    TurnEnd,
)
from chinwag.errors import (
    ChinwagError,
    ServiceUnavailable,
)
from chinwag.facade.base import (
    FacadeBase,
    _check_session_id,
    _is_id,
)
from chinwag.gateways.fetch import UrlGuard
from chinwag.gateways.images import normalize_prompt
from chinwag.gateways.remote_images import has_remote_images, inline_remote_images
from chinwag.records import (
    Message,
    ToolCall,
    Usage,
)
from chinwag.request_context import request_id_here
from chinwag.rules.prompt import check_idempotency_key, prompt_input
from chinwag.service import (
    PromptInput,
    StreamItem,
    TurnFinished,
    TurnResult,
)


class TurnsFacade(FacadeBase):
    async def prompt_stream(
        self,
        session_id: str,
        prompt: PromptInput,
        *,
        commit: bool = True,
        instructions: str | None = None,
        idempotency_key: str | None = None,
    ) -> AsyncIterator[StreamItem]:
        body = prompt_input(
            prompt,
            commit=commit,
            instructions=instructions,
            max_chars=self.settings.max_prompt_chars,
        )
        prompt, commit, instructions = body.prompt_builtins(), body.commit, body.instructions
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        prompt = await self._inline_remote_images(session_id, prompt)
        send, receive = trio.open_memory_channel[Any](math.inf)
        async with receive:
            start = StartTurn(
                prompt, commit, instructions, send, idempotency_key, request_id_here()
            )
            await self._ask_session(session_id, start)
            async for item in receive:
                if isinstance(item, TurnEnd):
                    yield _turn_finished(item)
                    return
                yield item
        raise ServiceUnavailable(
            "the reply ended unexpectedly; the conversation keeps what was stored"
        )

    async def _inline_remote_images(self, session_id: str, prompt: PromptInput) -> PromptInput:
        """Fetch http(s) image URLs through the address guard and send them as data URLs
        (see chinwag.gateways.remote_images), after the prompt's own checks pass."""
        if not has_remote_images(prompt):
            return prompt
        session = await self.repo.asession(session_id) if _is_id(session_id) else None
        if session is None:
            return prompt  # the session actor answers 404
        client = await self.core.aclient_of(session)
        normalize_prompt(prompt, allow_images="Image" in client.client_parameters.input_modes)
        guard = UrlGuard(allow_private=self.settings.fetch_allow_private)
        return await inline_remote_images(prompt, self.core.assistant_deps.http, guard=guard)

    async def prompt(
        self,
        session_id: str,
        prompt: PromptInput,
        *,
        commit: bool = True,
        instructions: str | None = None,
        idempotency_key: str | None = None,
    ) -> TurnResult:
        stream = self.prompt_stream(
            session_id,
            prompt,
            commit=commit,
            instructions=instructions,
            idempotency_key=idempotency_key,
        )
        async with aclosing(stream):
            async for item in stream:
                if isinstance(item, TurnFinished):
                    if item.error is not None:
                        raise item.error
                    return item.result
        raise ServiceUnavailable("the reply ended unexpectedly")

    async def stop(self, session_id: str) -> bool:
        _check_session_id(session_id)
        return bool(await self._ask_session(session_id, StopTurn()))


def _turn_finished(end: TurnEnd) -> TurnFinished:
    """The last item of a prompt stream. A turn that failed before it stored a reply raises its
    error; one that failed after its reply started ends with its stored result (status "error")
    and the error, so a stream shows `error` and then `done`."""
    if end.result is None:
        raise end.error or ChinwagError("the reply ended without a result")
    result = _turn_result(end.result)
    if end.error is not None:
        result.status, result.error = "error", end.error.message
    return TurnFinished(result, end.error)


def _turn_result(data: dict[str, Any]) -> TurnResult:
    return TurnResult(
        completion_text=data["completionText"],
        reasoning=data["reasoning"],
        tool_calls=msgspec.convert(data["toolCalls"], list[ToolCall]),
        usage=msgspec.convert(data["usage"], Usage),
        created_messages=msgspec.convert(data["createdMessages"], list[Message]),
        status=data["status"],
    )
