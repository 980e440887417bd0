"""The assistant for any OpenAI-compatible Chat Completions server (OpenAI, LiteLLM, vLLM,
Ollama, llama.cpp server...), streamed over SSE.

One turn may take several model calls: when the gateway enables research tools and the model
calls them, the tools run here, their results are appended and the model is asked again, up to
`max_tool_steps` times; the last call is made without tools so the turn always ends in an answer.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import trio
from httpx_sse import SSEError, aconnect_sse

from chinwag.errors import ModelFailed, ModelTimeout
from chinwag.gateways.base import (
    AssistantDeps,
    ContentDelta,
    Event,
    ReasoningDelta,
    ToolEvent,
    Turn,
    UsageReport,
)
from chinwag.gateways.fetch import UrlGuard
from chinwag.gateways.prompt_budget import fit_messages, prompt_budget, prompt_tokens
from chinwag.gateways.remote_images import has_remote_images
from chinwag.gateways.retry_policy import RetryPolicy, is_retryable_status, parse_retry_after
from chinwag.gateways.think_tags import ThinkSplitter
from chinwag.gateways.tools import ToolRunner, research_tools
from chinwag.records import Gateway, Usage


# The parts of a `chat.completion.chunk` chinwag reads. Decoding into these typed structs skips
# building dicts for everything else (ids, model names, logprobs), the bulk of each chunk.
class _FunctionDelta(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCallDelta(msgspec.Struct):
    index: int = 0
    id: str | None = None
    function: _FunctionDelta | None = None


class _Delta(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[_ToolCallDelta] | None = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    finish_reason: str | None = None


class _Chunk(msgspec.Struct):
    choices: list[_Choice] | None = None
    usage: dict[str, Any] | None = None
    error: Any = None


_decode_chunk = msgspec.json.Decoder(_Chunk).decode


REMOTE_IMAGE_PLACEHOLDER = {"type": "text", "text": "[image not available]"}


def _without_remote_images(message: dict[str, Any]) -> dict[str, Any]:
    """The message with http(s) image URLs left out: chinwag inlines new ones as data URLs
    (remote_images.py), so only records stored before that carry URLs, and the model server
    must not be made to fetch them."""
    content = message.get("content")
    if not isinstance(content, list) or not has_remote_images(content):
        return message
    parts = [
        REMOTE_IMAGE_PLACEHOLDER if isinstance(part, dict) and has_remote_images([part]) else part
        for part in content
    ]
    return {**message, "content": parts}


def build_messages(instructions: str | None, turn: Turn) -> list[dict[str, Any]]:
    """The request's messages: one system message (gateway instructions, then each context
    text, separated by blank lines; left out when all are empty), then the conversation."""
    parts = [text.strip() for text in (instructions, *turn.context) if text and text.strip()]
    system = [{"role": "system", "content": "\n\n".join(parts)}] if parts else []
    return system + [_without_remote_images(m) for m in turn.messages]


@dataclass
class _ToolCallParts:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class _CallOutcome:
    """What one model call produced besides the streamed events."""

    emitted: bool = False
    finished: bool = False
    content: list[str] = field(default_factory=list)
    produced_chars: int = 0
    usage: Usage | None = None
    tool_calls: dict[int, _ToolCallParts] = field(default_factory=dict)


class _Retry(Exception):
    """A failure worth another attempt if nothing was streamed yet."""

    def __init__(self, error: ModelFailed | ModelTimeout, retry_after: float | None = None):
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


def _error_detail(response: httpx.Response) -> str:
    """The server's own error message (OpenAI JSON shape or plain text), shortened."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or error)[:300]
        return str(error)[:300]
    return str(body)[:300]


def _tool_calls_message(outcome: _CallOutcome, calls: list[_ToolCallParts]) -> dict[str, Any]:
    """The assistant message that asked for `calls`, as the next request must repeat it."""
    return {
        "role": "assistant",
        "content": "".join(outcome.content) or None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ],
    }


def _add_tool_call_parts(outcome: _CallOutcome, parts: list[_ToolCallDelta]) -> None:
    """Accumulate streamed tool-call pieces (id and name come once, arguments in pieces)."""
    for part in parts:
        call = outcome.tool_calls.setdefault(part.index, _ToolCallParts())
        call.id = part.id or call.id
        if part.function is not None:
            call.name += part.function.name or ""
            call.arguments += part.function.arguments or ""
            outcome.produced_chars += len(part.function.arguments or "")


