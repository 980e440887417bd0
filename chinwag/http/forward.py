"""Routing in cluster mode: a request for a session active on another live node is relayed there.

Any node accepts any request. It is relayed as it came (method, path, query, headers, body) to
the owner's CHINWAG_NODE_URL and the answer passed back: JSON whole, SSE chunk by chunk as it
arrives, so tokens keep streaming. Two ways in:
- Fast path: a public route that acts on the session (prompt, stream, stop, clear, feedback)
  whose access key (its MAC checked here, no store read) names a session the node's owner
  cache places on another node is relayed before anything else is done here: no session read,
  no body validation (the owner does both), no actor started. The route's body cap still
  applies here (the body is read through the same bounded request).
- NotOwner from the runtime (the claim found a live owner; it also fills the cache).
Both are safe because NotOwner is raised before the session stores anything (the claim precedes
every write), and the owner's own claim and fence decide: a stale cache entry costs at most a
relay the owner refuses. When the owner refuses a relayed request as not its session
(`X-Chinwag-Refusal: session_elsewhere`, meaning nothing was done) or cannot be connected to
(nothing was sent), the fast path forgets the entry and handles the request here as if it had
never tried.

A relay never hangs: connecting gets 1 s, and the wait for the answer and between streamed
chunks lasts as long as the owner is seen alive (its lease plus a margin, `Peers.waiting_on`).
An owner frozen inside its lease is given up once the lease ends: the client gets the retryable
503 (before the answer started) or an SSE `error` event (during it), the cache entry goes, and
the next request claims the session here. Nothing upstream (URLs, addresses, errors) is shown.

Node-to-node calls are signed with the cluster's secret (stored once in the database,
PutIfAbsent): `X-Chinwag-Node-Key` carries a per-request signature over time, method, target and
request id, never the secret (cluster/node_auth.py); a request presenting a wrong, stale or
misplaced one is refused (401), and a relayed request is never relayed again (no loops): if
ownership moved meanwhile, it gets the retryable 503.
The owner proves its answer is a cluster node's: `X-Chinwag-Node-Proof` is an HMAC of the
request id under the secret. An answer without a valid proof (a CHINWAG_NODE_URL where some
other server answers) is never passed on: the public gets the retryable 503 and the log says
which node's URL to check.

A relayed SSE stream that breaks or falls silent ends, like every stream, with an `error` event
then `done` (null usage and result); one warning line is logged, no traceback.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import httpcore
import trio
from quart import Response, g, request
from quart_trio import QuartTrio

from chinwag.cluster import node_auth
from chinwag.cluster.node import Node
from chinwag.cluster.ownership import NotOwner
from chinwag.errors import ServiceUnavailable
from chinwag.http import deps
from chinwag.http.envelope import fail
from chinwag.http.public_errors import PublicErrors, error_message
from chinwag.http.request_id import request_id
from chinwag.http.sse import SSE_MIMETYPE, cut_done, encode_event

log = logging.getLogger(__name__)

NODE_KEY_HEADER = "X-Chinwag-Node-Key"
# Owner -> relaying node only (never passed on): why a relayed request was refused.
REFUSAL_HEADER = "X-Chinwag-Refusal"
# Owner -> relaying node only: HMAC of the request id under the secret (see node_proof).
PROOF_HEADER = "X-Chinwag-Node-Proof"
# Hop-by-hop headers (RFC 9110 §7.6.1), those the relay recomputes, and the internal ones.
_NOT_RELAYED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "date",
        "server",
        "x-request-id",
        NODE_KEY_HEADER.lower(),
        REFUSAL_HEADER.lower(),
        PROOF_HEADER.lower(),
    }
)
_NOT_RELAYED_RAW = frozenset(name.encode() for name in _NOT_RELAYED)
_NODE_KEY_RAW = NODE_KEY_HEADER.lower().encode()
_REFUSAL_RAW = REFUSAL_HEADER.lower().encode()
_PROOF_RAW = PROOF_HEADER.lower().encode()
_SSE_RAW = SSE_MIMETYPE.encode()
# Connecting to a node: 1 s. Reads and writes: bounded by the owner's liveness instead.
_TIMEOUTS = {"connect": 1.0}
_RELAY_ERRORS = (httpcore.NetworkError, httpcore.ProtocolError, httpcore.TimeoutException)
# Set in the ASGI scope by the relay gate (relay_gate.py) when its relay was sent and not
# answered: the app answers with this error instead of handling the request.
FAILED_SCOPE_KEY = "chinwag.relay_failed"
# Public routes that act on their session through its actor: relayed on an owner-cache hit.
SESSION_ROUTES = frozenset(
    {
        "public.prompt",
        "public.attach_to_reply",
        "public.clear_messages",
        "public.stop",
        "public_feedback.rate_message",
    }
)


def _gone() -> ServiceUnavailable:
    """What the public hears when the owner was sent the request but gave no answer."""
    return ServiceUnavailable("this session's node stopped answering; try again", retry_after=1)


def node_proof(secret: str, rid: str) -> str:
    """What an owner answers a relayed request with to prove it holds the cluster's secret
    (bound to the request id, so a proof seen once proves nothing for another request)."""
    message = b"chinwag-node-proof\0" + rid.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def request_target(scope: dict) -> bytes:
    """The request target as sent (path and query, undecoded): what a node key signs."""
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    return target


def signed_by_node(node: Node, scope: dict, presented: bytes) -> bool:
    """Whether `presented` (the node-key header) signs this ASGI request, now, under the
    cluster's secret (see cluster/node_auth.py)."""
    rid = _header(scope.get("headers", ()), b"x-request-id") or b""
    method = scope["method"].encode("latin-1")
    target = request_target(scope)
    return node_auth.verify(node.secret, presented, node.clock.now(), method, target, rid)


