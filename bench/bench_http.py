"""HTTP benchmark: chinwag vs a bare Quart-Trio JSON endpoint on the same Hypercorn setup.

    .venv/bin/python bench/bench_http.py [--seconds 3] [--rounds 3] [--concurrency 64]

Each server runs in its own process (Hypercorn Trio worker with
`chinwag.http.server.hypercorn_config`), the load generator in this one: `concurrency` keep-alive
HTTP/1.1 connections (h11) in a loop for a fixed duration after a short warm-up. Workloads:

  tags    POST /api/v1/web-chat-client/{id}/sessions {tag: one of 1000, expires} (create-or-renew)
  prompt  POST .../prompt {prompt} with the echo gateway, JSON answer (one session per worker)
  sse     the same prompt with Accept: text/event-stream, read until `done`
  bare    POST /json on a bare Quart-Trio app that decodes the body and returns an envelope
  health  GET /healthz through the whole chinwag app (hooks, metrics, envelope; no runtime call)

Printed: requests/s, p50 and p99 latency per workload, and each chinwag figure as a ratio of the
bare endpoint's (same run). The load generator is a single Python process, so absolute numbers
are bounded by the client too; the ratio is the figure to watch (target >= 0.5 for tags).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import h11
import httpx
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------- server processes


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def serve_bare(port: int) -> None:
    import msgspec
    from quart import Response, request
    from quart_trio import QuartTrio

    from chinwag.config import Settings
    from chinwag.http.server import serve_app

    app = QuartTrio("bare")

    @app.post("/json")
    async def echo_json() -> Response:
        body = msgspec.json.decode(await request.get_data())
        return Response(
            msgspec.json.encode({"message": None, "data": {"received": body}}),
            content_type="application/json",
        )

    settings = Settings(bind=f"127.0.0.1:{port}")
    print(json.dumps({"ready": True}), flush=True)
    await serve_app(app, settings)


async def serve_chinwag(port: int, data_dir: str) -> None:
    from chinwag.config import Settings
    from chinwag.http.app import create_app
    from chinwag.http.server import serve_app
    from chinwag.wiring import open_runtime

    settings = Settings(data_dir=data_dir, bind=f"127.0.0.1:{port}")
    async with open_runtime(settings) as runtime:
        _info, api_key = await runtime.create_api_key("bench")
        gateway = await runtime.create_gateway("echo", {"provider": "echo"})
        client = await runtime.create_client({"name": "bench", "aiGatewayId": gateway.id})
        print(json.dumps({"ready": True, "apiKey": api_key, "clientId": client.id}), flush=True)
        await serve_app(create_app(runtime, settings, runtime.integrations), settings)


def start_server(
    kind: str, port: int, data_dir: str | None = None
) -> tuple[subprocess.Popen, dict]:
    args = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
    if data_dir:
        args += ["--data-dir", data_dir]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    info = json.loads(process.stdout.readline())
    return process, info


async def wait_until_up(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        for _ in range(200):
            try:
                await http.get("/")
                return
            except httpx.TransportError:
                await trio.sleep(0.05)
    raise RuntimeError(f"{base_url} did not come up")


# ---------------------------------------------------------------- load generation


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.count / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


class Connection:
    """A minimal keep-alive HTTP/1.1 client on h11 (httpx collapses past ~16 concurrent
    connections under Trio here, which would measure the client instead of the servers)."""

    def __init__(self, stream: trio.SocketStream, host: str) -> None:
        self.stream = stream
        self.host = host
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, base_url: str) -> Connection:
        parts = urlsplit(base_url)
        stream = await trio.open_tcp_stream(parts.hostname, parts.port)
        return cls(stream, parts.netloc)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        all_headers = [("Host", self.host), ("Content-Length", str(len(body)))]
        if body:
            all_headers.append(("Content-Type", "application/json"))
        all_headers += list((headers or {}).items())
        data = self.conn.send(h11.Request(method=method, target=path, headers=all_headers))
        data += self.conn.send(h11.Data(data=body)) if body else b""
        data += self.conn.send(h11.EndOfMessage())
        await self.stream.send_all(data)
        status, chunks = 0, []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self.conn.start_next_cycle()
                return status, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                raise RuntimeError("server closed the connection")

    async def aclose(self) -> None:
        await self.stream.aclose()


Call = Callable[[Connection, int], Awaitable[None]]


async def run_load(
    name: str, base_url: str, call: Call, *, concurrency: int, seconds: float, warmup: float
) -> Result:
    latencies: list[float] = []
    start = time.perf_counter()
    measure_from = start + warmup
    deadline = measure_from + seconds

    async def worker(index: int) -> None:
        connection = await Connection.open(base_url)
        try:
            while True:
                began = time.perf_counter()
                if began >= deadline:
                    return
                await call(connection, index)
                ended = time.perf_counter()
                if began >= measure_from:
                    latencies.append(ended - began)
        finally:
            await connection.aclose()

    async with trio.open_nursery() as nursery:
        for index in range(concurrency):
            nursery.start_soon(worker, index)
    return Result(name, len(latencies), seconds, latencies)


def expect(status: int, body: bytes, wanted: int = 200) -> None:
    if status != wanted:
        raise RuntimeError(f"unexpected {status}: {body[:200]!r}")


def tag_body() -> bytes:
    return json.dumps({"tag": f"user-{random.randrange(1000)}", "expires": 3600}).encode()


async def health_call(http: Connection, index: int) -> None:
    expect(*await http.request("GET", "/healthz"))


async def bare_call(http: Connection, index: int) -> None:
    expect(*await http.request("POST", "/json", tag_body()))


def tag_call(api_key: str, client_id: str) -> Call:
    headers = {"Authorization": f"Bearer {api_key}"}
    path = f"/api/v1/web-chat-client/{client_id}/sessions"

    async def call(http: Connection, index: int) -> None:
        expect(*await http.request("POST", path, tag_body(), headers))

    return call


PROMPT = json.dumps({"prompt": "hello benchmark"}).encode()


def prompt_call(keys: list[str]) -> Call:
    async def call(http: Connection, index: int) -> None:
        path = f"/api/v1/public/chat-clients/{keys[index]}/prompt"
        expect(*await http.request("POST", path, PROMPT))

    return call


def sse_call(keys: list[str]) -> Call:
    headers = {"Accept": "text/event-stream"}

    async def call(http: Connection, index: int) -> None:
        path = f"/api/v1/public/chat-clients/{keys[index]}/prompt"
        status, body = await http.request("POST", path, PROMPT, headers)
        expect(status, body)
        if b"event: done" not in body:
            raise RuntimeError("stream ended without done")

    return call


async def open_sessions(base_url: str, api_key: str, client_id: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        keys = []
        for index in range(count):
            response = await http.post(
                f"/api/v1/web-chat-client/{client_id}/sessions",
                json={"tag": f"prompt-worker-{index}", "expires": 7200},
            )
            expect(response.status_code, response.content)
            keys.append(response.json()["data"]["accessKey"])
        return keys


async def bench(seconds: float, concurrency: int, warmup: float, rounds: int) -> None:
    bare_port, chinwag_port = free_port(), free_port()
    data_dir = tempfile.mkdtemp(prefix="chinwag-bench-")
    bare, _ = start_server("bare", bare_port)
    chinwag, info = start_server("chinwag", chinwag_port, data_dir)
    try:
        bare_url = f"http://127.0.0.1:{bare_port}"
        chinwag_url = f"http://127.0.0.1:{chinwag_port}"
        await wait_until_up(bare_url)
        await wait_until_up(chinwag_url)
        keys = await open_sessions(chinwag_url, info["apiKey"], info["clientId"], concurrency)
        load = partial(run_load, concurrency=concurrency, seconds=seconds, warmup=warmup)
        workloads: list[tuple[str, str, Call]] = [
            ("bare Quart-Trio JSON", bare_url, bare_call),
            ("chinwag GET /healthz (HTTP layer)", chinwag_url, health_call),
            (
                "session create-or-renew by tag",
                chinwag_url,
                tag_call(info["apiKey"], info["clientId"]),
            ),
            ("prompt round trip, echo, JSON", chinwag_url, prompt_call(keys)),
            ("prompt round trip, echo, SSE", chinwag_url, sse_call(keys)),
        ]
        # Rounds interleave the workloads, so a burst of load from elsewhere on the machine
        # hits ours and the baseline alike instead of skewing one of them.
        merged = {name: Result(name, 0, 0.0, []) for name, _, _ in workloads}
        for _ in range(rounds):
            for name, url, call in workloads:
                result = await load(name, url, call)
                total = merged[name]
                total.count += result.count
                total.seconds += result.seconds
                total.latencies += result.latencies
        baseline, *results = merged.values()
    finally:
        for process in (bare, chinwag):
            process.terminate()
            process.wait(30)
    print(
        f"\nchinwag HTTP benchmark: {concurrency} concurrent clients; {rounds} interleaved rounds "
        f"of {seconds:.0f} s per workload (after {warmup:.0f} s warm-up each); servers in "
        "separate processes\n"
    )
    header = (
        f"{'workload':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'rps ratio':>10} {'p99 ratio':>10}"
    )
    print(header)
    print("-" * len(header))
    for result in [baseline, *results]:
        ratio = result.rps / baseline.rps
        p99_ratio = result.percentile(0.99) / baseline.percentile(0.99)
        print(
            f"{result.name:34} {result.rps:9.0f} {result.percentile(0.5):8.2f} "
            f"{result.percentile(0.99):8.2f} {ratio:10.2f} {p99_ratio:10.2f}"
        )
    tags = results[1]
    verdict = "meets" if tags.rps / baseline.rps >= 0.5 else "MISSES"
    print(
        f"\ntag create-or-renew throughput is {tags.rps / baseline.rps:.2f} of the bare "
        f"endpoint: {verdict} the >= 0.5 target"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per workload")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--serve", choices=["bare", "chinwag"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "bare":
        trio.run(serve_bare, args.port)
    elif args.serve == "chinwag":
        trio.run(serve_chinwag, args.port, args.data_dir)
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        trio.run(bench, args.seconds, args.concurrency, args.warmup, args.rounds)


if __name__ == "__main__":
    main()
