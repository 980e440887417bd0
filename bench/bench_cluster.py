"""Cluster mode figures, each measured in one run on a throwaway local PostgreSQL (fsync on):

  takeover   SIGKILL of the node owning a session mid-reply -> first answered prompt of that
             session on another node (same Idempotency-Key retried every 100 ms over the other
             nodes), with the default lease (10 s) and renewal (5 s). Printed: the distribution.
  pg/lmdb    one node, echo gateway (no delay), JSON prompt round trips from `--concurrency`
             sessions for `--seconds`: turns/s on PostgreSQL vs LMDB, interleaved rounds. First
             the round trips to PostgreSQL per JSON prompt (in this process, a server on its own
             database, prompts one at a time): reads in worker threads, reads that block the Trio
             thread, the writer's waits (pipeline syncs and COMMITs) and its transactions.
  relay      one prompt at a time to a session owned by node A: sent to A directly vs to B
             (relayed to A), interleaved rounds, JSON and SSE. Printed: p50/p90 of each and
             the difference at p50 (target <= 2 ms).

    .venv/bin/python bench/bench_cluster.py [--rounds 3] [--seconds 3] [--concurrency 16]
        [--relay-only] [--pg-only] [--baseline /path/to/other/checkout]

Real `python -m chinwag.cli serve` processes; the load generator (httpx, this process) shares the
machine's cores with them, so absolute turns/s are bounded by it too: compare ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from cluster.processes import API_KEY, NodeProcess, start_node  # noqa: E402
from support.postgres import fresh_database, throwaway_cluster  # noqa: E402

DEFAULTS = {"node_lease_seconds": "10", "node_renew_seconds": "5"}


def make_sessions(node: NodeProcess, count: int, delay: float) -> list[str]:
    with node.client() as http:
        gateway = http.post(
            "/api/v1/ai-gateways",
            json={"name": "g", "parameters": {"provider": "echo", "streamDelaySeconds": delay}},
        ).json()["data"]["id"]
        client = http.post(
            "/api/v1/web-chat-client",
            json={
                "name": "c",
                "aiGatewayId": gateway,
                "clientParameters": {},
                "limitingParameters": {},
            },
        ).json()["data"]["id"]
        return [
            http.post(f"/api/v1/web-chat-client/{client}/sessions", json={}).json()["data"][
                "accessKey"
            ]
            for _ in range(count)
        ]


def prompt_path(key: str) -> str:
    return f"/api/v1/public/chat-clients/{key}/prompt"


def stop(*nodes: NodeProcess) -> None:
    for node in nodes:
        if node.process.poll() is None:
            node.process.terminate()
    for node in nodes:
        node.process.wait(30)


# ---------------------------------------------------------------- takeover


def takeover_once(url: str, root: Path, index: int) -> float:
    nodes = [start_node(f"t{index}-{i}", url, root, **DEFAULTS) for i in range(3)]
    try:
        owner, others = nodes[0], nodes[1:]
        [key] = make_sessions(owner, 1, delay=0.1)
        with httpx.Client(base_url=owner.base_url, timeout=30) as http:
            request = http.build_request(
                "POST",
                prompt_path(key),
                json={"prompt": "a b c d e f g h i j k l m n o p"},
                headers={"Accept": "text/event-stream", "Idempotency-Key": "k"},
            )
            response = http.send(request, stream=True)
            for line in response.iter_lines():
                if line.startswith("event: content"):
                    break
            owner.kill()
            killed = time.monotonic()
            response.close()
        attempt = 0
        while True:
            node = others[attempt % 2]
            attempt += 1
            try:
                answer = httpx.post(
                    node.base_url + prompt_path(key),
                    json={"prompt": "a b c d e f g h i j k l m n o p"},
                    headers={"Idempotency-Key": "k"},
                    timeout=30,
                )
                if answer.status_code == 200:
                    return time.monotonic() - killed
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    finally:
        stop(*nodes)


# ---------------------------------------------------------------- throughput


def round_trips_per_turn(url: str, root: Path, turns: int) -> dict[str, float]:
    """Round trips to PostgreSQL per JSON prompt, by kind, counted in this process.

    Counted by wrapping the engine's read paths and psycopg's pipeline sync/exit and COMMIT
    (only the writer's connection is not autocommit), so it measures any version of the
    engine the same way."""
    import psycopg
    from support.server import running_server

    from chinwag.storage.postgres import PostgresEngine

    counts = {"reads": 0, "blocking_reads": 0, "write_round_trips": 0, "write_transactions": 0}

    def counting(kind: str, fn, extra: str | None = None):
        def wrapper(self, *args, **kwargs):
            # The pool's readers are autocommit: their commit() on release sends nothing.
            if not (isinstance(self, psycopg.Connection) and self.autocommit):
                counts[kind] += 1
                if extra is not None:
                    counts[extra] += 1
            return fn(self, *args, **kwargs)

        return wrapper

    patched = [
        (PostgresEngine, "_read_sync", counting("reads", PostgresEngine._read_sync)),
        (PostgresEngine, "_sync_read", counting("blocking_reads", PostgresEngine._sync_read)),
        (psycopg.Pipeline, "sync", counting("write_round_trips", psycopg.Pipeline.sync)),
        (psycopg.Pipeline, "__exit__", counting("write_round_trips", psycopg.Pipeline.__exit__)),
        (
            psycopg.Connection,
            "commit",
            counting("write_round_trips", psycopg.Connection.commit, "write_transactions"),
        ),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patched]

    async def run() -> dict[str, float]:
        async with running_server(root / "rt", database_url=url) as server:
            client_id = await server.create_client()
            key = (await server.open_session(client_id))["accessKey"]
            path = server.public_path(key, "prompt")
            for _ in range(3):  # warm up: the session's actor starts, connections open
                assert (await server.anonymous.post(path, json={"prompt": "hi"})).is_success
            for owner, name, wrapper in patched:
                setattr(owner, name, wrapper)
            try:
                for _ in range(turns):
                    reply = await server.anonymous.post(path, json={"prompt": "hello there"})
                    assert reply.status_code == 200, reply.text
            finally:
                for owner, name, original in saved:
                    setattr(owner, name, original)
        return {kind: count / turns for kind, count in counts.items()}

    return trio.run(run)


async def turns_per_second(node: NodeProcess, keys: list[str], seconds: float) -> float:
    done = 0
    async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
        deadline = trio.current_time() + seconds

        async def loop(key: str) -> None:
            nonlocal done
            while trio.current_time() < deadline:
                response = await http.post(prompt_path(key), json={"prompt": "hello there"})
                assert response.status_code == 200, response.text
                done += 1

        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            for key in keys:
                nursery.start_soon(loop, key)
        return done / (trio.current_time() - started)


def latencies(http: httpx.Client, key: str, count: int, sse: bool | None = False) -> list[float]:
    """Seconds per prompt round trip (SSE: until the stream ended), one prompt at a time."""
    out = []
    headers = {"Accept": "text/event-stream"} if sse else {}
    for _ in range(count):
        started = time.perf_counter()
        if sse is None:  # POST /stop with no reply running: the hop alone, no store write
            response = http.post(f"/api/v1/public/chat-clients/{key}/stop")
            assert response.status_code == 200, response.text
        elif sse:
            with http.stream(
                "POST", prompt_path(key), json={"prompt": "hi"}, headers=headers
            ) as response:
                body = b"".join(response.iter_raw())
            assert b"event: done" in body, body
        else:
            response = http.post(prompt_path(key), json={"prompt": "hi"})
            assert response.status_code == 200, response.text
        out.append(time.perf_counter() - started)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(node: NodeProcess) -> float:
    """User + system CPU time the node's process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{node.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def relay_figures(url: str, root: Path, rounds: int, baseline: Path | None = None) -> None:
    """Wall time per request (p50/p90) direct to the owner A vs through B, and the CPU time
    each node spends per request (less sensitive to a busy machine than wall time). With
    `baseline` (another checkout, e.g. main), a second pair of nodes runs its code on its own
    database, in the same interleaved rounds."""
    pairs = {
        "this": (start_node("ra", url, root, **DEFAULTS), start_node("rb", url, root, **DEFAULTS))
    }
    if baseline is not None:
        other = fresh_database(url)
        pairs["baseline"] = (
            start_node("xa", other, root, code_root=baseline, **DEFAULTS),
            start_node("xb", other, root, code_root=baseline, **DEFAULTS),
        )
    try:
        keys = {name: make_sessions(a, 1, 0)[0] for name, (a, _b) in pairs.items()}
        clients = {
            name: (
                httpx.Client(base_url=a.base_url, timeout=30),
                httpx.Client(base_url=b.base_url, timeout=30),
            )
            for name, (a, b) in pairs.items()
        }
        for name, (to_a, to_b) in clients.items():
            latencies(to_a, keys[name], 20)  # warm up; A owns the session
            latencies(to_b, keys[name], 20)
        kinds = ((None, "stop"), (False, "JSON prompt"), (True, "SSE prompt"))
        for sse, what in kinds:
            times = {(n, way): [] for n in pairs for way in ("direct", "relayed")}
            cpu = {(n, way): [0.0, 0.0] for n in pairs for way in ("direct", "relayed")}
            for _ in range(rounds):
                for name, (a, b) in pairs.items():
                    for way, http in zip(("direct", "relayed"), clients[name], strict=True):
                        before = cpu_seconds(a), cpu_seconds(b)
                        times[name, way] += latencies(http, keys[name], 100, sse)
                        cpu[name, way][0] += cpu_seconds(a) - before[0]
                        cpu[name, way][1] += cpu_seconds(b) - before[1]
            for name in pairs:
                direct, relayed = times[name, "direct"], times[name, "relayed"]
                count = len(direct)
                d50, r50 = percentile(direct, 0.5) * 1000, percentile(relayed, 0.5) * 1000
                d90, r90 = percentile(direct, 0.9) * 1000, percentile(relayed, 0.9) * 1000
                ca = cpu[name, "direct"][0] * 1000 / count
                ra, rb = (c * 1000 / count for c in cpu[name, "relayed"])
                print(
                    f"relay {what} [{name}]: direct to the owner p50 {d50:.2f} ms p90 {d90:.2f} "
                    f"ms | via another node p50 {r50:.2f} ms p90 {r90:.2f} ms | relay adds "
                    f"{r50 - d50:.2f} ms at p50 ({count} requests each, {rounds} interleaved "
                    f"rounds) | CPU ms per request: direct A {ca:.2f}, relayed A {ra:.2f} + B "
                    f"{rb:.2f}"
                )
        for to_a, to_b in clients.values():
            to_a.close()
            to_b.close()
        with httpx.Client(base_url=pairs["this"][1].base_url) as http:
            metrics = http.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"})
            forwarded = [
                line
                for line in metrics.text.splitlines()
                if line.startswith("chinwag_forwarded_requests_total")
            ]
            print(f"  node B {forwarded[0] if forwarded else 'no forwarding metric'}")
    finally:
        stop(*(node for pair in pairs.values() for node in pair))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--takeovers", type=int, default=5)
    parser.add_argument("--relay-only", action="store_true", help="only the relay figures")
    parser.add_argument("--pg-only", action="store_true", help="only the pg/lmdb figures")
    parser.add_argument(
        "--baseline", type=Path, help="relay figures also for this checkout (e.g. /work/main)"
    )
    args = parser.parse_args()
    with throwaway_cluster() as pg, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.relay_only:
            relay_figures(fresh_database(pg.url), root, args.rounds, args.baseline)
            return

        if not args.pg_only:
            times = [takeover_once(fresh_database(pg.url), root, i) for i in range(args.takeovers)]
            print(
                f"takeover after SIGKILL (s, {len(times)} runs, lease 10 s / renew 5 s): "
                f"min {min(times):.2f}  p50 {statistics.median(times):.2f}  "
                f"max {max(times):.2f}  all {' '.join(f'{t:.2f}' for t in sorted(times))}"
            )

        per_turn = round_trips_per_turn(fresh_database(pg.url), root, 50)
        print(
            "round trips to PostgreSQL per JSON prompt (50 prompts, one at a time): "
            + "  ".join(f"{kind} {count:.2f}" for kind, count in per_turn.items())
        )
        pg_node = start_node("pg", fresh_database(pg.url), root, **DEFAULTS)
        lmdb_node = start_node("lmdb", None, root)
        try:
            pg_keys = make_sessions(pg_node, args.concurrency, 0)
            lmdb_keys = make_sessions(lmdb_node, args.concurrency, 0)
            rates: dict[str, list[float]] = {"pg": [], "lmdb": []}
            for _ in range(args.rounds):
                for name, node, keys in (("lmdb", lmdb_node, lmdb_keys), ("pg", pg_node, pg_keys)):
                    rates[name].append(trio.run(turns_per_second, node, keys, args.seconds))
            pg_rate, lmdb_rate = statistics.median(rates["pg"]), statistics.median(rates["lmdb"])
            print(
                f"one node, {args.concurrency} sessions, JSON prompt round trips (turns/s, "
                f"median of {args.rounds} interleaved rounds): lmdb {lmdb_rate:.0f}  "
                f"postgresql {pg_rate:.0f}  ratio pg/lmdb {pg_rate / lmdb_rate:.2f}"
            )
        finally:
            stop(pg_node, lmdb_node)
        if args.pg_only:
            return

        relay_figures(fresh_database(pg.url), root, args.rounds)


if __name__ == "__main__":
    main()
