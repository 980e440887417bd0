"""Server memory under 30 anonymous 8 MiB POSTs, and how long a trickled body holds a connection.

Same run, interleaved rounds: a baseline checkout (default /work/main, the code before the body
bounds) and this checkout each run `python -m chinwag.cli serve` as a real process on a fresh
data directory; the script measures the server process's RSS (psutil) before, at peak during and
after 30 parallel anonymous 8 MiB POSTs to the management API, then times trickled bodies
(1 byte a second): anonymous (answered 401, then closed) and with the API key (408 at the body
deadline). Trickle times are cut off at --trickle-cap seconds.

Run: .venv/bin/python bench/bench_body_bounds.py [--baseline /work/main] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import trio

OURS = Path(__file__).resolve().parents[1]
API_KEY = "bench-key-0123456789abcdef"
MiB = 1024 * 1024
BODY = b'{"name": "x"}' + b" " * (8 * MiB - 13)
PARALLEL = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(checkout: Path, data_dir: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHINWAG_")}
    env.update(PYTHONPATH=str(checkout), CHINWAG_API_KEY=API_KEY)
    process = subprocess.Popen(
        [sys.executable, "-m", "chinwag.cli", "serve", "--data-dir", data_dir,
         "--bind", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=checkout,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if "is listening on" in lines.get(timeout=1):
                return process, f"http://127.0.0.1:{port}"
        except queue.Empty:
            pass
    process.kill()
    raise RuntimeError(f"{checkout}: server did not start")


async def flood(base_url: str, pid: int) -> tuple[float, float, float, list[int]]:
    proc = psutil.Process(pid)
    before = proc.memory_info().rss
    peak = before
    statuses: list[int] = []
    done = trio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            await trio.sleep(0.005)

    async def post() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
            try:
                response = await http.post(
                    "/api/v1/ai-gateways", content=BODY,
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
                statuses.append(response.status_code)
            except httpx.HTTPError as error:
                statuses.append(-1 if "reset" not in str(error).lower() else -2)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sample)
        async with trio.open_nursery() as posts:
            for _ in range(PARALLEL):
                posts.start_soon(post)
        done.set()
    await trio.sleep(1)
    after = proc.memory_info().rss
    return before / MiB, peak / MiB, after / MiB, statuses


async def trickle(base_url: str, auth: bool, cap: float) -> tuple[float, str]:
    """Seconds until the server answers and closes a body sent 1 byte/s; first status line."""
    host, port = base_url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    head = "POST /api/v1/ai-gateways HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += "Content-Length: 1000\r\n"
    if auth:
        head += f"Authorization: Bearer {API_KEY}\r\n"
    await stream.send_all((head + "\r\n").encode())
    started = trio.current_time()
    status = "no answer"
    received = b""
    with trio.move_on_after(cap):
        async with trio.open_nursery() as nursery:

            async def drip() -> None:
                try:
                    for _ in range(1000):
                        await stream.send_all(b" ")
                        await trio.sleep(1)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

            nursery.start_soon(drip)
            try:
                while chunk := await stream.receive_some(65536):
                    received += chunk
            except trio.BrokenResourceError:
                pass
            nursery.cancel_scope.cancel()
    if received:
        status = received.split(b"\r\n", 1)[0].decode(errors="replace")
    await stream.aclose()
    return trio.current_time() - started, status


def run_variant(name: str, checkout: Path, trickle_cap: float, with_trickle: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        process, base_url = start(checkout, os.path.join(tmp, "data"))
        try:
            httpx.get(f"{base_url}/healthz", timeout=30)
            before, peak, after, statuses = trio.run(flood, base_url, process.pid)
            result = {"before": before, "peak": peak, "after": after, "statuses": statuses}
            if with_trickle:
                result["trickle_anon"] = trio.run(trickle, base_url, False, trickle_cap)
                result["trickle_auth"] = trio.run(trickle, base_url, True, trickle_cap)
            return result
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trickle-cap", type=float, default=20.0)
    args = parser.parse_args()
    variants = [("baseline", args.baseline.resolve()), ("bounds", OURS)]
    results: dict[str, list[dict]] = {name: [] for name, _ in variants}
    for round_no in range(args.rounds):
        order = variants if round_no % 2 == 0 else variants[::-1]
        for name, checkout in order:
            result = run_variant(name, checkout, args.trickle_cap, with_trickle=round_no == 0)
            results[name].append(result)
            codes = sorted(set(result["statuses"]))
            print(
                f"round {round_no + 1} {name:8s} RSS before {result['before']:6.1f} MiB  "
                f"peak {result['peak']:6.1f} MiB (+{result['peak'] - result['before']:5.1f})  "
                f"after {result['after']:6.1f} MiB  statuses {codes}",
                flush=True,
            )
    print(f"\n{PARALLEL} parallel anonymous 8 MiB POSTs, median of {args.rounds} rounds:")
    for name, _ in variants:
        rows = results[name]
        growth = statistics.median(r["peak"] - r["before"] for r in rows)
        kept = statistics.median(r["after"] - r["before"] for r in rows)
        print(f"  {name:8s} peak RSS growth {growth:6.1f} MiB, held after 1 s {kept:6.1f} MiB")
    print(f"\ntrickled body, 1 byte/s (cut off at {args.trickle_cap:g} s):")
    for name, _ in variants:
        first = results[name][0]
        for kind in ("trickle_anon", "trickle_auth"):
            seconds, status = first[kind]
            held = f">= {seconds:.1f}" if seconds >= args.trickle_cap - 0.05 else f"{seconds:.1f}"
            who = "anonymous   " if kind == "trickle_anon" else "with API key"
            print(f"  {name:8s} {who} connection held {held} s, answer: {status}")


if __name__ == "__main__":
    main()
