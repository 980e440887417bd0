"""First visit of the talk page on an emulated slow phone: bytes on the wire and DOMContentLoaded.

    .venv/bin/python bench/bench_talk_page.py [--rounds 5] [--baseline bc4c27d]

Two chinwag servers run side by side, each `python -m chinwag.cli serve` in its own process on
loopback with its own data directory: this checkout, and the baseline revision (its `chinwag/`
extracted with `git archive`, default: the commit before issue 12's talk-page work). Rounds
are interleaved (baseline, ours, baseline, ours...) so both see the same machine load.

Each visit is a fresh Chromium context (empty cache) with a phone viewport, throttled through
the DevTools protocol the way DevTools' "Fast 3G" preset does: 562.5 ms latency per request,
1.44 Mbit/s down, 675 kbit/s up (Network.emulateNetworkConditions), and the CPU 4x slower
(Emulation.setCPUThrottlingRate). It opens a new session's talkUrl and waits until the page has
restored the (empty) conversation.

Printed per server (median of the rounds):
  transferred       every response of the visit as it came over the wire (headers + body,
                    compressed when it was), page, styles, scripts and the API calls;
  DOMContentLoaded  performance timing of the navigation, from its start;
  ready             until #cw-app[data-state=ready] (conversation shown, input usable).
Targets (issue 12): transferred <= 100 KB, DOMContentLoaded <= 1.0 s.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHINWAG_CHROMIUM", "/usr/bin/chromium")
API_KEY = "bench-talk-page-key-0123456789"
FAST_3G = {
    "offline": False,
    "latency": 562.5,
    "downloadThroughput": 1.6 * 1024 * 1024 / 8 * 0.9,
    "uploadThroughput": 750 * 1024 / 8 * 0.9,
}
CPU_SLOWDOWN = 4
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# Records when the page reports itself ready (runs before the page's own scripts, via CDP).
READY_PROBE = """
new MutationObserver((changes, observer) => {
  const app = document.getElementById('cw-app');
  if (app && app.dataset.state === 'ready' && !window.__readyAt) {
    window.__readyAt = performance.now();
    observer.disconnect();
  }
}).observe(document, {subtree: true, childList: true, attributes: true,
                      attributeFilter: ['data-state']});
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def extract_revision(revision: str, into: Path) -> Path:
    """The `chinwag/` package of a git revision, extracted into `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "chinwag"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


@dataclass
class Server:
    name: str
    tree: Path
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(self.tree),
            "CHINWAG_DATA_DIR": str(self.data_dir),
            "CHINWAG_BIND": f"127.0.0.1:{self.port}",
            "CHINWAG_API_KEY": API_KEY,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chinwag.cli", "serve"],
            env=env,
            cwd=self.tree,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)

    def new_talk_url(self) -> str:
        """A new session of an echo client (its conversation is empty: a first visit)."""
        with httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {API_KEY}"}
        ) as http:
            if not hasattr(self, "_client_id"):
                gateway = http.post(
                    "/api/v1/ai-gateways",
                    json={"name": "echo", "parameters": {"provider": "echo"}},
                ).json()["data"]["id"]
                self._client_id = http.post(
                    "/api/v1/web-chat-client",
                    json={
                        "name": "bench",
                        "aiGatewayId": gateway,
                        "clientParameters": {"pageTitle": "Acme Help"},
                    },
                ).json()["data"]["id"]
            opened = http.post(
                f"/api/v1/web-chat-client/{self._client_id}/sessions", json={"expires": 3600}
            )
            return opened.json()["data"]["talkUrl"]


@dataclass
class Visit:
    transferred: int
    dom_content_loaded: float
    ready: float
    encodings: set[str]


def visit(browser: Any, url: str) -> Visit:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.add_init_script(READY_PROBE)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", FAST_3G)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    sizes: dict[str, float] = {}
    encodings: set[str] = set()
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]),
    )

    def on_response(event: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in event["response"]["headers"].items()}
        encodings.add(headers.get("content-encoding", "identity"))

    cdp.on("Network.responseReceived", on_response)
    try:
        page.goto(url, wait_until="load", timeout=60_000)
        deadline = time.monotonic() + 60
        while not page.evaluate("window.__readyAt || 0"):
            assert time.monotonic() < deadline, "the page never became ready"
            page.wait_for_timeout(50)
        timing = page.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " return [n.domContentLoadedEventEnd, window.__readyAt]; })()"
        )
        page.wait_for_timeout(300)  # let the last loadingFinished events arrive
        return Visit(int(sum(sizes.values())), timing[0] / 1000, timing[1] / 1000, encodings)
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", default="bc4c27d", help="git revision to compare with")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-talk-") as tmp:
        work = Path(tmp)
        servers = [
            Server(
                f"baseline {args.baseline}",
                extract_revision(args.baseline, work / "base"),
                work / "d1",
            ),
            Server("this checkout", ROOT, work / "d2"),
        ]
        results: dict[str, list[Visit]] = {s.name: [] for s in servers}
        try:
            for server in servers:
                server.start()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
                )
                for server in servers:  # warm-up: imports, templates, compressed files
                    visit(browser, server.new_talk_url())
                for _ in range(args.rounds):
                    for server in servers:
                        results[server.name].append(visit(browser, server.new_talk_url()))
                browser.close()
        finally:
            for server in servers:
                server.stop()

    print(
        "talk page first visit, emulated slow phone (Fast 3G: 562.5 ms latency, 1.44 Mbit/s;"
        f" CPU {CPU_SLOWDOWN}x slower), {args.rounds} interleaved rounds, medians"
    )
    print(f"{'':24} {'transferred':>12} {'DOMContentLoaded':>17} {'ready':>8}  encodings")
    for name, visits in results.items():
        size = statistics.median(v.transferred for v in visits)
        dcl = statistics.median(v.dom_content_loaded for v in visits)
        ready = statistics.median(v.ready for v in visits)
        codings = ",".join(sorted(set().union(*(v.encodings for v in visits))))
        print(f"{name:24} {size / 1000:>9.1f} KB {dcl:>15.2f} s {ready:>6.2f} s  {codings}")
    print(f"{'target':24} {'<= 100.0 KB':>12} {'<= 1.00 s':>17}")


if __name__ == "__main__":
    main()
