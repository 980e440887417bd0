"""Relays through real `chinwag serve` nodes on PostgreSQL: what the public sees when the owner
cannot answer properly.

- The owner is SIGKILLed while a streamed reply is relayed through another node: the relayed
  stream ends cleanly with a retryable `error` event then `done` (never a cut chunked body), and
  the relaying node logs one line for it, no traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from .processes import start_node, stop_nodes
from .test_processes import WORDS, _session, _start_streaming


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


def test_owner_killed_mid_relayed_stream_ends_with_error_then_done(
    tmp_path: Path, database_url: str
) -> None:
    a = start_node("a", database_url, tmp_path)
    b = start_node("b", database_url, tmp_path)
    try:
        _client, access_key = _session(a, delay=0.1)
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
        for _name, data in events:
            assert "127.0.0.1" not in json.dumps(data)
        log = b.output()
        assert "Traceback" not in log, log[-3000:]
        assert log.count("relayed stream from node") == 1, log[-3000:]
    finally:
        stop_nodes([a, b])
