"""`chinwag serve --workers 2` as real processes: both workers serve the one public port,
relay to each other, agree on tags, lock the data directory, and stop cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import trio

from .group import API_KEY, Group, child_env, start_group


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def _pinned(group: Group) -> dict[str, httpx.Client]:
    """One keep-alive client per worker (node id -> client whose connection it accepted)."""
    pinned: dict[str, httpx.Client] = {}
    spare: list[httpx.Client] = []
    for _attempt in range(60):
        http = group.client()
        node = group.healthz(http)["node"]
        if node in pinned:
            spare.append(http)  # kept open, so the next connection may land elsewhere
        else:
            pinned[node] = http
        if len(pinned) == 2:
            break
    for http in spare:
        http.close()
    assert len(pinned) == 2, "every connection landed on the same worker"
    return pinned


def _setup_client(http: httpx.Client, delay: float = 0) -> str:
    gateway = http.post(
        "/api/v1/ai-gateways",
        json={"name": "g", "parameters": {"provider": "echo", "streamDelaySeconds": delay}},
    ).json()["data"]["id"]
    return http.post(
        "/api/v1/web-chat-client",
        json={"name": "c", "aiGatewayId": gateway, "clientParameters": {}},
    ).json()["data"]["id"]


def _open(http: httpx.Client, client: str, **body: object) -> dict:
    response = http.post(f"/api/v1/web-chat-client/{client}/sessions", json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _prompt(http: httpx.Client, key: str, text: str, **headers: str) -> httpx.Response:
    return http.post(
        f"/api/v1/public/chat-clients/{key}/prompt", json={"prompt": text}, headers=headers
    )


def _pairs(group: Group, key: str) -> list[tuple[str, str]]:
    response = httpx.get(f"{group.base_url}/api/v1/public/chat-clients/{key}/messages")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    messages = data["messages"] if isinstance(data, dict) else data
    return [(m["role"], m["content"]) for m in messages]


def _fifty_tag_opens(group: Group, client: str) -> list[httpx.Response]:
    async def main() -> list[httpx.Response]:
        responses: list[httpx.Response] = []

        async def one() -> None:
            # A client of its own per call: 50 connections, spread by the kernel over the workers.
            async with httpx.AsyncClient(
                base_url=group.base_url,
                headers={"Authorization": f"Bearer {API_KEY}"},
                timeout=60,
            ) as http:
                url = f"/api/v1/web-chat-client/{client}/sessions"
                responses.append(await http.post(url, json={"tag": "crowd"}))

        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(one)
        return responses

    return trio.run(main)


def test_two_workers_share_the_port_relay_agree_on_tags_and_stop_cleanly(tmp_path: Path) -> None:
    group = start_group(tmp_path)
    try:
        assert group.healthz()["nodes"] == 2
        workers = group.workers()
        assert len(workers) == 2
        pinned = _pinned(group)
        assert set(pinned) == set(workers)
        (_a, http_a), (_b, http_b) = pinned.items()

        # A session opened through worker A is owned by A; prompts arriving at B are relayed.
        client = _setup_client(http_a)
        opened = _open(http_a, client)
        key = opened["accessKey"]
        first = _prompt(http_a, key, "on a")
        assert first.status_code == 200, first.text
        relayed = _prompt(http_b, key, "via b", **{"Idempotency-Key": "via-b"})
        assert relayed.status_code == 200, relayed.text
        assert relayed.json()["data"]["completionText"] == "You said: via b"
        with http_b.stream(
            "POST",
            f"/api/v1/public/chat-clients/{key}/prompt",
            json={"prompt": "sse via b"},
            headers={"Accept": "text/event-stream"},
        ) as stream:
            events = [line for line in stream.iter_lines() if line.startswith("event: ")]
        assert "event: content" in events, events
        assert events[-1] == "event: done", events
        assert _metric(http_b.get("/metrics").text, "chinwag_forwarded_requests_total") >= 2
        assert _metric(http_a.get("/metrics").text, "chinwag_forwarded_requests_total") == 0
        assert _pairs(group, key) == [
            ("user", "on a"),
            ("assistant", "You said: on a"),
            ("user", "via b"),
            ("assistant", "You said: via b"),
            ("user", "sse via b"),
            ("assistant", "You said: sse via b"),
        ]

        # 50 concurrent opens of one tag over 50 connections: one session.
        responses = _fifty_tag_opens(group, client)
        assert [r.status_code for r in responses] == [200] * 50, {
            r.status_code: r.text for r in responses if r.status_code != 200
        }
        assert len({r.json()["data"]["sessionId"] for r in responses}) == 1

        # A worker's internal listener answers nothing without the cluster's node key.
        for _pid, internal_url in workers.values():
            assert httpx.get(internal_url + "/healthz").status_code == 401
            wrong = httpx.get(internal_url + "/healthz", headers={"X-Chinwag-Node-Key": "x"})
            assert wrong.status_code == 401
            assert wrong.json() == {"message": "invalid node credentials", "data": None}

        # While the group runs, a standalone server or CLI data command is refused.
        refused = [
            subprocess.Popen(
                [sys.executable, "-m", "chinwag.cli", *command],
                env=child_env(tmp_path / "data"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for command in (["serve", "--bind", "127.0.0.1:0"], ["keys", "list"])
        ]
        for process in refused:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 1, out + err
            assert "already in use" in err
        for http in pinned.values():
            http.close()

        # SIGTERM to the parent: every worker stops gracefully, the parent exits 0.
        pids = [pid for pid, _url in workers.values()]
        assert group.stop() == 0, group.text()[-3000:]
        assert "chinwag stopped; all writes are flushed." in group.text()
        for pid in pids:
            assert not _alive(pid)
    finally:
        if group.process.poll() is None:
            group.process.kill()

    # Everything is there on restart, and a single process may open the directory again.
    transcript = subprocess.run(
        [
            sys.executable,
            "-m",
            "chinwag.cli",
            "sessions",
            "transcript",
            client,
            opened["sessionId"],
            "--format",
            "json",
        ],
        env=child_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert transcript.returncode == 0, transcript.stderr
    stored = json.loads(transcript.stdout)["messages"]
    assert [m["content"] for m in stored] == [
        "on a",
        "You said: on a",
        "via b",
        "You said: via b",
        "sse via b",
        "You said: sse via b",
    ]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_on_postgresql_are_nodes_of_the_database(tmp_path: Path, database_url: str) -> None:
    group = start_group(tmp_path, database_url=database_url)
    try:
        pinned = _pinned(group)
        (_a, http_a), (_b, http_b) = pinned.items()
        assert group.healthz(http_a)["storage"] == "postgresql"
        client = _setup_client(http_a)
        key = _open(http_a, client)["accessKey"]
        assert _prompt(http_a, key, "on a").status_code == 200
        relayed = _prompt(http_b, key, "via b")
        assert relayed.status_code == 200, relayed.text
        assert _metric(http_b.get("/metrics").text, "chinwag_forwarded_requests_total") == 1
        assert [text for _role, text in _pairs(group, key)] == [
            "on a",
            "You said: on a",
            "via b",
            "You said: via b",
        ]
        # No data directory was needed: the lock is not taken, LMDB is not opened.
        assert not (tmp_path / "data" / "data.mdb").exists()
        for http in pinned.values():
            http.close()
    finally:
        assert group.stop() == 0, group.text()[-3000:]
