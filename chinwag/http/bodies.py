"""Request bodies: a cap per route, read only when a handler asks, never buffered past the cap.

Why it is shaped like this:
- Quart-Trio pulls the body off the connection as soon as a request starts, whether or not a
  handler wants it. `BodyGate` (an ASGI wrapper) holds body messages back until the handler
  reads the body, so a request refused for its credentials (401) is answered before any of its
  body is received: 30 anonymous 8 MiB uploads cost the server nothing but the answers.
- The cap depends on the route (`BodyLimits.for_route`): public routes and webhooks 1 MiB, a
  public prompt 10 MiB (the bigger cap is only for prompts with image parts, see
  `check_prompt_size`), management 8 MiB. Quart enforces it: a declared Content-Length above
  it is refused before reading, a chunked body as soon as it passes it (413).
- A prompt body is read past the public cap only when what arrived so far names an image (or
  other media) part: a prompt's text and instructions are bounded far below 1 MiB, so the
  first media part always starts within it. Anything else is refused as soon as it passes
  1 MiB, not after up to 10 MiB was read only to be refused (`GatedBody.append`): 400 naming
  the field when an unknown top-level field has arrived by then (what the whole body would
  have got), else 413.
- A body that does not arrive within `body_timeout_seconds` of being read gets 408, so a
  trickled body cannot hold a connection for long.
- An answer given before the body arrived (401, 404, ...) closes the connection; the rest of
  the body is discarded unbuffered for a short while first (a "lingering close"), so a client
  still sending it gets the answer instead of a connection reset.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import msgspec
import trio
from quart_trio.wrappers.request import TrioBody, TrioRequest

from chinwag.config import Settings
from chinwag.errors import ChinwagError, InvalidInput
from chinwag.rules.prompt import PromptBody

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Keys this module adds to the ASGI scope (read back by `BoundedRequest`).
LIMIT_SCOPE_KEY = "chinwag.body_limit"
GATE_SCOPE_KEY = "chinwag.body_gate"
MEDIA_SCOPE_KEY = "chinwag.body_media_limits"  # the prompt route: its larger cap needs media

# After an early answer, the rest of the body is discarded for at most this long.
LINGER_SECONDS = 2.0
# Answers after which the rest of the body is not worth waiting for.
_NO_LINGER_STATUSES = frozenset({408, 413})

_PROMPT_PATH = re.compile(r"^/api/v1/public/chat-clients/[^/]+/prompt/?$")
_MEDIA_PART_TYPES = frozenset({"image_url", "input_audio", "file"})
# How a media part's type looks in the raw JSON (see GatedBody.append).
_MEDIA_MARKERS = tuple(f'"{kind}"'.encode() for kind in sorted(_MEDIA_PART_TYPES))
# JSON tokens that matter for finding top-level keys: whole strings and punctuation.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:,]')
_PROMPT_FIELDS = frozenset(f.encode_name for f in msgspec.structs.fields(PromptBody))


class BodyTooLarge(ChinwagError):
    """A body within the route's cap but above the cap for what it carries."""

    status = 413
    code = "body_too_large"


def mib(size: int) -> str:
    """`1048576` -> `1 MiB`, for messages; sizes that are not whole MiB stay in bytes."""
    return f"{size // (1024 * 1024)} MiB" if size % (1024 * 1024) == 0 else f"{size} bytes"


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The body caps of one server, from its settings."""

    management: int
    public: int
    prompt: int

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(
            management=settings.max_body_bytes,
            public=settings.max_public_body_bytes,
            prompt=max(settings.max_prompt_body_bytes, settings.max_public_body_bytes),
        )

    @staticmethod
    def is_prompt(method: str, path: str) -> bool:
        return method == "POST" and _PROMPT_PATH.match(path) is not None

    def for_route(self, method: str, path: str) -> int:
        """The cap for a request: public and webhooks small, management larger."""
        if path.startswith("/api/v1/public/"):
            if self.is_prompt(method, path):
                return self.prompt
            return self.public
        if path.startswith("/api/v1/webhooks/"):
            return self.public
        if path.startswith("/api/v1/"):
            return self.management
        return self.public  # talk page, assets, operations: nothing here takes a body


def has_media_parts(prompt: Any) -> bool:
    """True when a prompt (plain JSON values) carries an image, audio or file part: in a
    message's content, or as an item of a bare list of content parts."""
    messages = prompt if isinstance(prompt, list) else [prompt]
    for message in messages:
        if isinstance(message, dict) and message.get("type") in _MEDIA_PART_TYPES:
            return True
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(part, dict) and part.get("type") in _MEDIA_PART_TYPES for part in content
        ):
            return True
    return False


