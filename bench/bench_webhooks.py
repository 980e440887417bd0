"""Webhook ingress: Telegram updates accepted per second, chinwag vs a bare Quart-Trio endpoint.

"Accepted" means answered 2xx; for chinwag that is after the update is durably committed to
the LMDB inbox (fsync, group commit) and deduplicated, with the secret checked. The bare
baseline is a Quart-Trio app on the same Hypercorn Trio worker whose endpoint parses the JSON
body and answers 200 - the least any webhook can do. Both servers run in their own process;
load comes from separate client processes (httpx, keep-alive) with 64 concurrent senders in
all, each sender its own Telegram chat with increasing update_ids. Servers take turns within
each round; the median round is reported.

While chinwag accepts, its lanes also answer the updates (echo model, sendMessage to a fake
Bot API in a third process), as in production; `--no-answers` points the Bot API at a closed
port instead so almost nothing but ingress runs (replies then wait in retry backoff).

    .venv/bin/python bench/bench_webhooks.py [--seconds 5] [--rounds 3] [--senders 64]

Target: chinwag >= 0.3 x bare.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import trio  # noqa: E402

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hypercorn_config(port: int) -> Any:
    import logging

    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("bench")
    config.backlog = 1024
    return config


# ---------------------------------------------------------------- server processes


def serve_bare(port: int) -> None:
    from hypercorn.trio import serve
    from quart import Response, request
    from quart_trio import QuartTrio

    app = QuartTrio("bare")

    @app.post("/api/v1/webhooks/telegram/<client_id>")
    async def webhook(client_id: str) -> Response:
        await request.get_json(force=True)
        return Response('{"message":null,"data":null}', content_type="application/json")

    print(json.dumps({"ready": True}), flush=True)
    trio.run(serve, app, hypercorn_config(port))


def serve_fake_telegram(port: int) -> None:
    from hypercorn.trio import serve
    from quart import Response
    from quart_trio import QuartTrio

    app = QuartTrio("fake-telegram")

    @app.post("/bot<token>/<method>")
    async def method(token: str, method: str) -> Response:
        return Response('{"ok":true,"result":true}', content_type="application/json")

    print(json.dumps({"ready": True}), flush=True)
    trio.run(serve, app, hypercorn_config(port))


def serve_ours(port: int, data_dir: str, telegram_url: str) -> None:
    from hypercorn.trio import serve

    from chinwag.config import Settings
    from chinwag.http.app import create_app
    from chinwag.wiring import open_runtime

    settings = Settings(data_dir=data_dir, bind=f"127.0.0.1:{port}", telegram_api_url=telegram_url)

    async def main() -> None:
        async with open_runtime(settings) as chinwag:
            gateway = await chinwag.create_gateway("bench", {"provider": "echo"})
            client = await chinwag.create_client(
                {
                    "name": "bench",
                    "aiGatewayId": gateway.id,
                    "clientParameters": {},
                    "limitingParameters": {},
                }
            )
            manager = chinwag.integrations
            try:
                await manager.configure_telegram(client.id, "1:bench")
            except Exception:
                # --no-answers: nothing listens at the Bot API URL; store the integration anyway.
                from chinwag.records import TelegramIntegration

                await manager._store(
                    client,
                    telegram=TelegramIntegration(bot_token="1:bench", secret_token="s" * 43),
                    zapi=None,
                )
            secret = chinwag.get_client(client.id).integrations.telegram.secret_token
            print(json.dumps({"client_id": client.id, "secret": secret}), flush=True)
            await serve(create_app(chinwag, settings, chinwag.integrations), hypercorn_config(port))

    trio.run(main)


# ---------------------------------------------------------------- load clients


class Connection:
    """A minimal keep-alive HTTP/1.1 client on h11: httpx under Trio stops scaling past a few
    dozen concurrent connections and would measure the client instead of the servers."""

    def __init__(self, stream: trio.SocketStream, host: str) -> None:
        import h11

        self.h11 = h11
        self.stream = stream
        self.host = host
        self.conn = h11.Connection(h11.CLIENT)

    async def post(self, path: str, body: bytes, headers: list[tuple[str, str]]) -> int:
        h11 = self.h11
        request = h11.Request(
            method="POST",
            target=path,
            headers=[
                ("Host", self.host),
                ("Content-Length", str(len(body))),
                ("Content-Type", "application/json"),
                *headers,
            ],
        )
        data = self.conn.send(request) + self.conn.send(h11.Data(data=body))
        await self.stream.send_all(data + self.conn.send(h11.EndOfMessage()))
        status = 0
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                self.conn.start_next_cycle()
                return status
            elif isinstance(event, h11.ConnectionClosed):
                raise RuntimeError("server closed the connection")


def run_client(
    url: str, senders: int, first_chat: int, seconds: float, start_at: float, secret: str
) -> None:
    from urllib.parse import urlsplit

    import msgspec
    from integrations.payloads import telegram_update

    parts = urlsplit(url)
    counts = [0] * senders
    errors = [0]
    headers = [(SECRET_HEADER, secret)]

    async def sender(index: int, stop_at: float) -> None:
        stream = await trio.open_tcp_stream(parts.hostname, parts.port)
        connection = Connection(stream, parts.netloc)
        chat = first_chat + index
        update_id = chat * 10_000_000
        await trio.sleep(max(0.0, start_at - time.time()))
        while time.time() < stop_at:
            update_id += 1
            body = msgspec.json.encode(telegram_update(update_id, chat, f"hello {update_id}"))
            if await connection.post(parts.path, body, headers) == 200:
                counts[index] += 1
            else:
                errors[0] += 1
        await stream.aclose()

    async def main() -> None:
        late = time.time() - start_at
        if late > 0:
            print(f"client started {late:.2f} s late", file=sys.stderr)
        async with trio.open_nursery() as nursery:
            for index in range(senders):
                nursery.start_soon(sender, index, start_at + seconds)

    trio.run(main)
    print(json.dumps({"accepted": sum(counts), "errors": errors[0]}), flush=True)


# ---------------------------------------------------------------- orchestration


def start(args: list[str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, __file__, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # reply retries (e.g. --no-answers) would flood the output
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"server {args[0]} failed to start")
    return process, json.loads(line)


def wait_ready(port: int) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def load(
    url: str, secret: str, senders: int, procs: int, seconds: float, round_no: int
) -> tuple[float, int]:
    start_at = time.time() + 3.0  # client processes need time to import and connect
    per = [senders // procs + (1 if i < senders % procs else 0) for i in range(procs)]
    children = []
    first = 1 + round_no * 1000
    for share in per:
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--client",
                    url,
                    str(share),
                    str(first),
                    str(seconds),
                    str(start_at),
                    secret,
                ],
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
        )
        first += share
    accepted = errors = 0
    for child in children:
        out, _ = child.communicate()
        result = json.loads(out.strip().splitlines()[-1])
        accepted += result["accepted"]
        errors += result["errors"]
    return accepted / seconds, errors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--senders", type=int, default=64)
    parser.add_argument(
        "--client-procs", type=int, default=max(1, min(4, (os.cpu_count() or 2) // 2))
    )
    parser.add_argument("--no-answers", action="store_true")
    args = parser.parse_args()

    processes: list[subprocess.Popen[str]] = []
    try:
        bare_port, ours_port, telegram_port = free_port(), free_port(), free_port()
        if args.no_answers:
            telegram_url = f"http://127.0.0.1:{free_port()}"
        else:
            process, _ = start(["--serve-fake-telegram", str(telegram_port)])
            processes.append(process)
            wait_ready(telegram_port)
            telegram_url = f"http://127.0.0.1:{telegram_port}"
        process, _ = start(["--serve-bare", str(bare_port)])
        processes.append(process)
        data_dir = tempfile.mkdtemp(prefix="chinwag-bench-")
        process, info = start(["--serve-ours", str(ours_port), data_dir, telegram_url])
        processes.append(process)
        wait_ready(bare_port)
        wait_ready(ours_port)

        targets = {
            "bare Quart-Trio": (f"http://127.0.0.1:{bare_port}/api/v1/webhooks/telegram/x", "-"),
            "chinwag webhook": (
                f"http://127.0.0.1:{ours_port}/api/v1/webhooks/telegram/{info['client_id']}",
                info["secret"],
            ),
        }
        results: dict[str, list[float]] = {name: [] for name in targets}
        print(
            f"{args.senders} concurrent senders in {args.client_procs} client processes, "
            f"{args.seconds:g} s per measurement, {args.rounds} rounds, cpus={os.cpu_count()}"
            + (", answers off" if args.no_answers else ", answers on (echo + fake Bot API)")
        )
        for round_no in range(args.rounds):
            for name, (url, secret) in targets.items():
                rate, errors = load(
                    url,
                    secret,
                    args.senders,
                    args.client_procs,
                    args.seconds,
                    round_no * 2 + (name != "bare Quart-Trio"),
                )
                results[name].append(rate)
                print(
                    f"  round {round_no + 1}: {name:<16} {rate:8.0f} updates/s  ({errors} errors)"
                )
        bare = statistics.median(results["bare Quart-Trio"])
        ours = statistics.median(results["chinwag webhook"])
        print()
        print(f"{'endpoint':<18}{'median updates/s':>18}")
        print(f"{'bare Quart-Trio':<18}{bare:>18.0f}")
        print(f"{'chinwag webhook':<18}{ours:>18.0f}")
        ratios = [
            o / b
            for o, b in zip(results["chinwag webhook"], results["bare Quart-Trio"], strict=True)
        ]
        print(f"ratio of medians chinwag/bare: {ours / bare:.2f} (target >= 0.30)")
        print(
            "per-round ratios: "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + f" (median {statistics.median(ratios):.2f}, worst {min(ratios):.2f})"
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-bare":
        serve_bare(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--serve-fake-telegram":
        serve_fake_telegram(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--serve-ours":
        serve_ours(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "--client":
        url, senders, first, seconds, start_at, secret = sys.argv[2:8]
        run_client(url, int(senders), int(first), float(seconds), float(start_at), secret)
    else:
        main()