def _usage(raw: dict[str, Any]) -> Usage:
    prompt = int(raw.get("prompt_tokens") or 0)
    completion = int(raw.get("completion_tokens") or 0)
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        total_tokens=int(raw.get("total_tokens") or prompt + completion),
    )


class OpenAIAssistant:
    """Streams one turn from an OpenAI-compatible server as chinwag events.

    Consume `stream()` inside `contextlib.aclosing(...)` (or cancel the consuming task): either
    closes the upstream HTTP response at once, so the server stops generating.

    Reasoning arrives as `reasoning_content`/`reasoning` deltas or inline `<think>` blocks; both
    become ReasoningDelta. Failures raise ModelFailed (502) or ModelTimeout (504) with the
    status and the server's message. `sleep` and `random` are injectable for tests.
    """

    def __init__(
        self,
        gateway: Gateway,
        deps: AssistantDeps,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
        rand: Callable[[], float] = random.random,
        guard: UrlGuard | None = None,
    ) -> None:
        self.gateway = gateway
        self.params = gateway.parameters
        self.deps = deps
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rand = rand
        self.guard = guard or UrlGuard(allow_private=deps.fetch_allow_private)
        self.tools = ToolRunner(deps.http, self.params.research, self.guard)
        base_url = (self.params.base_url or "https://api.openai.com/v1").rstrip("/")
        self.url = f"{base_url}/chat/completions"
        self.timeout = httpx.Timeout(self.params.timeout_seconds)
        self.headers = (
            {"Authorization": f"Bearer {self.params.api_key}"} if self.params.api_key else {}
        )

    async def stream(self, turn: Turn) -> AsyncIterator[Event]:
        """Yield the turn's events, ending with one UsageReport summed over all model calls.

        When a call's server reports no usage (no final usage chunk), that call's usage is
        estimated with `estimate_tokens` (about 4 characters a token) over the prompt sent and
        the text received, and the report is marked `estimated=True`.

        Everything per token happens in this one generator (no nested generators to pass each
        event through): that keeps the streaming overhead within a few percent of bare httpx-sse.
        """
        params = self.params
        messages = build_messages(params.instructions, turn)
        tools = research_tools(params.research)
        total = Usage()
        estimated = False
        steps = max(0, params.max_tool_steps) if tools else 0
        for step in range(steps + 1):
            offered = tools if step < steps else []
            messages = self._fit(messages)
            body = self._body(messages, offered)
            attempt = 1
            while True:  # retried only before the call's first token
                outcome = _CallOutcome()
                try:
                    with self._translate_errors(outcome):
                        async with aconnect_sse(
                            self.deps.http,
                            "POST",
                            self.url,
                            json=body,
                            headers=self.headers,
                            timeout=self.timeout,
                        ) as source:
                            await self._check_status(source.response)
                            splitter = ThinkSplitter()
                            async for sse in source.aiter_sse():
                                if sse.data == "[DONE]":
                                    outcome.finished = True
                                    break
                                for event in self._chunk_events(sse.data, splitter, outcome):
                                    yield event
                            for event in self._end_of_stream(splitter, outcome):
                                yield event
                    break
                except _Retry as failure:
                    if outcome.emitted or attempt >= self.retry.max_attempts:
                        raise failure.error from None
                    await self.sleep(self.retry.delay(attempt, failure.retry_after, self.rand()))
                    attempt += 1
            if outcome.usage is None:
                estimated = True
                prompt = prompt_tokens(messages)
                output = (outcome.produced_chars + 3) // 4  # estimate_tokens' rule
                outcome.usage = Usage(
                    input_tokens=prompt, output_tokens=output, total_tokens=prompt + output
                )
            total = total.plus(outcome.usage)
            if not offered or not outcome.tool_calls:
                break
            calls = [outcome.tool_calls[i] for i in sorted(outcome.tool_calls)]
            for number, call in enumerate(calls):
                call.id = call.id or f"call_{step}_{number}"
            messages = [*messages, _tool_calls_message(outcome, calls)]
            for call in calls:
                yield ToolEvent(call.id, call.name, call.arguments)
                result = await self.tools.run(call.name, call.arguments)
                yield ToolEvent(call.id, call.name, call.arguments, result)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        yield UsageReport(total, estimated=estimated)

    def _fit(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Leave out the oldest turns when a context window is configured (see prompt_budget)."""
        window = self.params.context_window_tokens
        if not window:
            return messages
        return fit_messages(messages, prompt_budget(window, self.params.max_completion_tokens))

    def _body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        params = self.params
        body: dict[str, Any] = {
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.model:
            body["model"] = params.model
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.max_completion_tokens is not None:
            body["max_completion_tokens"] = params.max_completion_tokens
        if params.reasoning_effort:
            body["reasoning_effort"] = params.reasoning_effort
        if tools:
            body["tools"] = tools
        return body

    async def _check_status(self, response: httpx.Response) -> None:
        """Raise for an error answer (a _Retry for 429 and 5xx) with the server's message."""
        if response.is_success:
            return
        await response.aread()
        error = ModelFailed(
            f"the model server answered HTTP {response.status_code}: "
            f"{_error_detail(response) or response.reason_phrase}"
        )
        if is_retryable_status(response.status_code):
            raise _Retry(error, parse_retry_after(response.headers.get("retry-after")))
        raise error

    @contextmanager
    def _translate_errors(self, outcome: _CallOutcome) -> Iterator[None]:
        """httpx and SSE failures as ModelFailed/ModelTimeout, or _Retry where retrying helps."""
        seconds = self.params.timeout_seconds
        try:
            yield
        except SSEError as error:  # a TransportError subclass: before that branch
            raise ModelFailed(f"the model server did not answer with a stream: {error}") from None
        except httpx.ConnectTimeout:
            raise _Retry(
                ModelTimeout(
                    f"the model server at {self.url} did not accept a connection "
                    f"within {seconds:g} seconds"
                )
            ) from None
        except httpx.TimeoutException:
            raise ModelTimeout(
                f"the model server sent nothing for {seconds:g} seconds (timeoutSeconds)"
            ) from None
        except httpx.ConnectError as error:
            raise _Retry(
                ModelFailed(f"cannot connect to the model server at {self.url}: {error}")
            ) from None
        except httpx.TransportError as error:
            failure = ModelFailed(
                f"the model server broke off the reply: {error or type(error).__name__}"
            )
            if outcome.emitted:
                raise failure from None
            raise _Retry(failure) from None

    def _end_of_stream(self, splitter: ThinkSplitter, outcome: _CallOutcome) -> list[Event]:
        """The held-back tail of the content; raise if the reply never finished."""
        events: list[Event] = []
        thought, said = splitter.flush()
        if thought:
            events.append(ReasoningDelta(thought))
        if said:
            outcome.content.append(said)
            events.append(ContentDelta(said))
        if not outcome.finished:
            raise ModelFailed("the model server ended the stream before the reply was complete")
        return events

    def _chunk_events(
        self, data: str, splitter: ThinkSplitter, outcome: _CallOutcome
    ) -> list[Event]:
        """The events of one SSE chunk (a plain function: one generator layer less per token)."""
        if not data:
            return []
        try:
            chunk = _decode_chunk(data)
        except msgspec.ValidationError as error:
            raise ModelFailed(
                f"the model server sent a chunk of unexpected shape: {error}"
            ) from None
        except msgspec.DecodeError:
            raise ModelFailed(
                f"the model server sent a chunk that is not JSON: {data[:200]!r}"
            ) from None
        if chunk.error:
            error = chunk.error
            detail = error.get("message", error) if isinstance(error, dict) else error
            raise ModelFailed(f"the model server reported an error mid-reply: {detail}")
        if chunk.usage:
            outcome.usage = _usage(chunk.usage)
        events: list[Event] = []
        for choice in chunk.choices or ():
            delta = choice.delta
            if delta is not None:
                reasoning = delta.reasoning_content or delta.reasoning
                if reasoning:
                    outcome.produced_chars += len(reasoning)
                    events.append(ReasoningDelta(reasoning))
                content = delta.content
                if content:
                    outcome.produced_chars += len(content)
                    thought, said = splitter.feed(content)
                    if thought:
                        events.append(ReasoningDelta(thought))
                    if said:
                        outcome.content.append(said)
                        events.append(ContentDelta(said))
                if delta.tool_calls:
                    _add_tool_call_parts(outcome, delta.tool_calls)
            if choice.finish_reason:
                outcome.finished = True
        if events:
            outcome.emitted = True
        return events