def check_prompt_size(body_size: int, prompt: Any, limits: BodyLimits) -> None:
    """413 for a prompt above the public cap that has no image parts to justify its size."""
    if body_size > limits.public and not has_media_parts(prompt):
        raise prompt_too_large(limits)


def prompt_too_large(limits: BodyLimits) -> BodyTooLarge:
    return BodyTooLarge(
        f"The request body is larger than the limit of {limits.public} bytes "
        f"({mib(limits.public)}) for a prompt without image parts; with image parts the "
        f"limit is {limits.prompt} bytes ({mib(limits.prompt)})."
    )


def unknown_top_level_field(prefix: bytes, known: frozenset[str]) -> str | None:
    """The first top-level key of the JSON object that `prefix` begins, among the keys that
    arrived whole, that is not in `known` (None: none so far, or not a JSON object)."""
    depth = 0
    expect_key = False
    for match in _JSON_TOKEN.finditer(prefix):
        token = match.group()
        if token in (b"{", b"["):
            depth += 1
            expect_key = token == b"{" and depth == 1
        elif token in (b"}", b"]"):
            depth -= 1
        elif token == b",":
            expect_key = depth == 1
        elif token != b":" and expect_key:
            expect_key = False
            try:
                key = msgspec.json.decode(token)
            except msgspec.DecodeError:
                return None
            if key not in known:
                return str(key)
    return None


class GatedBody(TrioBody):
    """The request body; awaiting or iterating it (get_data, get_json, form parsing, a handler
    streaming it) is what opens the gate: until then none of it is received."""

    gate: _Exchange | None = None
    # On the prompt route: its caps, until a media part is seen (then None: the larger cap).
    media_limits: BodyLimits | None = None

    def append(self, data: bytes) -> None:
        super().append(data)
        limits = self.media_limits
        if limits is None or self._must_raise is not None or len(self._data) <= limits.public:
            return
        # Once, on passing the public cap: only a media part justifies reading on.
        self.media_limits = None
        if not any(marker in self._data for marker in _MEDIA_MARKERS):
            unknown = unknown_top_level_field(bytes(self._data), _PROMPT_FIELDS)
            self._must_raise = (
                InvalidInput(f"Unknown field `{unknown}`.")
                if unknown is not None
                else prompt_too_large(limits)
            )
            self.set_complete()

    def _open_gate(self) -> None:
        if self.gate is not None:
            self.gate.open()

    def __aiter__(self) -> GatedBody:
        self._open_gate()
        return self

    def __await__(self) -> Any:
        self._open_gate()
        return super().__await__()


class BoundedRequest(TrioRequest):
    """A Quart-Trio request whose body cap is the route's (set by `BodyGate` in the scope)."""

    body_class = GatedBody

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        scope = kwargs.get("scope") or {}
        limit = scope.get(LIMIT_SCOPE_KEY)
        if limit is not None:
            kwargs["max_content_length"] = limit
        super().__init__(*args, **kwargs)
        if limit is not None:
            self.max_content_length = limit
        self.body.gate = scope.get(GATE_SCOPE_KEY)
        self.body.media_limits = scope.get(MEDIA_SCOPE_KEY)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value
    return None


def _declared_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _may_have_body(scope: Scope) -> bool:
    if _header(scope, b"transfer-encoding") is not None:
        return True
    length = _declared_length(scope)
    return length is not None and length > 0


