"""A scripted OpenAI-compatible server (plus plain web pages and a SearXNG-like search) for tests.

It is a real Quart-Trio app served by Hypercorn's trio worker on 127.0.0.1 (a free port), and it
speaks the real wire format: `POST /v1/chat/completions` answers with SSE framing
(`data: {json}\\n\\n` ... `data: [DONE]\\n\\n`) or with a JSON error and status code.

Reuse from any suite::

    from tests.gateways.fake_openai import start_fake_openai, text_reply

    async def test_something(nursery):
        fake = await start_fake_openai(nursery)
        fake.script.append(text_reply("Hello there", usage=True))
        ...  # point a gateway at fake.base_url ("http://127.0.0.1:<port>/v1")
        assert fake.requests[0].body["messages"][-1]["content"] == "hi"

Behaviour is scripted per request: each chat request takes the next `Reply` from `fake.script`;
when the script is empty, `fake.default` answers (by default an echo of the last user message, so
suites that only need "a model" need no script). `fake.responder` (a function of the request
body) overrides both. GET requests to other paths are served from `fake.pages` (a `Page`, or a
function returning one, per path), and `GET /search?q=...&format=json` from `fake.search_results`.

Every chat request is recorded (`fake.requests`, body and headers). A stream that ends before
its last chunk because the client went away is counted in `fake.disconnects` and sets
`fake.disconnected` (a trio.Event), so cancellation tests can prove the upstream was closed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio

# ------------------------------------------------------------------ scripted replies


@dataclass
class Reply:
    """One scripted answer to a chat completion request.

    `chunks` are SSE data payloads (dicts are JSON-encoded, strings sent verbatim). `delay` is
    slept before each chunk (trio time, so MockClock makes it instant). `cut_after` drops the
    connection after that many chunks without finishing the body. A non-200 `status` answers
    with `error_body` as JSON instead of a stream.
    """

    status: int = 200
    chunks: list[dict[str, Any] | str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    error_body: Any = None
    delay: float = 0.0
    first_delay: float = 0.0
    cut_after: int | None = None
    done: bool = True
    # Frames sent per write; benchmarks batch them so the server is not the bottleneck.
    batch: int = 1
    # Hold the stream after `hold_after` chunks until `release` is set, setting `held` then:
    # a test sees what the client got mid-reply by events, not by timing.
    hold_after: int | None = None
    held: trio.Event = field(default_factory=trio.Event)
    release: trio.Event = field(default_factory=trio.Event)
    content_type: str = "text/event-stream"


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    """One `chat.completion.chunk` with a single choice carrying `delta`."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        **extra,
    }


def usage_chunk(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The final chunk sent with `stream_options.include_usage`: no choices, only usage."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def split_words(text: str) -> list[str]:
    """`text` cut into word pieces that join back to it exactly ("a b" -> ["a", " b"])."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def text_reply(
    text: str,
    *,
    pieces: list[str] | None = None,
    reasoning: list[str] | None = None,
    reasoning_field: str = "reasoning_content",
    usage: tuple[int, int] | bool = True,
    delay: float = 0.0,
    first_delay: float = 0.0,
    cut_after: int | None = None,
) -> Reply:
    """A streamed answer: optional reasoning deltas, then `text` (in `pieces` or word by word).

    `usage=True` sends a usage chunk with made-up counts (7 prompt, one per piece), a tuple sends
    those counts, `False` sends none.
    """
    content_pieces = pieces if pieces is not None else split_words(text)
    chunks: list[dict[str, Any] | str] = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({reasoning_field: r}) for r in reasoning or []]
    chunks += [chunk({"content": p}) for p in content_pieces]
    chunks.append(chunk({}, finish_reason="stop"))
    if usage is True:
        chunks.append(usage_chunk(7, len(content_pieces)))
    elif usage:
        chunks.append(usage_chunk(*usage))
    return Reply(chunks=chunks, delay=delay, first_delay=first_delay, cut_after=cut_after)


def tool_call_reply(
    calls: list[tuple[str, str, dict[str, Any]]],
    *,
    usage: tuple[int, int] | bool = True,
    arg_piece: int = 5,
) -> Reply:
    """A streamed answer that calls tools: `calls` are (id, name, arguments) tuples.

    Arguments are streamed in pieces of `arg_piece` characters, like real servers do, so the
    client has to accumulate them.
    """
    chunks: list[dict[str, Any] | str] = [chunk({"role": "assistant", "content": None})]
    for index, (call_id, name, arguments) in enumerate(calls):
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        encoded = json.dumps(arguments)
        for start in range(0, len(encoded), arg_piece):
            piece = encoded[start : start + arg_piece]
            chunks.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            )
    chunks.append(chunk({}, finish_reason="tool_calls"))
    if usage is True:
        chunks.append(usage_chunk(11, 3))
    elif usage:
        chunks.append(usage_chunk(*usage))
    return Reply(chunks=chunks)


def error_reply(status: int, message: str, *, retry_after: str | None = None) -> Reply:
    """An OpenAI-style JSON error (`{"error": {"message": ...}}`) with `status`."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(
        status=status,
        headers=headers,
        error_body={"error": {"message": message, "type": "fake_error", "code": status}},
    )


def echo_reply(body: dict[str, Any]) -> Reply:
    """The default answer: `You said: <last user message text>`, word by word, with usage."""
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content", "")
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return text_reply(f"You said: {content}")


