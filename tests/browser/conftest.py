"""Talk-page tests in a real Chromium against a real chinwag server.

How the two event loops meet (chosen because it is the reliable one):
- The server (runtime + Quart-Trio app on Hypercorn) runs in a background thread with its own
  `trio.run`, on 127.0.0.1 with a free port, using a `MockClock(rate=1)`: it runs at real speed,
  and a test can `jump()` it forward to make a session expire for real, without sleeping.
- Playwright's *sync* API drives Chromium from the test's (main) thread. These tests are plain
  sync functions, so pytest-trio (trio_mode) leaves them alone and no loop is blocked.
- Setup goes through the real management API (httpx, Bearer key); the few things only the
  runtime can do (jump its clock) run in the server's loop through `trio.from_thread`.

Chromium is Debian's (`scripts/install-browser.sh`), launched by executable path. Without it the
tests skip locally and fail in CI (CI=true), so CI never passes without running them.
Screenshots of the main states go to test-artifacts/screenshots/ (printed at the end).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import trio
import trio.lowlevel
import trio.testing
from gateways.fake_openai import FakeOpenAI, start_fake_openai
from support.server import ServerHandle, running_server

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE_REPORT = ROOT / "test-artifacts" / "axe-violations.json"
# axe-core rule tags checked in every state of the page (issue 12).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
CHROMIUM = os.environ.get("CHINWAG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS.exists() and any(SCREENSHOTS.iterdir()):
        terminalreporter.write_line(f"talk page screenshots: {SCREENSHOTS}")


@dataclass
class LiveServer:
    """A chinwag server (tests/support/server.py) running in its own thread."""

    handle: ServerHandle
    clock: trio.testing.MockClock
    token: trio.lowlevel.TrioToken
    nursery: trio.Nursery
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.handle.base_url
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.handle.api_key}"},
            timeout=15,
        )

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run an async function in the server's Trio loop and return its result."""
        return trio.from_thread.run(fn, *args, trio_token=self.token)

    def jump(self, seconds: float) -> None:
        """Move the server's clock forward: sessions expire as if that time had passed."""

        async def _jump() -> None:
            self.clock.jump(seconds)
            await trio.lowlevel.checkpoint()

        self.run(_jump)

    def fake_openai(self, **options: Any) -> FakeOpenAI:
        """Start the scripted OpenAI-compatible server (tests/gateways) next to chinwag."""

        async def _start() -> FakeOpenAI:
            return await start_fake_openai(self.nursery, **options)

        return self.run(_start)

    def api(self, method: str, path: str, json: Any = None) -> Any:
        response = self.http.request(method, path, json=json)
        status = response.status_code
        assert status < 300, f"{method} {path}: {status} {response.text}"
        return response.json()["data"]

    def make_client(
        self,
        client_parameters: dict[str, Any] | None = None,
        limiting_parameters: dict[str, Any] | None = None,
        stream_delay: float = 0.0,
    ) -> str:
        gateway = self.api(
            "POST",
            "/api/v1/ai-gateways",
            {
                "name": "echo",
                "parameters": {"provider": "echo", "streamDelaySeconds": stream_delay},
            },
        )
        body = {
            "name": "talk page test",
            "aiGatewayId": gateway["id"],
            "clientParameters": client_parameters or {},
            "limitingParameters": limiting_parameters or {},
        }
        return self.api("POST", "/api/v1/web-chat-client", body)["id"]

    def chat(self, **client_options: Any) -> dict[str, Any]:
        """A new client with these options and one session of it:
        {sessionId, accessKey, talkUrl, clientId}."""
        client_id = self.make_client(**client_options)
        opened = self.api(
            "POST", f"/api/v1/web-chat-client/{client_id}/sessions", {"expires": 3600}
        )
        return {**opened, "clientId": client_id}

    def fake_chat(self, fake: FakeOpenAI, **client_parameters: Any) -> dict[str, Any]:
        """A client whose gateway is the scripted model server `fake`, and one session of it:
        {sessionId, accessKey, talkUrl, clientId}."""
        parameters = {"provider": "openai", "baseUrl": fake.base_url, "apiKey": "sk-test"}
        gateway = self.api(
            "POST",
            "/api/v1/ai-gateways",
            {"name": "fake", "parameters": {**parameters, "model": "m"}},
        )
        body = {"name": "fake", "aiGatewayId": gateway["id"], "clientParameters": client_parameters}
        client_id = self.api("POST", "/api/v1/web-chat-client", body)["id"]
        opened = self.api(
            "POST", f"/api/v1/web-chat-client/{client_id}/sessions", {"expires": 3600}
        )
        return {**opened, "clientId": client_id}

    def public_messages(self, access_key: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/api/v1/public/chat-clients/{access_key}/messages")
        assert response.status_code == 200, response.text
        return response.json()["data"]


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    clock = trio.testing.MockClock(rate=1.0)
    ready = threading.Event()
    shared: dict[str, Any] = {}

    async def main() -> None:
        try:
            async with (
                trio.open_nursery() as nursery,
                running_server(
                    tmp_path / "data", map_size=64 << 20, fetch_allow_private=True
                ) as handle,
            ):
                shared["nursery"] = nursery
                shared["handle"] = handle
                shared["token"] = trio.lowlevel.current_trio_token()
                shared["stop"] = trio.Event()
                ready.set()
                await shared["stop"].wait()
                nursery.cancel_scope.cancel()
        except BaseException as error:
            shared["error"] = error
            ready.set()
            raise

    thread = threading.Thread(
        target=lambda: trio.run(main, clock=clock), name="chinwag-live-server", daemon=True
    )
    thread.start()
    assert ready.wait(30), "the chinwag server did not start within 30 s"
    if "error" in shared:
        raise RuntimeError("the chinwag server failed to start") from shared["error"]
    server = LiveServer(shared["handle"], clock, shared["token"], shared["nursery"])
    try:
        yield server
    finally:
        server.http.close()

        async def _stop() -> None:
            shared["stop"].set()

        server.run(_stop)
        thread.join(30)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} not found: run scripts/install-browser.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page_options() -> dict[str, Any]:
    """Overrides of the browser context options; tests parametrize it (viewport, locale...)."""
    return {}


