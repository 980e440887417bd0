"""How two server processes share a port: one listening socket they both accept on (what
`chinwag serve --workers` does) vs one SO_REUSEPORT socket each, rounds interleaved.

Two real Hypercorn (Trio) processes serve a tiny app that burns about `--work-ms` of CPU per
request and answers its pid; `wrk -t C -c C` holds C connections. Printed per round: how many
connections and answers each process got; at the end, the mean share of the busier process
(0.50 is a perfect split) and how often a process got no connection at all.

    .venv/bin/python bench/bench_accept_balance.py [--rounds 5] [--seconds 3] [--connections 8]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_workers import ensure_wrk, free_port  # noqa: E402

THREAD = re.compile(r"^thread (\S+) (\d+)$", re.M)


def child(fd: int, work_ms: float) -> None:
    """A server process on the listening socket `fd`."""
    import trio
    from hypercorn.config import Config
    from hypercorn.trio import serve

    pid = str(os.getpid()).encode()

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        end = time.perf_counter() + work_ms / 1000
        while time.perf_counter() < end:
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": pid})

    config = Config()
    config.bind = [f"fd://{fd}"]
    config.accesslog = None

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve, app, config)
            print("ready", flush=True)  # the parent waits for this line

    trio.run(main)  # until the parent kills it


def listening(port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    return sock


def one_round(wrk: str, mode: str, args: argparse.Namespace) -> tuple[list[int], list[int]]:
    port = free_port()
    shared = listening(port, False) if mode == "shared" else None
    sockets = [shared, shared] if shared else [listening(port, True) for _ in range(2)]
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", str(s.fileno()), "--work-ms", str(args.work_ms)],
            pass_fds=[s.fileno()],
            stdout=subprocess.PIPE,
        )
        for s in sockets  # type: ignore[union-attr]
    ]
    try:
        for process in processes:  # both accept before the load starts
            assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        c = str(args.connections)
        command = [wrk, "-t", c, "-c", c, "-d", f"{args.seconds}s"]
        command += ["-s", str(ROOT / "bench" / "wrk_pid.lua"), f"http://127.0.0.1:{port}/"]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        for process in processes:
            process.kill()
            process.wait(30)
        for s in set(sockets):
            s.close()  # type: ignore[union-attr]
    threads = THREAD.findall(output)
    connections = Counter(pid for pid, _n in threads)
    answers: Counter[str] = Counter()
    for pid, n in threads:
        answers[pid] += int(n)
    pids = [str(p.pid) for p in processes]
    return [connections[p] for p in pids], [answers[p] for p in pids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--work-ms", type=float, default=1.0)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.work_ms)
        return
    wrk = ensure_wrk()
    shares: dict[str, list[float]] = {"shared": [], "reuseport": []}
    empty: Counter[str] = Counter()
    for round_index in range(args.rounds):
        for mode in ("shared", "reuseport"):
            connections, answers = one_round(wrk, mode, args)
            share = max(answers) / max(1, sum(answers))
            shares[mode].append(share)
            empty[mode] += min(connections) == 0
            print(
                f"round {round_index + 1} {mode:9}: connections {connections}  answers {answers}"
                f"  busier share {share:.2f}",
                flush=True,
            )
    for mode, values in shares.items():
        print(
            f"{mode:9}: busier process's share of answers, mean {statistics.mean(values):.2f} "
            f"(max {max(values):.2f}); rounds with an idle process: {empty[mode]}/{args.rounds}"
        )


if __name__ == "__main__":
    main()
