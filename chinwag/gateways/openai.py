"""The assistant for any OpenAI-compatible Chat Completions server (OpenAI, LiteLLM, vLLM,
Ollama, llama.cpp server...), streamed over SSE.

One turn may take several model calls: when the gateway enables research tools and the model
calls them, the tools run here, their results are appended and the model is asked again, up to
`max_tool_steps` times; the last call is made without tools so the turn always ends in an answer.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
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
from chinwag.gateways.retry_policy import RetryPolicy, is_retryable_status, parse_retry_after
from chinwag.gateways.think_tags import ThinkSplitter
from chinwag.gateways.tools import ToolRunner, research_tools
from chinwag.records import Gateway, Usage

_decode = msgspec.json.Decoder().decode


def build_messages(instructions: str | None, turn: Turn) -> list[dict[str, Any]]:
    """The request's messages: one system message (gateway instructions, then each context
    text, separated by blank lines; left out when all are empty), then the conversation."""
    parts = [text.strip() for text in (instructions, *turn.context) if text and text.strip()]
    system = [{"role": "system", "content": "\n\n".join(parts)}] if parts else []
    return system + list(turn.messages)


@dataclass
class _ToolCallParts:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class _CallOutcome:
    """What one model call produced besides the streamed events."""

    emitted: bool = False
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
        """
        params = self.params
        messages = build_messages(params.instructions, turn)
        tools = research_tools(params.research)
        runner = ToolRunner(self.deps.http, params.research, self.guard) if tools else None
        total = Usage()
        estimated = False
        steps = max(0, params.max_tool_steps) if tools else 0
        for step in range(steps + 1):
            offered = tools if step < steps else []
            messages = self._fit(messages)
            outcome = _CallOutcome()
            async with aclosing(self._call(messages, offered, outcome)) as events:
                async for event in events:
                    yield event
            if outcome.usage is None:
                estimated = True
                prompt = prompt_tokens(messages)
                output = (outcome.produced_chars + 3) // 4  # estimate_tokens' rule
                outcome.usage = Usage(
                    input_tokens=prompt, output_tokens=output, total_tokens=prompt + output
                )
            total = total.plus(outcome.usage)
            if not offered or not outcome.tool_calls or runner is None:
                break
            calls = [outcome.tool_calls[i] for i in sorted(outcome.tool_calls)]
            for number, call in enumerate(calls):
                call.id = call.id or f"call_{step}_{number}"
            messages = [
                *messages,
                {
                    "role": "assistant",
                    "content": "".join(outcome.content) or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        }
                        for c in calls
                    ],
                },
            ]
            for call in calls:
                yield ToolEvent(call.id, call.name, call.arguments)
                result = await runner.run(call.name, call.arguments)
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

    async def _call(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], outcome: _CallOutcome
    ) -> AsyncIterator[Event]:
        """One model call with retries before its first token."""
        body = self._body(messages, tools)
        attempt = 1
        while True:
            try:
                async with aclosing(self._attempt(body, outcome)) as events:
                    async for event in events:
                        yield event
                return
            except _Retry as failure:
                if outcome.emitted or attempt >= self.retry.max_attempts:
                    raise failure.error from None
                await self.sleep(self.retry.delay(attempt, failure.retry_after, self.rand()))
                attempt += 1

    async def _attempt(self, body: dict[str, Any], outcome: _CallOutcome) -> AsyncIterator[Event]:
        seconds = self.params.timeout_seconds
        try:
            async with aconnect_sse(
                self.deps.http,
                "POST",
                self.url,
                json=body,
                headers=self.headers,
                timeout=self.timeout,
            ) as source:
                response = source.response
                if not response.is_success:
                    await response.aread()
                    error = ModelFailed(
                        f"the model server answered HTTP {response.status_code}: "
                        f"{_error_detail(response) or response.reason_phrase}"
                    )
                    if is_retryable_status(response.status_code):
                        raise _Retry(error, parse_retry_after(response.headers.get("retry-after")))
                    raise error
                async with aclosing(self._read(source.aiter_sse(), outcome)) as events:
                    async for event in events:
                        yield event
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
        except SSEError as error:
            raise ModelFailed(f"the model server did not answer with a stream: {error}") from None

    async def _read(
        self, events: AsyncIterator[Any], outcome: _CallOutcome
    ) -> AsyncIterator[Event]:
        """Turn SSE chunks into events; raise when the stream ends before the reply does."""
        splitter = ThinkSplitter()
        done = finished = False
        async for sse in events:
            data = sse.data
            if data == "[DONE]":
                done = True
                break
            if not data:
                continue
            try:
                chunk = _decode(data)
            except msgspec.DecodeError:
                raise ModelFailed(
                    f"the model server sent a chunk that is not JSON: {data[:200]!r}"
                ) from None
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                error = chunk["error"]
                detail = error.get("message", error) if isinstance(error, dict) else error
                raise ModelFailed(f"the model server reported an error mid-reply: {detail}")
            usage = chunk.get("usage")
            if usage:
                outcome.usage = _usage(usage)
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning:
                    outcome.emitted = True
                    outcome.produced_chars += len(reasoning)
                    yield ReasoningDelta(reasoning)
                content = delta.get("content")
                if content:
                    outcome.produced_chars += len(content)
                    thought, said = splitter.feed(content)
                    if thought:
                        outcome.emitted = True
                        yield ReasoningDelta(thought)
                    if said:
                        outcome.emitted = True
                        outcome.content.append(said)
                        yield ContentDelta(said)
                for part in delta.get("tool_calls") or ():
                    call = outcome.tool_calls.setdefault(part.get("index", 0), _ToolCallParts())
                    function = part.get("function") or {}
                    call.id = part.get("id") or call.id
                    call.name += function.get("name") or ""
                    call.arguments += function.get("arguments") or ""
                    outcome.produced_chars += len(function.get("arguments") or "")
                if choice.get("finish_reason"):
                    finished = True
        thought, said = splitter.flush()
        if thought:
            yield ReasoningDelta(thought)
        if said:
            outcome.content.append(said)
            yield ContentDelta(said)
        if not (done or finished):
            raise ModelFailed("the model server ended the stream before the reply was complete")
