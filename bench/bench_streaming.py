"""Streaming overhead of OpenAIAssistant against reading the same server with httpx + httpx-sse.

Same run, same fake OpenAI-compatible server (tests/gateways/fake_openai.py) in a separate
process, so the client side is what is measured; the server sends pre-encoded SSE frames in
batches so it is faster than any of the clients. Baselines: httpx + httpx-sse, decoding each
chunk's JSON (stdlib json, and msgspec as ours does) and collecting `delta.content` - the least
any client must do. Ours is the full assistant (think-tag splitting, events, usage). Overheads
are computed against the faster (msgspec) baseline. Clients take turns within each round; the
table shows the median first-token time, the client process's CPU time per token (the
client's own cost, least disturbed by other load on a shared machine; lowest of the rounds),
and the best and median wall-clock tokens/s.

    .venv/bin/python bench/bench_streaming.py [--tokens 20000] [--rounds 11]

Targets: tokens/s within 10% of the baseline; first token within 5 ms of the baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import msgspec  # noqa: E402
import trio  # noqa: E402
from httpx_sse import aconnect_sse  # noqa: E402

from chinwag.gateways.base import AssistantDeps, ContentDelta, Turn  # noqa: E402
from chinwag.gateways.openai import OpenAIAssistant  # noqa: E402
from chinwag.records import Gateway, GatewayParameters  # noqa: E402

BASELINE_JSON = "httpx-sse + json"
BASELINE_MSGSPEC = "httpx-sse + msgspec"
OURS = "OpenAIAssistant"


def serve() -> None:
    """Child process: run the fake server; reply with `max_completion_tokens` tokens."""
    from tests.gateways.fake_openai import Reply, start_fake_openai, text_reply

    def responder(body: dict[str, Any]) -> Reply:
        count = int(body.get("max_completion_tokens") or 1)
        reply = text_reply("", pieces=[" tok"] * count)
        reply.batch = 256
        return reply

    async def run_server() -> None:
        async with trio.open_nursery() as nursery:
            fake = await start_fake_openai(nursery, responder=responder)
            print(fake.base_url, flush=True)
            await trio.sleep_forever()

    trio.run(run_server)


async def baseline(
    http: httpx.AsyncClient, base_url: str, tokens: int, decode: Callable[[str], Any]
) -> tuple[float, float, int]:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "go"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": tokens,
    }
    started = time.perf_counter()
    first = None
    received = 0
    async with aconnect_sse(http, "POST", f"{base_url}/chat/completions", json=body) as source:
        async for sse in source.aiter_sse():
            if sse.data == "[DONE]":
                break
            chunk = decode(sse.data)
            for choice in chunk.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    received += 1
                    if first is None:
                        first = time.perf_counter()
    return (first or started) - started, time.perf_counter() - started, received


async def ours(assistant: OpenAIAssistant, tokens: int) -> tuple[float, float, int]:
    assistant.params.max_completion_tokens = tokens
    started = time.perf_counter()
    first = None
    received = 0
    async for event in assistant.stream(Turn(messages=[{"role": "user", "content": "go"}])):
        if isinstance(event, ContentDelta):
            received += 1
            if first is None:
                first = time.perf_counter()
    return (first or started) - started, time.perf_counter() - started, received


async def measure(base_url: str, tokens: int, rounds: int) -> None:
    names = [BASELINE_JSON, BASELINE_MSGSPEC, OURS]
    results: dict[str, dict[str, list[float]]] = {
        n: {"ttft": [], "tps": [], "cpu": []} for n in names
    }
    msgspec_decode = msgspec.json.Decoder().decode
    async with httpx.AsyncClient(timeout=60) as http:
        gateway = Gateway(
            id="bench",
            name="bench",
            parameters=GatewayParameters(provider="openai", base_url=base_url, model="m"),
            created_at=0.0,
            updated_at=0.0,
        )
        assistant = OpenAIAssistant(gateway, AssistantDeps(http=http))

        async def run(name: str, wanted: int) -> tuple[float, float, int]:
            if name == OURS:
                return await ours(assistant, wanted)
            decode = msgspec_decode if name == BASELINE_MSGSPEC else json.loads
            return await baseline(http, base_url, wanted, decode)

        for name in names:  # warm up the pool and every code path
            await run(name, 100)
        for round_number in range(rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                for _ in range(5):  # time to first token: one-token replies
                    first, _total, _count = await run(name, 1)
                    results[name]["ttft"].append(first * 1000)
                cpu_started = time.process_time()
                _first, total, received = await run(name, tokens)
                cpu = time.process_time() - cpu_started
                assert received == tokens, (name, received)
                results[name]["tps"].append(received / total)
                results[name]["cpu"].append(cpu / received * 1e6)

    base = results[BASELINE_MSGSPEC]
    base_cpu = min(base["cpu"])
    base_best = max(base["tps"])
    base_ttft = statistics.median(base["ttft"])
    print(f"\n{tokens} tokens per stream, {rounds} rounds (server in its own process)\n")
    print(
        f"{'client':<20} {'first token ms':>15} {'client CPU us/token':>20} {'best tokens/s':>14}"
        f" {'median tokens/s':>16}"
    )
    for name, figures in results.items():
        print(
            f"{name:<20} {statistics.median(figures['ttft']):>15.2f}"
            f" {min(figures['cpu']):>20.2f} {max(figures['tps']):>14,.0f}"
            f" {statistics.median(figures['tps']):>16,.0f}"
        )
    ours_f = results[OURS]
    cpu_overhead = min(ours_f["cpu"]) / base_cpu - 1
    tps_overhead = 1 - max(ours_f["tps"]) / base_best
    extra_ms = statistics.median(ours_f["ttft"]) - base_ttft
    print(
        f"\nvs {BASELINE_MSGSPEC}: client CPU per token {cpu_overhead:+.1%}, best tokens/s "
        f"{tps_overhead:+.1%} slower (target <= 10%); first token {extra_ms:+.2f} ms "
        "(target <= 5 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        trio.run(measure, base_url, args.tokens, args.rounds)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
