"""The relay fast path as an ASGI wrapper, in front of the Quart app (cluster mode only).

Measured on the relaying node, a relayed request cost about as much CPU in Quart's request
machinery (request context, hooks, response object) as in the relay itself. A request this
wrapper recognises (a public session route, see `forward.SESSION_ROUTES`, whose access key's
MAC checks out and whose session the owner cache places on another node) is relayed here
without entering Quart, and the owner's answer (which carries the same request id, CORS and
Cache-Control headers the app would add, since the owner ran the same app) is passed back.

Anything else goes to the app exactly as it came, including the body read so far (replayed):
- not a candidate, a cache miss, a node-to-node request, a chunked body or one declared above
  the public cap (1 MiB: the app reads it with its own rules, answers 413 or 400 as always, or
  relays a prompt with images itself), a body not complete within the body timeout (the app
  answers 408);
- a relay the owner refused as not its session or that never connected (the app handles the
  request, as if no relay had been tried);
- a relay sent but not answered: the app is told (`FAILED_SCOPE_KEY`) and answers the
  retryable 503 with its usual headers, without handling the request again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import aclosing
from typing import Any

import trio

from chinwag.errors import ServiceUnavailable
from chinwag.http import deps
from chinwag.http.bodies import BodyLimits
from chinwag.http.forward import FAILED_SCOPE_KEY, NODE_KEY_HEADER, NotRelayed, relay_request
from chinwag.http.request_id import accepted, new_request_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PREFIX = "/api/v1/public/chat-clients/"
_ROUTE = re.compile(r"^/api/v1/public/chat-clients/([^/]+)/(prompt|stream|stop|messages)$")
_FEEDBACK = re.compile(r"^/api/v1/public/chat-clients/([^/]+)/messages/[^/]+/feedback$")
# (method, tail) -> the app's URL rule, for the request metrics.
_RULES = {
    ("POST", "prompt"): "/api/v1/public/chat-clients/<access_key>/prompt",
    ("GET", "stream"): "/api/v1/public/chat-clients/<access_key>/stream",
    ("POST", "stop"): "/api/v1/public/chat-clients/<access_key>/stop",
    ("DELETE", "messages"): "/api/v1/public/chat-clients/<access_key>/messages",
    ("POST", "feedback"): "/api/v1/public/chat-clients/<access_key>/messages/<message_id>/feedback",
}
_NODE_KEY_RAW = NODE_KEY_HEADER.lower().encode()


class RelayGate:
    """Wraps the app's ASGI callable; see the module doc."""

    def __init__(self, inner: ASGIApp, config: MutableMapping[str, Any]) -> None:
        self._inner = inner
        self._config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_PREFIX):
            return await self._inner(scope, receive, send)
        hit = self._candidate(scope)
        if hit is None:
            return await self._inner(scope, receive, send)
        owner_id, session_id, rule = hit
        started = time.perf_counter()
        incoming = _header(scope, b"x-request-id")
        rid = accepted(incoming.decode("latin-1") if incoming else None) or new_request_id()
        # Should the app answer after all, it logs and returns this same request id.
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"x-request-id"]
        scope["headers"].append((b"x-request-id", rid.encode()))
        messages, body = await self._read_body(scope, receive)
        replay = _replaying(messages, receive)
        if body is None:  # the app takes it from here (413, 408, client gone)
            return await self._inner(scope, replay, send)
        node = self._config[deps.SERVICE_KEY].node
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        try:
            relayed = await relay_request(
                node,
                owner_id,
                session_id,
                method=scope["method"].encode(),
                target=target,
                headers=scope["headers"],
                body=body,
                rid=rid,
            )
        except NotRelayed:
            return await self._inner(scope, replay, send)
        except ServiceUnavailable as exc:
            scope[FAILED_SCOPE_KEY] = exc
            return await self._inner(scope, replay, send)
        headers = [(k, v) for k, v in relayed.headers if k != b"x-request-id"]
        headers.append((b"x-request-id", rid.encode()))
        if relayed.chunks is None:
            headers.append((b"content-length", b"%d" % len(relayed.content)))
        await send({"type": "http.response.start", "status": relayed.status, "headers": headers})
        metrics = self._config.get(deps.METRICS_KEY)
        if metrics is not None:  # as the app counts it: until the response head
            metrics.observe(scope["method"], rule, relayed.status, time.perf_counter() - started)
        if relayed.chunks is None:
            await send({"type": "http.response.body", "body": relayed.content, "more_body": False})
        else:
            await _stream(relayed.chunks, receive, send)

    def _candidate(self, scope: Scope) -> tuple[str, str, str] | None:
        """(owner node, session id, URL rule) when the request is relayed here."""
        service = self._config[deps.SERVICE_KEY]
        node = service.node
        if node is None:  # a single node: nothing to relay
            return None
        path, method = scope["path"], scope["method"]
        match = _ROUTE.match(path)
        if match is not None:
            rule = _RULES.get((method, match.group(2)))
        else:
            match = _FEEDBACK.match(path)
            rule = _RULES.get((method, "feedback")) if match is not None else None
        if match is None or rule is None or _header(scope, _NODE_KEY_RAW) is not None:
            return None
        session_id = service.access_key_session_id(match.group(1))
        owner = node.peers.owners.get(session_id) if session_id is not None else None
        if session_id is None or owner is None:
            return None
        return owner, session_id, rule

    async def _read_body(
        self, scope: Scope, receive: Receive
    ) -> tuple[list[Message], bytes | None]:
        """(the messages taken, the whole body), the body None when the app should answer
        (chunked, declared above the cap, too slow, client gone): it is given them back."""
        if _header(scope, b"transfer-encoding") is not None:
            return [], None
        declared_raw = _header(scope, b"content-length")
        try:
            declared = int(declared_raw) if declared_raw is not None else 0
        except ValueError:
            return [], None
        settings = self._config[deps.SETTINGS_KEY]
        # Only bodies within the public cap: a bigger prompt (images) goes through the app,
        # whose bounded request decides as it reads (bodies.py: 400/413 at 1 MiB without
        # media) and whose fast path then relays it.
        limit = BodyLimits.from_settings(settings).public
        if declared > limit:
            return [], None
        if declared == 0:
            return [], b""
        messages: list[Message] = []
        chunks: list[bytes] = []
        with trio.move_on_after(settings.body_timeout_seconds):
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body = b"".join(chunks)
                    return messages, (body if len(body) <= limit else None)
        return messages, None


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive` that first gives back the messages already taken."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _stream(chunks: Any, receive: Receive, send: Send) -> None:
    """Pass the owner's chunks on until they end or the client leaves."""
    async with aclosing(chunks), trio.open_nursery() as nursery:

        async def client_left() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            nursery.cancel_scope.cancel()

        nursery.start_soon(client_left)
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        nursery.cancel_scope.cancel()
