"""Relays through real `chinwag serve` nodes on PostgreSQL: what the public sees when the owner
cannot answer properly.

- The owner is SIGKILLed while a streamed reply is relayed through another node: the relayed
  stream ends cleanly with a retryable `error` event then `done` (never a cut chunked body), and
  the relaying node logs one line for it, no traceback.
- A node whose CHINWAG_NODE_URL reaches some other HTTP server (it answers 404): the relaying
  node never passes that answer on; the public gets the retryable 503 envelope.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from .processes import API_KEY, NodeProcess, echo_session, start_node, stop_nodes
from .test_processes import WORDS, _start_streaming


def _sse(lines: list[str]) -> list[tuple[str, dict]]:
    """(event, data) pairs; a data line before any event line (the event already read) is
    skipped."""
    events: list[tuple[str, dict]] = []
    name: str | None = None
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name is not None:
            events.append((name, json.loads(line[6:])))
            name = None
    return events


def _event_ids(lines: list[str]) -> list[tuple[str, str | None]]:
    """(event, its id line or None) for each complete event in `lines`."""
    found: list[tuple[str, str | None]] = []
    name: str | None = None
    ident: str | None = None
    for line in lines:
        if line.startswith("id: "):
            ident = line[4:]
        elif line.startswith("event: "):
            name = line[7:]
        elif line == "" and name is not None:
            found.append((name, ident))
            name = ident = None
    return found


def test_owner_killed_mid_relayed_stream_ends_with_error_then_done(
    tmp_path: Path, database_url: str
) -> None:
    a = start_node("a", database_url, tmp_path)
    b = start_node("b", database_url, tmp_path)
    try:
        _client, _session_id, access_key = echo_session(a, delay=0.1)
        warm = httpx.post(
            f"{a.base_url}/api/v1/public/chat-clients/{access_key}/prompt",
            json={"prompt": "warm"},
            timeout=30,
        )
        assert warm.status_code == 200, warm.text  # a holds the session
        stream, lines = _start_streaming(b, access_key, WORDS, "doomed-1")
        a.kill()
        rest = list(lines)  # raised httpx.RemoteProtocolError when the body was cut
        stream.close()
        events = _sse(rest)
        assert [name for name, _ in events[-2:]] == ["error", "done"], events[-3:]
        assert events[-2][1]["status"] == 503
        assert events[-1][1] == {"usage": None, "result": None}
        # error and done share one id: that of the last event passed on (a resume starts there)
        ids = _event_ids(rest)
        assert ids[-2][0] == "error" and ids[-1][0] == "done", ids[-3:]
        assert ids[-1][1] is not None and ids[-2][1] == ids[-1][1], ids[-3:]
        assert re.fullmatch(r"[0-9a-f-]+\.\d+", ids[-1][1]), ids[-1]
        if len(ids) > 2:  # content passed on after the first token: the last of them
            assert ids[-1][1] == ids[-3][1], ids[-3:]
        for _name, data in events:
            assert "127.0.0.1" not in json.dumps(data)
        log = b.output()
        assert "Traceback" not in log, log[-3000:]
        assert log.count("relayed stream from node") == 1, log[-3000:]
    finally:
        stop_nodes([a, b])


class _Stranger(BaseHTTPRequestHandler):
    """Some other HTTP server: 404 to everything, and it notes what reached it."""

    seen: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append(self.path)
        body = b"stranger says: not here"
        self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _stranger() -> Iterator[tuple[str, list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stranger)
    seen: list[str] = []
    server.RequestHandlerClass = type("Seen", (_Stranger,), {"seen": seen})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_an_answer_from_a_stranger_at_a_node_url_is_never_passed_on(
    tmp_path: Path, database_url: str
) -> None:
    with _stranger() as (url, seen):
        nodes: list[NodeProcess] = []
        try:
            a = start_node("a", database_url, tmp_path, node_url=url)
            nodes.append(a)
            b = start_node("b", database_url, tmp_path)
            nodes.append(b)
            _client, _session_id, access_key = echo_session(a, delay=0)
            path = f"/api/v1/public/chat-clients/{access_key}/prompt"
            warm = httpx.post(a.base_url + path, json={"prompt": "warm"}, timeout=30)
            assert warm.status_code == 200, warm.text  # a holds the session
            for accept in ("application/json", "text/event-stream"):
                response = httpx.post(
                    b.base_url + path,
                    json={"prompt": "hello"},
                    headers={"Accept": accept, "Authorization": f"Bearer {API_KEY}"},
                    timeout=30,
                )
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "1"
                body = response.json()
                assert body["data"] is None and "try again" in body["message"]
                assert "stranger" not in response.text and "127.0.0.1" not in response.text
            assert seen, "the relay never reached the stranger: the test proves nothing"
            assert "CHINWAG_NODE_URL" in b.output()
        finally:
            stop_nodes(nodes)
