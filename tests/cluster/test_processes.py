"""Crash and freeze of real nodes: three (or two) `chinwag serve` processes on one PostgreSQL.

- SIGKILL of the owner mid-reply: the client retries the same prompt with the same
  Idempotency-Key on the other nodes until one answers; it gets exactly its own answer, the
  prompt is stored once, and the session is served again well within 15 s.
- SIGSTOP of the owner mid-reply past its lease: another node takes the session over; after
  SIGCONT the frozen node's reply is refused by the store (fencing) and never written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import trio

from .processes import API_KEY, LEASE, NodeProcess, cluster, echo_session

WORDS = " ".join(f"word{i}" for i in range(40))


def _prompt_path(access_key: str) -> str:
    return f"/api/v1/public/chat-clients/{access_key}/prompt"


def _start_streaming(
    node: NodeProcess, access_key: str, text: str, key: str
) -> tuple[httpx.Response, Iterator[str]]:
    """Open an SSE prompt and return once its first token arrived (the prompt is stored):
    the response and the iterator over its remaining lines."""
    http = httpx.Client(base_url=node.base_url, timeout=60)
    request = http.build_request(
        "POST",
        _prompt_path(access_key),
        json={"prompt": text},
        headers={"Accept": "text/event-stream", "Idempotency-Key": key},
    )
    response = http.send(request, stream=True)
    assert response.status_code == 200
    lines = response.iter_lines()
    for line in lines:
        if line.startswith("event: content"):
            return response, lines
    raise AssertionError("no token arrived")


def _retry_until_answered(
    nodes: list[NodeProcess], access_key: str, text: str, key: str, within: float
) -> tuple[dict, float]:
    """POST the prompt (same key) to each node in turn until one answers 200."""
    started = time.monotonic()
    attempt = 0
    while time.monotonic() - started < within:
        node = nodes[attempt % len(nodes)]
        attempt += 1
        try:
            response = httpx.post(
                node.base_url + _prompt_path(access_key),
                json={"prompt": text},
                headers={"Idempotency-Key": key},
                timeout=30,
            )
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            return response.json()["data"], time.monotonic() - started
        assert response.status_code == 503, response.text
        time.sleep(0.2)
    raise AssertionError(f"not answered within {within} s")


def _messages(node: NodeProcess, access_key: str) -> list[dict]:
    response = httpx.get(
        f"{node.base_url}/api/v1/public/chat-clients/{access_key}/messages", timeout=30
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return data["messages"] if isinstance(data, dict) else data


def _metric(node: NodeProcess, name: str) -> float:
    text = httpx.get(f"{node.base_url}/metrics", timeout=30).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_sigkill_mid_reply_then_retry_elsewhere_gets_exactly_its_answer(
    tmp_path: Path, database_url: str
) -> None:
    with cluster(database_url, tmp_path, 3) as nodes:
        first, others = nodes[0], nodes[1:]
        _client, _session_id, access_key = echo_session(first, delay=0.1)
        stream, _lines = _start_streaming(first, access_key, WORDS, "retry-key-1")
        killed_at = time.monotonic()
        first.kill()
        stream.close()
        answer, _ = _retry_until_answered(others, access_key, WORDS, "retry-key-1", within=30)
        takeover = time.monotonic() - killed_at
        assert answer["completionText"] == f"You said: {WORDS}"
        assert takeover <= 15, takeover
        # A retry on yet another node gets the stored answer, not a second one.
        again, _ = _retry_until_answered(others[::-1], access_key, WORDS, "retry-key-1", 30)
        assert again["completionText"] == answer["completionText"]
        messages = _messages(others[0], access_key)
        assert [(m["role"], m["content"]) for m in messages] == [
            ("user", WORDS),
            ("assistant", f"You said: {WORDS}"),
        ]
        assert sum(_metric(n, "chinwag_ownership_takeovers_total") for n in others) == 1


def test_sigstop_past_the_lease_then_sigcont_writes_nothing(
    tmp_path: Path, database_url: str
) -> None:
    with cluster(database_url, tmp_path, 2) as (a, b):
        _client, _session_id, access_key = echo_session(a, delay=0.1)
        stream, lines = _start_streaming(a, access_key, WORDS, "frozen-1")
        a.freeze()
        time.sleep(LEASE + 1.5)
        answer, _ = _retry_until_answered([b], access_key, "after the freeze", "b-1", within=30)
        assert answer["completionText"] == "You said: after the freeze"
        a.thaw()
        # The frozen node finishes streaming, then its reply is refused by the store: the
        # stream still ends with `done` after the `error`, whose sentence is true (the prompt
        # WAS stored) and says how to get the answer.
        rest = list(lines)
        stream.close()
        events = [line for line in rest if line.startswith("event: ")]
        assert events[-2:] == ["event: error", "event: done"], events[-3:]
        data = [json.loads(line[6:]) for line in rest if line.startswith("data: ")]
        assert data[-1] == {"usage": None, "result": None}
        assert data[-2]["status"] == 503
        assert "nothing was stored" not in data[-2]["message"]
        assert "same Idempotency-Key" in data[-2]["message"], data[-2]
        deadline = time.monotonic() + 10
        while _metric(a, "chinwag_fencing_refusals_total") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        messages = _messages(b, access_key)
        # B, the new owner, answered the prompt A left unanswered before the new one (the
        # session's crash rule); A's own reply to it was refused: one answer, not two.
        assert [(m["role"], m["content"]) for m in messages] == [
            ("user", WORDS),
            ("assistant", f"You said: {WORDS}"),
            ("user", "after the freeze"),
            ("assistant", "You said: after the freeze"),
        ]
        assert _metric(b, "chinwag_ownership_takeovers_total") == 1
        # As the error said: the same Idempotency-Key gets the stored answer (not a 2nd turn).
        again, _ = _retry_until_answered([a, b], access_key, WORDS, "frozen-1", within=30)
        assert again["completionText"] == f"You said: {WORDS}"
        assert len(_messages(a, access_key)) == 4


def test_100_concurrent_tag_opens_spread_over_three_nodes_yield_one_session(
    tmp_path: Path, database_url: str
) -> None:
    with cluster(database_url, tmp_path, 3) as nodes:
        client, _session_id, _key = echo_session(nodes[0], delay=0)

        async def open_all() -> list[httpx.Response]:
            responses: list[httpx.Response] = []
            clients = [
                httpx.AsyncClient(
                    base_url=n.base_url,
                    headers={"Authorization": f"Bearer {API_KEY}"},
                    timeout=60,
                )
                for n in nodes
            ]

            async def one(index: int) -> None:
                http = clients[index % len(clients)]
                responses.append(
                    await http.post(
                        f"/api/v1/web-chat-client/{client}/sessions", json={"tag": "crowd"}
                    )
                )

            async with trio.open_nursery() as nursery:
                for index in range(100):
                    nursery.start_soon(one, index)
            for http in clients:
                await http.aclose()
            return responses

        responses = trio.run(open_all)
        assert [r.status_code for r in responses] == [200] * 100, {
            r.status_code: r.text for r in responses if r.status_code != 200
        }
        assert len({r.json()["data"]["sessionId"] for r in responses}) == 1
        with nodes[1].client() as http:
            page = http.get(f"/api/v1/web-chat-client/{client}/sessions").json()["data"]
        listed = page["items"]
        tagged = [s for s in listed if s.get("tag") == "crowd"]
        assert len(tagged) == 1


def test_all_nodes_restarted_keep_every_transcript(tmp_path: Path, database_url: str) -> None:
    expected: dict[str, list[tuple[str, str]]] = {}
    with cluster(database_url, tmp_path, 2) as nodes:
        for index, node in enumerate(nodes * 2):
            _client, _session_id, key = echo_session(node, delay=0)
            for turn in range(2):
                text = f"session {index} turn {turn}"
                answer, _ = _retry_until_answered([node], key, text, f"k{index}-{turn}", 30)
                assert answer["completionText"] == f"You said: {text}"
            expected[key] = _pairs(_messages(node, key))
            assert len(expected[key]) == 4
    with cluster(database_url, tmp_path / "again", 2) as nodes:
        for index, (key, pairs) in enumerate(expected.items()):
            assert _pairs(_messages(nodes[index % 2], key)) == pairs
        # And the sessions still take prompts after the restart.
        key = next(iter(expected))
        answer, _ = _retry_until_answered(nodes, key, "after restart", "k-after", 30)
        assert answer["completionText"] == "You said: after restart"


def _pairs(messages: list[dict]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in messages]
