"""Node-to-node requests are signed per request; the cluster secret never leaves a node.

- `node_auth` itself: a signature is valid for its method, target and request id only, within
  ±30 s of its time (explicit clock values, no sleeps).
- Two real servers on PostgreSQL, the owner's CHINWAG_NODE_URL pointing at a capturing
  stranger: the relay reaching it carries no trace of the secret (hex, raw); the captured
  header, replayed at the real owner, is refused onto another path or request id, and after
  the window (the owner's clock moved on, not slept); replayed at once onto its own request
  it is accepted there, so the refusals are not a broken key.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from support.server import running_server

from chinwag.clock import WallClock
from chinwag.cluster import node_auth
from chinwag.http.forward import NODE_KEY_HEADER

SECRET = "ab" * 32
NOW = 1_800_000_000.0
REQUEST = (b"POST", b"/api/v1/public/chat-clients/k/prompt?x=1", b"rid-1")


def test_a_signature_holds_for_its_request_within_the_window_only() -> None:
    signed = node_auth.sign(SECRET, NOW, *REQUEST)
    assert signed.startswith(b"v1.1800000000.")
    assert SECRET.encode() not in signed
    for moved in (-30, 0, 29.9, 30):
        assert node_auth.verify(SECRET, signed, NOW + moved, *REQUEST)
    for moved in (-31, 30.9 + 0.2, 3600):
        assert not node_auth.verify(SECRET, signed, NOW + moved, *REQUEST)
    method, target, rid = REQUEST
    for other in (
        (b"GET", target, rid),
        (method, b"/api/v1/public/chat-clients/k/prompt", rid),
        (method, b"/api/v1/public/chat-clients/k/stop?x=1", rid),
        (method, target, b"rid-2"),
    ):
        assert not node_auth.verify(SECRET, signed, NOW, *other)
    assert not node_auth.verify("cd" * 32, signed, NOW, *REQUEST)
    assert not node_auth.verify("", signed, NOW, *REQUEST)
    _version, stamp, digest = signed.split(b".")
    later = b"%d" % (int(stamp) + 20)
    for forged in (
        SECRET.encode(),
        b"",
        b"v2." + stamp + b"." + digest,
        b"v1." + later + b"." + digest,  # a moved time voids the signature
        b"v1.-5." + digest,
        b"v1." + stamp + b"." + digest[:-1],
        b"v1." + stamp + b"." + digest + b".x",
    ):
        assert not node_auth.verify(SECRET, forged, NOW, *REQUEST), forged


class _Capturing(BaseHTTPRequestHandler):
    """Some other server at a node's URL: 404 to everything; it keeps what reached it."""

    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.command, self.path, dict(self.headers.items()), body))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _capturing() -> Iterator[tuple[str, list[tuple[str, str, dict[str, str], bytes]]]]:
    seen: list[tuple[str, str, dict[str, str], bytes]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Seen", (_Capturing,), {"seen": seen}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


class _Shifted(WallClock):
    """The owner's wall clock, `by` seconds ahead (the window test moves time, never sleeps)."""

    def __init__(self, clock: WallClock, by: float) -> None:
        self._clock, self._by = clock, by

    def now(self) -> float:
        return self._clock.now() + self._by


async def test_a_stranger_at_a_node_url_learns_no_secret_and_cannot_replay(
    tmp_path: Path, database_url: str
) -> None:
    with _capturing() as (url, seen):
        async with (
            running_server(tmp_path / "a", database_url=database_url, node_url=url) as a,
            running_server(tmp_path / "b", database_url=database_url) as b,
        ):
            client_id = await a.create_client()
            key = (await a.open_session(client_id))["accessKey"]
            path = a.public_path(key, "prompt")
            warm = await a.anonymous.post(path, json={"prompt": "on a"})
            assert warm.status_code == 200, warm.text  # a holds the session
            relayed = await b.anonymous.post(
                path, json={"prompt": "via b"}, headers={"X-Request-Id": "captured-1"}
            )
            assert relayed.status_code == 503, relayed.text  # the stranger's 404 is dropped
            assert len(seen) == 1, "the relay never reached the stranger: nothing is proven"

            secret = a.service.node.secret
            assert secret == b.service.node.secret and len(secret) == 64
            method, target, headers, body = seen[0]
            everything = repr(seen).lower()
            for trace in (secret, bytes.fromhex(secret).hex().upper(), repr(bytes.fromhex(secret))):
                assert trace.lower() not in everything
            captured = {k.lower(): v for k, v in headers.items()}[NODE_KEY_HEADER.lower()]
            assert captured.startswith("v1.")
            assert {k.lower(): v for k, v in headers.items()}["x-request-id"] == "captured-1"

            async def replay(to: str, rid: str = "captured-1") -> int:
                sent = await a.anonymous.request(
                    method,
                    to,
                    content=body,
                    headers={
                        NODE_KEY_HEADER: captured,
                        "X-Request-Id": rid,
                        "Content-Type": "application/json",
                    },
                )
                return sent.status_code

            # Onto another path, or under another request id: refused.
            assert await replay(a.public_path(key, "stop")) == 401
            assert await replay("/api/v1/ai-gateways") == 401
            assert await replay(target, rid="captured-2") == 401
            # After the window (the owner's clock 31 s on, or the header 31 s early): refused.
            real = a.service.node.clock
            for by in (31.0, -31.0):
                a.service.node.clock = _Shifted(real, by)
                try:
                    assert await replay(target) == 401
                finally:
                    a.service.node.clock = real
            # The very request at once: accepted by the real owner (the key itself is sound).
            assert await replay(target) == 200


class _Node:
    """What the internal listener's check reads of a node: the secret and the wall clock."""

    def __init__(self, secret: str, now: float) -> None:
        self.secret = secret
        self.clock = type("Clock", (), {"now": staticmethod(lambda: now)})()


async def test_a_workers_internal_listener_takes_a_signature_not_the_secret() -> None:
    """`workers.internal.NodeKeyRequired` on its internal port: only a signature of this very
    request, within the window, reaches the app."""
    from chinwag.workers.internal import NodeKeyRequired

    reached: list[str] = []

    async def app(scope: dict, receive: object, send: object) -> None:
        reached.append(scope["path"])

    async def status(gate: NodeKeyRequired, key: bytes | None, path: str = "/healthz") -> int:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        headers = [(b"x-request-id", b"rid-9")] + ([(b"x-chinwag-node-key", key)] if key else [])
        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "server": ("127.0.0.1", 4000),
        }
        before = len(reached)
        await gate(scope, None, send)  # type: ignore[arg-type]
        return 200 if len(reached) > before else sent[0]["status"]

    signed = node_auth.sign(SECRET, NOW, b"GET", b"/healthz", b"rid-9")
    gate = NodeKeyRequired(app, 4000, _Node(SECRET, NOW + 10))  # type: ignore[arg-type]
    assert await status(gate, signed) == 200
    assert await status(gate, signed, "/metrics") == 401
    assert await status(gate, SECRET.encode()) == 401
    assert await status(gate, None) == 401
    late = NodeKeyRequired(app, 4000, _Node(SECRET, NOW + 31))  # type: ignore[arg-type]
    assert await status(late, signed) == 401
    assert reached == ["/healthz"]