class NotRelayed(Exception):
    """The owner refused the request as not its session, or was not reached: nothing was done
    there, so it may be handled here."""


def register_forwarding(app: QuartTrio) -> None:
    """Install the node-key check, the fast path (the ASGI relay gate in front of the app, and
    the same check inside it for what the gate leaves) and the NotOwner relay on `app` (no-ops
    without a cluster)."""
    from chinwag.http.relay_gate import RelayGate  # it builds on this module

    app.asgi_app = RelayGate(app.asgi_app, app.config)  # type: ignore[method-assign]

    @app.before_request
    async def check_node_key() -> Response | None:
        presented = request.headers.get(NODE_KEY_HEADER)
        if presented is None:
            return None
        node = deps.service().node
        if node is None or not signed_by_node(node, request.scope, presented.encode("latin-1")):
            return fail(401, "invalid node credentials")
        g.chinwag_relayed = True
        return None

    @app.after_request
    async def prove_node(response: Response) -> Response:
        if getattr(g, "chinwag_relayed", False):  # the node key checked out: answer in kind
            response.headers[PROOF_HEADER] = node_proof(deps.service().node.secret, request_id())
        return response

    @app.before_request
    async def relay_if_owned_elsewhere() -> Response | None:
        if request.endpoint not in SESSION_ROUTES or getattr(g, "chinwag_relayed", False):
            return None
        failed = request.scope.get(FAILED_SCOPE_KEY)
        if failed is not None:  # the gate's relay got no answer: never handle it again here
            raise failed
        service = deps.service()
        node = service.node
        access_key = (request.view_args or {}).get("access_key")
        if node is None or not isinstance(access_key, str):
            return None
        session_id = service.access_key_session_id(access_key)
        owner = node.peers.owners.get(session_id) if session_id is not None else None
        if session_id is None or owner is None:
            return None
        try:
            return await _relay(node, owner, session_id)
        except NotRelayed:
            return None  # handled here: the runtime claims it or finds its real owner

    @app.errorhandler(NotOwner)
    async def relay_to_owner(error: NotOwner) -> Response:
        node = deps.service().node
        refused = fail(error.status, error.message, retry_after=error.retry_after)
        if node is None or not error.node_id:
            return refused
        if getattr(g, "chinwag_relayed", False):
            refused.headers[REFUSAL_HEADER] = error.code  # for the relaying node only
            return refused
        try:
            return await _relay(node, error.node_id, error.session_id)
        except NotRelayed:
            return refused
        except ServiceUnavailable as exc:  # sent, but no answer came
            return fail(exc.status, error_message(exc), retry_after=exc.retry_after)


