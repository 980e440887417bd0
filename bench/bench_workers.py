"""`chinwag serve --workers 2` vs `--workers 1` on this machine: LMDB, echo gateway (no delay),
JSON prompt round trips driven by `wrk` (C, little CPU), rounds interleaved 1, 2, 1, 2, ...

Also printed: the CPU the server processes used (cores: CPU seconds per second), which tells a
machine whose cores are taken by others (or a server that waits) from one that computes.

Each wrk thread holds one connection (-t C -c C): it asks /healthz which worker accepted it, opens
its own session there with the management API (so that worker owns it and relaying stays rare),
then sends prompts to it for `--seconds`. Printed per round: turns/s, failures, and how the
connections and turns spread over the workers; at the end the mean of each and the ratio
(target >= 1.4x). `wrk` is installed by scripts/install-bench-tools.sh when missing.

    .venv/bin/python bench/bench_workers.py [--rounds 3] [--seconds 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "bench-workers-admin-key"
THREAD_LINE = re.compile(r"^thread (\S+) (\d+) (\d+)$", re.M)


def ensure_wrk() -> str:
    if shutil.which("wrk") is None:
        subprocess.run(["bash", str(ROOT / "scripts" / "install-bench-tools.sh")], check=True)
    found = shutil.which("wrk")
    if found is None:
        sys.exit("wrk is not installed and could not be installed")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(workers: int, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CHINWAG_DATA_DIR": str(data_dir),
        "CHINWAG_API_KEY": API_KEY,
        "CHINWAG_BIND": f"127.0.0.1:{port}",
        "CHINWAG_WORKERS": str(workers),
    }
    log = (data_dir.parent / f"serve-{workers}-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "chinwag.cli", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(ROOT),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            health = httpx.get(url + "/healthz", timeout=2).json()["data"]
            if health["nodes"] >= workers:
                return process, url
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        if process.poll() is not None:
            sys.exit(f"chinwag serve --workers {workers} exited; see {log.name}")
        time.sleep(0.2)
    process.kill()
    sys.exit(f"chinwag serve --workers {workers} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its live children (the workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    # Every thread's children: the parent may start workers from a thread other than its main one.
    for children_file in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(children_file) as children:
                pids += [int(child) for child in children.read().split()]
        except OSError:
            pass
    for one in pids:
        try:
            with open(f"/proc/{one}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def make_client(url: str) -> str:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        gateway = http.post(
            "/api/v1/ai-gateways",
            json={"name": "bench", "parameters": {"provider": "echo", "streamDelaySeconds": 0}},
        ).json()["data"]["id"]
        return http.post(
            "/api/v1/web-chat-client",
            json={"name": "bench", "aiGatewayId": gateway, "clientParameters": {}},
        ).json()["data"]["id"]


def one_round(wrk: str, workers: int, args: argparse.Namespace, root: Path) -> dict:
    data_dir = root / f"data-{workers}-{time.monotonic_ns()}"
    process, url = start(workers, data_dir)
    try:
        client = make_client(url)
        c = str(args.connections)
        command = [wrk, "-t", c, "-c", c, "-d", f"{args.seconds}s", "--latency"]
        command += ["-s", str(ROOT / "bench" / "wrk_prompts.lua"), url, "--", client, API_KEY]
        cpu_before = cpu_seconds(process.pid)
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        cores = (cpu_seconds(process.pid) - cpu_before) / args.seconds
    finally:
        stop(process)
        shutil.rmtree(data_dir, ignore_errors=True)
    threads = THREAD_LINE.findall(output)
    turns = sum(int(t) for _node, t, _f in threads)
    failures = sum(int(f) for _node, _t, f in threads)
    per_node_connections = Counter(node for node, _t, _f in threads)
    per_node_turns: Counter[str] = Counter()
    for node, t, _f in threads:
        per_node_turns[node] += int(t)
    latency = re.search(r"^latency p50 (\d+) p99 (\d+)$", output, re.M)
    return {
        "workers": workers,
        "turns_per_s": turns / args.seconds,
        "cores": cores,
        "failures": failures,
        "connections": sorted(per_node_connections.values(), reverse=True),
        "turns": sorted(per_node_turns.values(), reverse=True),
        "p50_ms": int(latency[1]) / 1000 if latency else float("nan"),
        "p99_ms": int(latency[2]) / 1000 if latency else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each (interleaved)")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration of a round")
    parser.add_argument("--connections", type=int, default=8, help="wrk threads = connections")
    parser.add_argument(
        "--data-root",
        default=None,
        help="where the data directories go (default: the temp dir; /dev/shm takes fsync's "
        "cost out, to see what the CPU alone allows)",
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    print(
        f"cores: {os.cpu_count()}, wrk -t{args.connections} -c{args.connections} "
        f"-d{args.seconds}s, {args.rounds} interleaved rounds of each"
    )
    results: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="bench-workers-", dir=args.data_root) as tmp:
        for round_index in range(args.rounds):
            for workers in (1, 2):
                r = one_round(wrk, workers, args, Path(tmp))
                results[workers].append(r["turns_per_s"])
                print(
                    f"round {round_index + 1} --workers {workers}: {r['turns_per_s']:8.1f} "
                    f"turns/s  server CPU {r['cores']:.2f} cores  failures {r['failures']}  "
                    f"p50 {r['p50_ms']:.1f} ms  "
                    f"p99 {r['p99_ms']:.1f} ms  connections per worker {r['connections']}  "
                    f"turns per worker {r['turns']}",
                    flush=True,
                )
    one, two = statistics.mean(results[1]), statistics.mean(results[2])
    print(f"--workers 1: {one:8.1f} turns/s (mean of {args.rounds})")
    print(f"--workers 2: {two:8.1f} turns/s (mean of {args.rounds})")
    print(f"ratio --workers 2 / --workers 1: {two / one:.2f}x (target >= 1.4x)")


if __name__ == "__main__":
    main()
