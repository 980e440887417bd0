"""Routing in cluster mode: a request for a session active on another live node is relayed there.

Any node accepts any request. When the runtime answers NotOwner (the session's owner row names
another live node), this node re-sends the request as it came (method, path, query, headers,
body) to the owner's CHINWAG_NODE_URL and relays the answer as it arrives, so JSON and SSE
replies pass through unchanged and tokens keep streaming. NotOwner is raised before the session
stores anything (the claim precedes every write), so sending the request again is safe.

Node-to-node calls carry the cluster's secret (stored once in the database, PutIfAbsent) in
`X-Chinwag-Node-Key`; a request presenting a wrong key is refused (401), and a relayed request
is never relayed again (no loops): if ownership moved meanwhile, it gets the retryable 503.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator

import httpx
from quart import Response, g, request
from quart_trio import QuartTrio

from chinwag.cluster.ownership import NotOwner
from chinwag.http import deps
from chinwag.http.envelope import fail
from chinwag.http.request_id import request_id

log = logging.getLogger(__name__)

NODE_KEY_HEADER = "X-Chinwag-Node-Key"
# Hop-by-hop headers (RFC 9110 §7.6.1) and those the relay recomputes.
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
        "x-request-id",
        NODE_KEY_HEADER.lower(),
    }
)


def register_forwarding(app: QuartTrio) -> None:
    """Install the node-key check and the NotOwner relay on `app` (no-ops without a cluster)."""

    @app.before_request
    async def check_node_key() -> Response | None:
        presented = request.headers.get(NODE_KEY_HEADER)
        if presented is None:
            return None
        node = deps.service().node
        if node is None or not node.secret or not hmac.compare_digest(presented, node.secret):
            return fail(401, "invalid node credentials")
        g.chinwag_relayed = True
        return None

    @app.errorhandler(NotOwner)
    async def relay_to_owner(error: NotOwner) -> Response:
        node = deps.service().node
        url = None
        if node is not None and not getattr(g, "chinwag_relayed", False) and error.node_id:
            url = await node.url_of(error.node_id)
        if url is None or node is None:
            return fail(error.status, error.message, retry_after=error.retry_after)
        try:
            response = await _relay(node.http, url, node.secret)
        except httpx.HTTPError as exc:
            log.warning("relay to node %s failed: %s", error.node_id, exc)
            return fail(error.status, error.message, retry_after=error.retry_after)
        node.counters.forwarded_requests += 1
        return response


async def relay_chat_update(client_id: str, channel: str, chat_id: str) -> Response | None:
    """A chat-app update whose chat session is active on another live node goes there, so the
    chat's owner stores and answers it (None: handle it here). A failed relay is handled here:
    the update is stored once either way (PutIfAbsent) and the fence keeps one writer."""
    node = deps.service().node
    if node is None or getattr(g, "chinwag_relayed", False):
        return None
    session_id = await deps.service().chat_session_id(client_id, channel, chat_id)
    url = await node.owner_url(session_id) if session_id is not None else None
    if url is None:
        return None
    try:
        response = await _relay(node.http, url, node.secret)
    except httpx.HTTPError as exc:
        log.warning("relay of a %s update to its chat's owner failed: %s", channel, exc)
        return None
    node.counters.forwarded_requests += 1
    return response


async def _relay(http: httpx.AsyncClient, base_url: str, secret: str) -> Response:
    body = await request.get_data()
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _NOT_RELAYED]
    headers += [(NODE_KEY_HEADER, secret), ("X-Request-Id", request_id())]
    target = base_url + request.path
    if request.query_string:
        target += "?" + request.query_string.decode("latin-1")
    upstream = await http.send(
        http.build_request(request.method, target, headers=headers, content=body), stream=True
    )
    reply_headers = [
        (k, v) for k, v in upstream.headers.multi_items() if k.lower() not in _NOT_RELAYED
    ]
    return Response(_chunks(upstream), status=upstream.status_code, headers=reply_headers)


async def _chunks(upstream: httpx.Response) -> AsyncIterator[bytes]:
    """The owner's body as it arrives (SSE events are passed on one by one)."""
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    finally:
        await upstream.aclose()