async def relay_chat_update(client_id: str, channel: str, chat_id: str) -> Response | None:
    """A chat-app update whose chat session is active on another live node goes there, so the
    chat's owner stores and answers it (None: handle it here). A failed relay is handled here:
    the update is stored once either way (PutIfAbsent) and the fence keeps one writer."""
    service = deps.service()
    node = service.node
    if node is None or getattr(g, "chinwag_relayed", False):
        return None
    session_id = await service.chat_session_id(client_id, channel, chat_id)
    owner = await node.owner_of(session_id) if session_id is not None else None
    if session_id is None or owner is None:
        return None
    try:
        return await _relay(node, owner, session_id)
    except (NotRelayed, ServiceUnavailable):
        log.warning("a %s update is handled here: its chat's owner did not answer", channel)
        return None


async def _relay(node: Node, owner_id: str, session_id: str) -> Response:
    """Send the current Quart request to `owner_id` and return its answer (streamed for SSE)."""
    scope = request.scope
    target = request_target(scope)
    relayed = await relay_request(
        node,
        owner_id,
        session_id,
        method=request.method.encode(),
        target=target,
        headers=scope["headers"],
        body=await request.get_data(),
        rid=request_id(),
    )
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in relayed.headers]
    if relayed.chunks is None:
        return Response(relayed.content, status=relayed.status, headers=headers)
    response = Response(relayed.chunks, status=relayed.status, headers=headers)
    response.timeout = None  # a long reply must not hit Quart's RESPONSE_TIMEOUT
    return response


@dataclass(frozen=True, slots=True)
class Relayed:
    """The owner's answer: status, its headers less the hop-by-hop ones, and the body (whole,
    or `chunks` as they arrive for SSE)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    content: bytes
    chunks: AsyncIterator[bytes] | None


async def relay_request(
    node: Node,
    owner_id: str,
    session_id: str,
    *,
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    rid: str,
) -> Relayed:
    """Send a request (raw ASGI header pairs) to `owner_id` and return its answer.

    Raises NotRelayed when nothing happened there (refused as not its session, not connected,
    or it is no longer alive) and ServiceUnavailable when it was sent but no answer came."""
    peers = node.peers
    base = await node.url_of(owner_id)
    if base is None or node.http is None:
        peers.owners.drop(session_id)
        raise NotRelayed()
    url = _origin(base)
    rid_raw = rid.encode()
    outgoing_headers = [(k, v) for k, v in headers if k not in _NOT_RELAYED_RAW]
    outgoing_headers += [
        (b"host", url.host if url.port is None else b"%b:%d" % (url.host, url.port)),
        (b"content-length", b"%d" % len(body)),
        (_NODE_KEY_RAW, node_auth.sign(node.secret, node.clock.now(), method, target, rid_raw)),
        (b"x-request-id", rid_raw),
    ]
    outgoing = httpcore.Request(
        method,
        httpcore.URL(scheme=url.scheme, host=url.host, port=url.port, target=target),
        headers=outgoing_headers,
        content=body,
        extensions={"timeout": _TIMEOUTS},
    )
    upstream: httpcore.Response | None = None
    content = b""
    streaming = False
    try:
        with peers.waiting_on(owner_id) as waited:
            upstream = await node.http.handle_async_request(outgoing)
            streaming = _is_event_stream(upstream.headers)
            if not streaming:
                content = await upstream.aread()
                await upstream.aclose()
    except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:  # nothing was sent
        peers.owners.drop(session_id)
        log.warning("relay to node %s not connected: %r", owner_id, exc)
        raise NotRelayed() from None
    except _RELAY_ERRORS as exc:
        peers.owners.drop(session_id)
        log.warning("relay to node %s failed: %r", owner_id, exc)
        raise _gone() from None
    if waited.cancelled_caught or upstream is None:
        peers.owners.drop(session_id)
        if upstream is not None:
            await upstream.aclose()
        log.warning("relay to node %s given up: no answer within its lease", owner_id)
        raise _gone()
    proof = _header(upstream.headers, _PROOF_RAW) or b""
    if not hmac.compare_digest(proof, node_proof(node.secret, rid).encode()):
        peers.owners.drop(session_id)
        await upstream.aclose()
        log.warning(
            "relay to node %s: the answer at its CHINWAG_NODE_URL is not from a node of this "
            "cluster (status %d, no valid proof); check that node's CHINWAG_NODE_URL",
            owner_id,
            upstream.status,
        )
        raise _gone()
    if upstream.status == 503:
        peers.owners.drop(session_id)
        if _header(upstream.headers, _REFUSAL_RAW) == NotOwner.code.encode():
            await upstream.aclose()
            raise NotRelayed()
    node.counters.forwarded_requests += 1
    reply_headers = [(k, v) for k, v in upstream.headers if k.lower() not in _NOT_RELAYED_RAW]
    if not streaming:
        return Relayed(upstream.status, reply_headers, content, None)
    chunks = _chunks(node, owner_id, session_id, upstream, PublicErrors("en", rid))
    return Relayed(upstream.status, reply_headers, b"", chunks)


@functools.lru_cache(maxsize=256)
def _origin(base_url: str) -> httpcore.URL:
    """A node's CHINWAG_NODE_URL, parsed once."""
    return httpcore.URL(base_url)


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _is_event_stream(headers: list[tuple[bytes, bytes]]) -> bool:
    return (_header(headers, b"content-type") or b"").startswith(_SSE_RAW)


