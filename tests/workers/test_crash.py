"""A worker group under stress: the LMDB map grows while both workers write, a worker is
SIGKILLed mid-reply (restarted by the parent; the retried prompt gets exactly its own answer),
the parent is SIGKILLed (its workers stop on their own), and workers that keep dying make the
parent give up with a clear message and exit 1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from .group import Group, child_env, start_group
from .test_group import _open, _pairs, _pinned, _prompt, _setup_client

BIG = "x" * 20_000
WORDS = " ".join(f"word{i}" for i in range(40))


def _write_a_lot(http: httpx.Client, key: str, prefix: str, errors: list[str]) -> None:
    for turn in range(30):
        response = _prompt(http, key, f"{prefix}{turn} {BIG}")
        if response.status_code != 200:
            errors.append(response.text)


def _retry_until_answered(group: Group, key: str, text: str, idem: str, within: float) -> dict:
    """POST the prompt with the same Idempotency-Key over fresh connections until it is answered."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            response = _prompt(
                httpx.Client(base_url=group.base_url, timeout=30),
                key,
                text,
                **{"Idempotency-Key": idem},
            )
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            return response.json()["data"]
        assert response.status_code == 503, response.text
        time.sleep(0.2)
    raise AssertionError(f"not answered within {within} s")


def test_map_growth_and_a_sigkilled_worker_lose_nothing(tmp_path: Path) -> None:
    # A 1 MiB map grows several times while both workers write; a lease far longer than the
    # test shows that the dead worker's sessions move because its successor retires its node.
    group = start_group(tmp_path, map_size=str(1 << 20), node_lease_seconds="60")
    try:
        pinned = _pinned(group)
        (node_a, http_a), (node_b, http_b) = pinned.items()
        client = _setup_client(http_a)
        key_a = _open(http_a, client)["accessKey"]
        key_b = _open(http_b, client)["accessKey"]
        errors: list[str] = []
        writers = [
            threading.Thread(target=_write_a_lot, args=(http_a, key_a, "a", errors)),
            threading.Thread(target=_write_a_lot, args=(http_b, key_b, "b", errors)),
        ]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(120)
        assert errors == []
        log = group.text()
        assert "LMDB map grown" in log
        assert "adopted from another process" in log, "no worker took the other's map size"
        for key, prefix in ((key_a, "a"), (key_b, "b")):
            pairs = _pairs(group, key)
            assert len(pairs) == 60
            assert pairs[-1] == ("assistant", f"You said: {prefix}29 {BIG}")
        # Both workers still answer after the growth.
        for http in (http_a, http_b):
            assert _prompt(http, key_a, "still here").status_code == 200

        # SIGKILL worker A while it streams a reply of a session it owns.
        slow = http_a.post(
            "/api/v1/ai-gateways",
            json={"name": "slow", "parameters": {"provider": "echo", "streamDelaySeconds": 0.1}},
        ).json()["data"]["id"]
        slow_client = http_a.post(
            "/api/v1/web-chat-client",
            json={"name": "slow", "aiGatewayId": slow, "clientParameters": {}},
        ).json()["data"]["id"]
        key = _open(http_a, slow_client)["accessKey"]
        pid_a = group.workers()[node_a][0]
        with http_a.stream(
            "POST",
            f"/api/v1/public/chat-clients/{key}/prompt",
            json={"prompt": WORDS},
            headers={"Accept": "text/event-stream", "Idempotency-Key": "killed-1"},
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith("event: content"):
                    break
            killed_at = time.monotonic()
            os.kill(pid_a, signal.SIGKILL)
        for http in pinned.values():
            http.close()
        answer = _retry_until_answered(group, key, WORDS, "killed-1", within=40)
        assert answer["completionText"] == f"You said: {WORDS}"
        assert time.monotonic() - killed_at < 30  # far below the 60 s lease
        again = _retry_until_answered(group, key, WORDS, "killed-1", within=10)
        assert again["completionText"] == answer["completionText"]
        assert _pairs(group, key) == [("user", WORDS), ("assistant", f"You said: {WORDS}")]
        # The parent restarted the worker: two live nodes again, the dead one retired.
        group.wait_live_nodes(2, within=20)
        assert len(group.started_pids()) == 3
        assert group.process.poll() is None
        assert f"node {node_a} of a dead worker retired" in group.text()
        assert node_b in group.workers()

        # SIGKILL of the parent: no orphan, each worker sees its stdin pipe close and stops
        # gracefully, and the data directory is free again.
        pids = [pid for pid, _url in group.workers().values() if pid != pid_a]
        group.process.kill()
        group.process.wait(10)
        deadline = time.monotonic() + 30
        for pid in pids:
            while _alive(pid):
                assert time.monotonic() < deadline, group.text()[-3000:]
                time.sleep(0.05)
        assert group.text().count("the parent process is gone: this worker stops") == 2
        assert group.text().count("stopped; its writes are flushed") == 2
        listed = subprocess.run(
            [sys.executable, "-m", "chinwag.cli", "keys", "list"],
            env=child_env(tmp_path / "data"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
    finally:
        if group.process.poll() is None:
            group.process.kill()


def test_workers_dying_past_the_restart_intensity_stop_the_group(tmp_path: Path) -> None:
    group = start_group(tmp_path, wait=False)
    killed: set[int] = set()
    deadline = time.monotonic() + 60
    while group.process.poll() is None:
        assert time.monotonic() < deadline, group.text()[-3000:]
        for pid in set(group.started_pids()) - killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.05)
    assert group.process.returncode == 1
    text = group.text()
    assert "Error: worker processes died more than 5 times within 60 s; giving up" in text
    # The 6th death within the period ends the group: 2 first workers + 4 or 5 restarts (the
    # 5th is skipped when the 6th death comes during its restart delay).
    assert text.count(" died: killed by SIGKILL") == 6
    assert len(group.started_pids()) in (6, 7)


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (the workers' parent is gone: init reaps)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