@pytest.fixture
def page(browser: Any, page_options: dict[str, Any]) -> Iterator[Any]:
    """A fresh browser context; fails the test on any uncaught script error or dialog."""
    options = {
        "viewport": {"width": 1024, "height": 760},
        "locale": "en-US",
        "color_scheme": "light",
        **page_options,
    }
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def on_dialog(dialog: Any) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    try:
        yield tab
    finally:
        context.close()
    assert not problems, problems


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """Save a full-page screenshot under test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(tab: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path

    return take


# ---------------------------------------------------------------- axe-core


@cache
def axe_source() -> str:
    """axe.min.js as shipped by the pinned axe-playwright-python package (constraints.txt)."""
    from axe_playwright_python.base import AXE_FILE_PATH

    return AXE_FILE_PATH.read_text()


def run_axe(target: Any) -> list[dict[str, Any]]:
    """axe-core's violations in a page or frame. The script goes in through the DevTools
    protocol (page.evaluate), which the talk page's CSP does not apply to; each frame is
    checked on its own (`iframes: false`), as a cross-origin frame needs its own copy."""
    if not target.evaluate("typeof window.axe === 'object'"):
        target.evaluate(axe_source())
    # A new message fades in (opacity 0 -> 1, 0.2 s): mid-fade its text is paler, and on a loaded
    # machine axe can run before the fade ends. Check the settled page: wait for every finite
    # animation and transition (infinite ones, like a spinner, never end and are not awaited).
    target.evaluate(
        """() => Promise.all(document.getAnimations()
            .filter(a => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
            .map(a => a.finished.catch(() => null)))"""
    )
    return target.evaluate(
        """options => axe.run(document, options).then(r => r.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + n.failureSummary)})))""",
        {
            "runOnly": {"type": "tag", "values": AXE_TAGS},
            "resultTypes": ["violations"],
            "iframes": False,
        },
    )


@pytest.fixture(scope="session")
def axe_results() -> Iterator[dict[str, int]]:
    """Violations per state, written to test-artifacts/axe-violations.json at the end."""
    results: dict[str, int] = {}
    yield results
    if results:
        AXE_REPORT.parent.mkdir(parents=True, exist_ok=True)
        previous = json.loads(AXE_REPORT.read_text()) if AXE_REPORT.exists() else {}
        AXE_REPORT.write_text(json.dumps({**previous, **results}, indent=2, sort_keys=True))


@pytest.fixture
def axe(axe_results: dict[str, int]) -> Callable[[Any, str], list[dict[str, Any]]]:
    """`axe(page_or_frame, state)`: assert axe-core finds no violation in this state."""

    def check(target: Any, state: str) -> list[dict[str, Any]]:
        violations = run_axe(target)
        axe_results[state] = len(violations)
        assert violations == [], f"axe violations in state {state!r}: " + json.dumps(
            violations, indent=1
        )
        return violations

    return check


# ---------------------------------------------------------------- a host site on another origin


class HostSite:
    """A tiny web site on `localhost` (chinwag runs on 127.0.0.1: another origin, both loopback,
    so Chromium's private-network rules stay out of it). Pages are registered by path with
    their own headers, e.g. a strict Content-Security-Policy."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, dict[str, str]]] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = site.pages.get(urlsplit(self.path).path)
                if found is None:
                    self.send_error(404)
                    return
                body, headers = found
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://localhost:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, body: str, headers: dict[str, str] | None = None) -> str:
        self.pages[path] = (body, {"Content-Type": "text/html; charset=utf-8", **(headers or {})})
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host_site() -> Iterator[HostSite]:
    site = HostSite()
    try:
        yield site
    finally:
        site.close()