def _error_event(errors: PublicErrors, ident: str | None) -> bytes:
    """The SSE `error` event, then `done`, a relayed stream ends with when its owner stops
    answering (the body has started: the stream is closed cleanly, never cut)."""
    return encode_event(
        "error",
        {"message": errors.message(_gone()), "status": 503, "requestId": errors.request_id},
        ident,
    ) + cut_done(ident)


def _last_event_id(events: bytes) -> str | None:
    """The value of the last `id:` field in whole SSE events (None: they carry none)."""
    at = events.rfind(b"\nid: ")
    if at < 0:
        if not events.startswith(b"id: "):
            return None
        at = -1
    end = events.find(b"\n", at + 1)
    return events[at + 5 : end].decode("utf-8", "replace") if end > at else None


async def _chunks(
    node: Node, owner_id: str, session_id: str, upstream: httpcore.Response, errors: PublicErrors
) -> AsyncIterator[bytes]:
    """The owner's events as they arrive, whole (a chunk is passed on up to its last event
    boundary), for as long as the owner is seen alive. An owner that stops answering ends the
    stream with `error` then `done`, both carrying the id of the last event passed on (as a
    failed reply's error and done share one id), so a Last-Event-ID resume starts after it."""
    peers = node.peers
    chunks = aiter(upstream.stream)  # type: ignore[arg-type]
    pending = b""  # bytes of an event not yet complete
    last_id: str | None = None
    try:
        while True:
            chunk: bytes | None = None
            try:
                with peers.waiting_on(owner_id) as waited:
                    chunk = await anext(chunks, None)
            except _RELAY_ERRORS as exc:
                log.warning("relayed stream from node %s broke: %s", owner_id, exc)
                peers.owners.drop(session_id)
                yield _error_event(errors, last_id)
                return
            if waited.cancelled_caught:
                log.warning("relayed stream from node %s given up: silent past its lease", owner_id)
                peers.owners.drop(session_id)
                yield _error_event(errors, last_id)
                return
            if chunk is None:
                if pending:
                    yield pending
                return
            pending += chunk
            end = pending.rfind(b"\n\n")
            if end < 0:
                continue
            whole, pending = pending[: end + 2], pending[end + 2 :]
            last_id = _last_event_id(whole) or last_id
            yield whole
    finally:
        with trio.CancelScope(shield=True):  # also when the client left: the pool is freed
            await upstream.aclose()
