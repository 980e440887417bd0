"""A worker's internal listener answers only requests carrying the cluster's node key.

Each worker of `serve --workers N` listens on the public socket (shared by all workers) and on
an internal one of its own (127.0.0.1:<free port> by default), whose URL is its node URL: a
sibling relays a request for a session this worker owns there (http/forward.py). The same app
serves both, so this ASGI wrapper refuses, on the internal port only, every request that does
not present a valid `X-Chinwag-Node-Key` (a signature of this very request under the cluster's
secret, made within the last 30 s: cluster/node_auth.py): nothing is reachable there without
the secret, not even what the public port would answer. forward.py then checks the key again
and marks the request as relayed (never relayed a second time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from chinwag.cluster.node import Node
from chinwag.http.envelope import envelope_bytes
from chinwag.http.forward import NODE_KEY_HEADER, signed_by_node

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_HEADER = NODE_KEY_HEADER.lower().encode("latin-1")


class NodeKeyRequired:
    """ASGI app: `app`, except that connections to `internal_port` need the node key."""

    def __init__(self, app: Any, internal_port: int, node: Node) -> None:
        self.app = app
        self.internal_port = internal_port
        self.node = node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        internal = scope["type"] in ("http", "websocket") and self._internal(scope)
        if internal and not self._authorised(scope):
            await _refuse(scope, send)
            return
        await self.app(scope, receive, send)

    def _internal(self, scope: Scope) -> bool:
        server = scope.get("server")
        # No server address (never the case with Hypercorn on TCP): treat it as internal.
        return server is None or server[1] == self.internal_port

    def _authorised(self, scope: Scope) -> bool:
        presented = [value for name, value in scope.get("headers", ()) if name.lower() == _HEADER]
        return len(presented) == 1 and signed_by_node(self.node, scope, presented[0])


async def _refuse(scope: Scope, send: Send) -> None:
    body = envelope_bytes(None, "invalid node credentials")
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
