"""A relay never hangs: real `chinwag serve` nodes (lease 3 s, renew 1 s) on PostgreSQL.

The owner is frozen (SIGSTOP) inside its lease while a streamed reply is relayed through the
other node and a JSON prompt is sent there too. The stream ends with an SSE `error` event then
`done`, and the JSON prompt gets the retryable 503, both within the owner's lease plus the
margin, showing nothing of the owner. Once the lease has run out, the same prompts retried with
their Idempotency-Keys on the live node are answered there, each with exactly its own answer;
the owner, thawed, is refused by the store and the transcript holds one answer per prompt.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from .processes import LEASE, RENEW, NodeProcess, cluster, echo_session

WORDS = " ".join(f"word{i}" for i in range(30))
# Lease + margin (one renew interval) + slack for a busy machine.
BOUND = LEASE + RENEW + 3.0


def _prompt_url(node: NodeProcess, access_key: str) -> str:
    return f"{node.base_url}/api/v1/public/chat-clients/{access_key}/prompt"


def _prompt(node: NodeProcess, access_key: str, text: str, key: str) -> httpx.Response:
    return httpx.post(
        _prompt_url(node, access_key),
        json={"prompt": text},
        headers={"Idempotency-Key": key},
        timeout=60,
    )


def _metric(node: NodeProcess, name: str) -> float:
    text = httpx.get(f"{node.base_url}/metrics", timeout=30).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def _answered(node: NodeProcess, access_key: str, text: str, key: str) -> str:
    """Retry the prompt (same Idempotency-Key) until answered; its completion text."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = _prompt(node, access_key, text, key)
        if response.status_code == 200:
            return response.json()["data"]["completionText"]
        assert response.status_code == 503, response.text
        time.sleep(0.2)
    raise AssertionError("not answered")


def test_a_relay_to_a_frozen_owner_is_given_up_and_retries_are_served_here(
    tmp_path: Path, database_url: str
) -> None:
    with cluster(database_url, tmp_path, 2) as (a, b):
        client, session_id, access_key = echo_session(a, delay=0.1)  # active on a since created
        warm = _prompt(b, access_key, "warm", "k0")
        assert warm.status_code == 200, warm.text
        assert _metric(b, "chinwag_forwarded_requests_total") == 1

        # A streamed reply relayed through b; its first token has arrived when a freezes.
        http = httpx.Client(timeout=60)
        request = http.build_request(
            "POST",
            _prompt_url(b, access_key),
            json={"prompt": WORDS},
            headers={"Accept": "text/event-stream", "Idempotency-Key": "k1"},
        )
        stream = http.send(request, stream=True)
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert any(line.startswith("event: content") for line in lines)
        a.freeze()
        frozen_at = time.monotonic()

        def rest_of_stream() -> tuple[list[str], float]:
            events = [line for line in lines if line.startswith(("event: ", "data: "))]
            return events, time.monotonic() - frozen_at

        def json_prompt() -> tuple[httpx.Response, float]:
            response = _prompt(b, access_key, "during the freeze", "k2")
            return response, time.monotonic() - frozen_at

        with ThreadPoolExecutor(2) as pool:
            streamed, refused = pool.submit(rest_of_stream), pool.submit(json_prompt)
            (events, stream_ended), (response, answered) = streamed.result(), refused.result()
        stream.close()
        http.close()

        assert answered <= BOUND, answered
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert response.json()["data"] is None
        assert stream_ended <= BOUND, stream_ended
        names = [e for e in events if e.startswith("event: ")]
        # The stream is closed cleanly: the retryable `error`, then `done` with no result.
        assert names[-2:] == ["event: error", "event: done"], names[-3:]
        assert names.count("event: done") == 1, names
        assert '"status":503' in events[-3]
        assert events[-1] == 'data: {"usage":null,"result":null}'
        for shown in (response.text, *events):
            assert "127.0.0.1" not in shown and "http://" not in shown

        # The lease has run out: the retries are answered by b, each with its own answer.
        assert _answered(b, access_key, WORDS, "k1") == f"You said: {WORDS}"
        assert _answered(b, access_key, "during the freeze", "k2") == "You said: during the freeze"
        assert _metric(b, "chinwag_ownership_takeovers_total") == 1

        a.thaw()  # its reply to WORDS was cut short by the freeze: the store refuses it
        deadline = time.monotonic() + 30
        while _metric(a, "chinwag_fencing_refusals_total") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        with b.client() as management:
            transcript = management.get(
                f"/api/v1/web-chat-client/{client}/sessions/{session_id}/messages"
            )
        assert transcript.status_code == 200, transcript.text
        data = transcript.json()["data"]
        messages = data["messages"] if isinstance(data, dict) else data
        assert [(m["role"], m["content"]) for m in messages] == [
            ("user", "warm"),
            ("assistant", "You said: warm"),
            ("user", WORDS),
            ("assistant", f"You said: {WORDS}"),
            ("user", "during the freeze"),
            ("assistant", "You said: during the freeze"),
        ]