# ------------------------------------------------------------------ pages and search


@dataclass
class Page:
    """A plain GET response for fetch/context tests."""

    body: str | bytes = ""
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def redirect(location: str, status: int = 302) -> Page:
    return Page(status=status, headers={"Location": location})


@dataclass
class RecordedRequest:
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    query: dict[str, str]


@dataclass
class FakeOpenAI:
    """The running fake: its URLs, its script and what it saw."""

    origin: str = ""
    script: list[Reply] = field(default_factory=list)
    default: Callable[[dict[str, Any]], Reply] = echo_reply
    responder: Callable[[dict[str, Any]], Reply] | None = None
    pages: dict[str, Page | Callable[[], Page]] = field(default_factory=dict)
    search_results: list[dict[str, str]] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    page_requests: list[RecordedRequest] = field(default_factory=list)
    disconnects: int = 0
    completed_streams: int = 0
    disconnected: trio.Event = field(default_factory=trio.Event)
    cancel_scope: trio.CancelScope | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL to put in a gateway (`.../v1`)."""
        return f"{self.origin}/v1"

    def url(self, path: str) -> str:
        return f"{self.origin}/{path.lstrip('/')}"

    def next_reply(self, body: dict[str, Any]) -> Reply:
        if self.responder is not None:
            return self.responder(body)
        if self.script:
            return self.script.pop(0)
        return self.default(body)

    def stop(self) -> None:
        """Stop serving (the fixture's nursery also stops it when the test ends)."""
        if self.cancel_scope is not None:
            self.cancel_scope.cancel()


def _encode(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


class _Cut(Exception):
    """Raised inside a stream to drop the connection mid-body."""


def build_app(fake: FakeOpenAI) -> QuartTrio:
    app = QuartTrio("fake_openai")
    # Slow scripted streams and MockClock must not trip Quart's own timeouts.
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = None

    @app.post("/v1/chat/completions")
    async def completions() -> Response | tuple[Any, int, dict[str, str]]:
        body = await request.get_json(force=True)
        fake.requests.append(
            RecordedRequest(
                "POST",
                request.path,
                body,
                {k.lower(): v for k, v in request.headers.items()},
                dict(request.args),
            )
        )
        reply = fake.next_reply(body)
        if reply.status != 200:
            return Response(
                json.dumps(reply.error_body),
                status=reply.status,
                headers=reply.headers,
                content_type="application/json",
            )

        async def stream() -> Any:
            sent = 0
            finished = False
            plain = not (reply.delay or reply.first_delay or reply.cut_after)
            if reply.batch > 1 and plain and reply.hold_after is None:
                frames = [*map(_encode, reply.chunks), *([_encode("[DONE]")] if reply.done else [])]
                for start in range(0, len(frames), reply.batch):
                    yield b"".join(frames[start : start + reply.batch])
                fake.completed_streams += 1
                return
            try:
                if reply.first_delay:
                    await trio.sleep(reply.first_delay)
                for payload in reply.chunks:
                    if sent == reply.hold_after:
                        reply.held.set()
                        await reply.release.wait()
                    if reply.delay:
                        await trio.sleep(reply.delay)
                    yield _encode(payload)
                    sent += 1
                    if reply.cut_after is not None and sent >= reply.cut_after:
                        finished = True  # a scripted cut, not a client disconnect
                        raise _Cut
                if reply.done:
                    yield _encode("[DONE]")
                finished = True
                fake.completed_streams += 1
            finally:
                if not finished:
                    fake.disconnects += 1
                    fake.disconnected.set()

        response = Response(stream(), content_type=reply.content_type, headers=reply.headers)
        response.timeout = None
        return response

    @app.get("/search")
    async def search() -> Any:
        fake.page_requests.append(
            RecordedRequest(
                "GET",
                request.path,
                None,
                {k.lower(): v for k, v in request.headers.items()},
                dict(request.args),
            )
        )
        return {"query": request.args.get("q", ""), "results": fake.search_results}

    @app.get("/<path:path>")
    async def page(path: str) -> Response:
        fake.page_requests.append(
            RecordedRequest(
                "GET",
                "/" + path,
                None,
                {k.lower(): v for k, v in request.headers.items()},
                dict(request.args),
            )
        )
        found = fake.pages.get("/" + path)
        if found is None:
            return Response("not found", status=404, content_type="text/plain")
        result = found() if callable(found) else found
        return Response(
            result.body,
            status=result.status,
            headers=result.headers,
            content_type=result.content_type,
        )

    return app


async def _serve(fake: FakeOpenAI, *, task_status: trio.TaskStatus[str]) -> None:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = logging.getLogger("fake_openai")
    config.keep_alive_timeout = 3600  # MockClock jumps must not close idle pooled connections
    app = build_app(fake)
    with trio.CancelScope() as scope:
        fake.cancel_scope = scope
        await serve(app, config, task_status=task_status)


async def start_fake_openai(nursery: trio.Nursery, **options: Any) -> FakeOpenAI:
    """Start the fake in `nursery` (it stops when the nursery is cancelled); return it running.

    Keyword options set `FakeOpenAI` fields (script, pages, search_results, default, responder).
    """
    fake = FakeOpenAI(**options)
    binds = await nursery.start(_serve, fake)
    fake.origin = binds[0]
    return fake