class _Exchange:
    """Where one request's body stands, seen from both directions of the ASGI app."""

    def __init__(self, limit: int, declared: int | None, has_body: bool) -> None:
        self.limit = limit
        self.declared = declared
        self.body_done = not has_body
        self.body_wanted = trio.Event()
        self.finished = trio.Event()  # body complete, client gone, or too much discarded
        self.answering = False
        self.discarded = 0
        # Set while the last response message is being handed to the server (see guarded_send).
        self.ending = False
        self.ended = trio.Event()
        if self.body_done:
            self.body_wanted.set()
            self.finished.set()

    def open(self) -> None:
        self.body_wanted.set()

    def mark_finished(self) -> None:
        self.body_done = True
        self.finished.set()


class BodyGate:
    """ASGI wrapper: per-route caps in the scope, body received only on demand, lingering close."""

    def __init__(self, app: ASGIApp, limits: BodyLimits, linger_seconds: float = LINGER_SECONDS):
        self.app = app
        self.limits = limits
        self.linger_seconds = linger_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_route(scope.get("method", "GET"), scope.get("path", ""))
        exchange = _Exchange(limit, _declared_length(scope), _may_have_body(scope))
        scope[LIMIT_SCOPE_KEY] = limit
        scope[GATE_SCOPE_KEY] = exchange
        if self.limits.prompt > self.limits.public and BodyLimits.is_prompt(
            scope.get("method", "GET"), scope.get("path", "")
        ):
            scope[MEDIA_SCOPE_KEY] = self.limits

        async def gated_receive() -> Message:
            if not exchange.body_done:
                await exchange.body_wanted.wait()
            message = await receive()
            kind = message.get("type")
            if kind == "http.disconnect":
                exchange.mark_finished()
                if exchange.ending:
                    # Our own end of response caused it: let the server finish closing first,
                    # or Quart cancels the send half-way and the connection is never closed.
                    await exchange.ended.wait()
            elif kind == "http.request":
                if exchange.answering:
                    # The answer is out: what still arrives is counted and dropped, not kept.
                    exchange.discarded += len(message.get("body", b""))
                    message = {**message, "body": b""}
                    if exchange.discarded > exchange.limit:
                        exchange.finished.set()
                if not message.get("more_body", False):
                    exchange.mark_finished()
            return message

        async def guarded_send(message: Message) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                exchange.answering = True
                exchange.body_wanted.set()  # let the rest be received (and dropped)
                if not exchange.body_done:
                    message = _with_connection_close(message)
                    if message.get("status") in _NO_LINGER_STATUSES or (
                        exchange.declared is not None and exchange.declared > exchange.limit
                    ):
                        exchange.finished.set()  # not worth waiting for: close at once
            elif kind == "http.response.body" and not message.get("more_body", False):
                if not exchange.finished.is_set():
                    if message.get("body"):
                        await send(
                            {
                                "type": "http.response.body",
                                "body": message["body"],
                                "more_body": True,
                            }
                        )
                    with trio.move_on_after(self.linger_seconds):
                        await exchange.finished.wait()
                    message = {"type": "http.response.body", "body": b"", "more_body": False}
                exchange.ending = True
                try:
                    await send(message)
                finally:
                    exchange.ending = False
                    exchange.ended.set()
                return
            await send(message)

        await self.app(scope, gated_receive, guarded_send)


def _with_connection_close(message: Message) -> Message:
    headers = [
        (name, value)
        for name, value in message.get("headers") or ()
        if name.lower() != b"connection"
    ]
    headers.append((b"connection", b"close"))
    return {**message, "headers": headers}


def install_body_bounds(app: Any, settings: Settings) -> BodyLimits:
    """Wire the caps, the gate and the body timeout into a Quart-Trio app."""
    limits = BodyLimits.from_settings(settings)
    app.request_class = BoundedRequest
    app.config["MAX_CONTENT_LENGTH"] = limits.management
    app.config["BODY_TIMEOUT"] = settings.body_timeout_seconds
    app.asgi_app = BodyGate(app.asgi_app, limits)
    return limits
