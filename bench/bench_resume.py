"""Cost of resumable replies: a streamed prompt on this branch vs a baseline checkout, same run.

Two real `chinwag serve` processes on loopback, one from this checkout and one from a baseline
(default: a temporary worktree of `main`, which has no reply log and no event ids), each with an
echo gateway. Rounds alternate between them: one `POST …/prompt` (SSE) whose echo reply is
`--words` content events, read to `done` with httpx-sse. On this branch a round is also run with
`--followers` listeners attached through `GET …/stream` while the reply streams; each follower
must receive every event of the reply (checked). Printed: median and best events/s of the prompt
stream, and the followers' median lag behind the prompt stream's end. On a shared, loaded
machine the HTTP figures swing by tens of percent between rounds; the in-process figures printed
first (reply log append, SSE encoding with and without an id, interleaved) isolate what this
branch adds per event.

    .venv/bin/python bench/bench_resume.py [--words 4000] [--rounds 7] [--followers 8]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import trio
from httpx_sse import aconnect_sse

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "cwk_bench_resume_key_000000000000000000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(checkout: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(checkout),
        "CHINWAG_DATA_DIR": str(data_dir),
        "CHINWAG_BIND": f"127.0.0.1:{port}",
        "CHINWAG_API_KEY": API_KEY,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "chinwag.cli", "serve"],
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"chinwag from {checkout} did not start")


def open_session(base: str) -> str:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        gateway = http.post(
            "/api/v1/ai-gateways", json={"name": "echo", "parameters": {"provider": "echo"}}
        ).json()["data"]["id"]
        client = http.post(
            "/api/v1/web-chat-client", json={"name": "bench", "aiGatewayId": gateway}
        ).json()["data"]["id"]
        opened = http.post(f"/api/v1/web-chat-client/{client}/sessions", json={"expires": 86400})
        return opened.json()["data"]["accessKey"]


async def read_sse(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    started: trio.Event | None = None,
    **kwargs: Any,
) -> list[str]:
    texts: list[str] = []
    async with aconnect_sse(http, method, path, **kwargs) as source:
        if source.response.status_code != 200:
            return texts
        async for event in source.aiter_sse():
            if event.event == "content":
                texts.append(event.data)
                if started is not None:
                    started.set()
            if event.event in ("done", "error"):
                break
    return texts


async def one_round(base: str, key: str, words: int, followers: int) -> tuple[float, float]:
    """(events/s of the prompt stream, followers' median lag in seconds after it ended)."""
    prompt = " ".join(f"w{n}" for n in range(words))
    path = f"/api/v1/public/chat-clients/{key}/"
    ends: list[float] = []
    got: list[list[str]] = []
    started = trio.Event()
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:

        async def follow() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=120) as own:
                await started.wait()  # attach once the reply runs: it is replayed from its start
                got.append(await read_sse(own, "GET", path + "stream"))
                ends.append(time.perf_counter())

        async with trio.open_nursery() as nursery:
            for _ in range(followers):
                nursery.start_soon(follow)
            start = time.perf_counter()
            texts = await read_sse(http, "POST", path + "prompt", started, json={"prompt": prompt})
            finished = time.perf_counter()
    for seen in got:
        assert seen == texts, "a follower missed or repeated events"
    rate = len(texts) / (finished - start)
    lag = statistics.median(end - finished for end in ends) if ends else 0.0
    return rate, lag


def micro(events: int = 100_000, rounds: int = 5) -> None:
    """Per-event cost of what this branch adds, in process: log append, the `id:` line."""
    sys.path.insert(0, str(ROOT))
    from chinwag.actors.reply_log import ReplyLog
    from chinwag.gateways.base import ContentDelta
    from chinwag.http.sse import encode_item

    deltas = [ContentDelta(f"w{n} ") for n in range(events)]
    appends: list[float] = []
    plain: list[float] = []
    with_id: list[float] = []

    async def append_all() -> None:
        log = ReplyLog(max_entries=events + 1, max_chars=10 * events)
        start = time.perf_counter()
        for delta in deltas:
            log.append(delta)
        appends.append((time.perf_counter() - start) / events)

    for _ in range(rounds):
        trio.run(append_all)
        start = time.perf_counter()
        for delta in deltas:
            encode_item(delta)
        plain.append((time.perf_counter() - start) / events)
        start = time.perf_counter()
        for n, delta in enumerate(deltas):
            encode_item(delta, f"0123456789ab.{n}")
        with_id.append((time.perf_counter() - start) / events)
    print(f"reply log append: {min(appends) * 1e6:.2f} us/event (best of {rounds})")
    print(
        f"SSE encode: {min(plain) * 1e6:.2f} us/event without id, "
        f"{min(with_id) * 1e6:.2f} us/event with id"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--followers", type=int, default=8)
    parser.add_argument("--baseline", default="main", help="git ref to compare against")
    args = parser.parse_args()
    micro()

    with tempfile.TemporaryDirectory() as tmp:
        baseline_dir = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(baseline_dir), args.baseline],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        servers = []
        try:
            servers = [
                ("baseline", *start_server(baseline_dir, Path(tmp) / "d1")),
                ("ours", *start_server(ROOT, Path(tmp) / "d2")),
            ]
            keys = {name: open_session(base) for name, _, base in servers}
            results: dict[str, list[float]] = {
                "baseline": [],
                "ours": [],
                "ours+followers": [],
            }
            lags: list[float] = []
            for _ in range(args.rounds):
                for name, _, base in servers:
                    rate, _lag = trio.run(one_round, base, keys[name], args.words, 0)
                    results[name].append(rate)
                base = servers[1][2]
                rate, lag = trio.run(one_round, base, keys["ours"], args.words, args.followers)
                results["ours+followers"].append(rate)
                lags.append(lag)
        finally:
            for _, process, _ in servers:
                process.terminate()
                process.wait(10)
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(baseline_dir)],
                cwd=ROOT,
                capture_output=True,
            )

    base_median = statistics.median(results["baseline"])
    print(f"echo reply of {args.words} content events, {args.rounds} interleaved rounds")
    print(f"{'run':<28}{'median ev/s':>14}{'best ev/s':>12}{'vs baseline':>13}")
    for name, rates in results.items():
        label = f"{name} ({args.followers})" if name == "ours+followers" else name
        median = statistics.median(rates)
        change = (median / base_median - 1) * 100
        print(f"{label:<28}{median:>14.0f}{max(rates):>12.0f}{change:>+12.1f}%")
    print(f"followers done after the prompt stream: median {statistics.median(lags) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
