"""/widget.js on a host page served from another origin, under a strict CSP, in real Chromium.

The host site (conftest.HostSite) runs on `localhost`, chinwag on 127.0.0.1: two origins. Its
CSP allows chinwag only for scripts, frames and fetches, no inline style or script, and
requires Trusted Types, so any inline style, eval or innerHTML in the widget would show up as
a violation (recorded by an init script, which the DevTools protocol injects past the CSP).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from test_talk_page import PHONE, wait_js

pytestmark = pytest.mark.browser

RECORD_EVENTS = """
window.__events = [];
window.__violations = [];
for (const name of ['chinwag:open', 'chinwag:close', 'chinwag:message']) {
  window.addEventListener(name, (e) => window.__events.push({type: e.type, detail: e.detail}));
}
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def host_page(
    site: Any, chinwag: str, talk_url: str, extra: str = "", *, connect: bool = True
) -> str:
    """A shop page with a strict CSP that loads the widget with one script tag."""
    csp = (
        f"default-src 'none'; script-src {chinwag}; frame-src {chinwag}; "
        f"{f'connect-src {chinwag}; ' if connect else ''}style-src 'self'; img-src 'self'; "
        "base-uri 'none'; require-trusted-types-for 'script'"
    )
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme shop</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Acme shop</h1>
<p>Everything for your garden.</p>
<label>Search the shop <input id="host-search" autofocus></label>
</main>
<script src="{chinwag}/widget.js" data-talk-url="{talk_url}" {extra} async></script>
</body></html>"""
    return site.add("/", body, {"Content-Security-Policy": csp})


def widget_frame(page: Any) -> Any:
    """The panel's talk page (a cross-origin frame)."""
    deadline = time.monotonic() + 15
    while True:
        for frame in page.frames:
            if "/chat/" in frame.url and "embed=1" in frame.url:
                return frame
        assert time.monotonic() < deadline, "the widget's frame never appeared"
        page.wait_for_timeout(40)


def wait_frame_ready(frame: Any) -> None:
    frame.wait_for_selector("#cw-app[data-state=ready]", state="attached")


def events(page: Any) -> list[str]:
    return [e["type"] for e in page.evaluate("window.__events")]


def focused_in_widget(page: Any) -> str | None:
    """The class of the widget element that has focus, or None when focus is elsewhere."""
    return page.evaluate(
        "(() => { const h = document.querySelector('[data-chinwag-widget]');"
        " if (document.activeElement !== h) return null;"
        " const a = h.shadowRoot.activeElement; return a ? (a.className || a.tagName) : null; })()"
    )


def test_widget_script_is_served_compressed_and_cacheable(live_server: Any) -> None:
    http = live_server.http
    plain = http.get("/widget.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "public" in plain.headers["cache-control"]
    assert plain.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in plain.headers
    assert "window.chinwag" in plain.text
    gz = http.get("/widget.js", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip"
    assert gz.text == plain.text  # httpx decodes it
    assert int(gz.headers["content-length"]) < len(plain.content) / 2
    assert gz.headers["etag"] != plain.headers["etag"]  # one validator per representation
    br = http.get("/widget.js", headers={"Accept-Encoding": "gzip;q=0.5, br"})
    assert br.headers["content-encoding"] == "br"
    again = http.get(
        "/widget.js", headers={"Accept-Encoding": "gzip", "If-None-Match": gz.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""
    refused = http.get("/widget.js", headers={"Accept-Encoding": "gzip;q=0, br;q=0"})
    assert "content-encoding" not in refused.headers


def test_widget_on_a_strict_csp_host_from_another_origin(
    live_server: Any, page: Any, host_site: Any, screenshot: Any, axe: Any
) -> None:
    chat = live_server.chat(
        stream_delay=0.12,
        client_parameters={
            "primaryColor": "#0f766e",
            "pageTitle": "Acme Help",
            "allowedFrameOrigins": [host_site.origin],
        },
    )
    url = host_page(host_site, live_server.base_url, chat["talkUrl"])
    page.add_init_script(RECORD_EVENTS)
    page.goto(url)
    launcher = page.locator(".launcher")
    launcher.wait_for()
    wait_js(
        page,
        "!document.querySelector('[data-chinwag-widget]')"
        ".shadowRoot.querySelector('.launcher').hasAttribute('data-pending')",
    )

    # Loading took no focus from the host page; the launcher wears the client's colour.
    assert page.evaluate("document.activeElement.id") == "host-search"
    assert launcher.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(15, 118, 110)"
    box = launcher.bounding_box()
    assert box["x"] + box["width"] == pytest.approx(1024 - 20, abs=1)  # bottom right
    assert box["y"] + box["height"] == pytest.approx(760 - 20, abs=1)
    assert launcher.get_attribute("aria-expanded") == "false"
    assert launcher.get_attribute("aria-label") == "Open chat: Acme Help"
    assert page.frames == [page.main_frame]  # the panel loads on first open only
    axe(page, "widget-closed")
    screenshot(page, "20-widget-closed")

    # Opening: the panel shows the talk page in embed mode, and typing goes there.
    launcher.click()
    frame = widget_frame(page)
    wait_frame_ready(frame)
    assert "embed=1" in frame.url
    assert frame.locator(".cw-header").is_hidden()  # the panel bar has the title instead
    assert page.locator(".panel .title").inner_text() == "Acme Help"
    assert launcher.get_attribute("aria-expanded") == "true"
    wait_js(frame, "document.activeElement && document.activeElement.id === 'cw-input'")
    page.keyboard.type("Hello from the shop")
    page.keyboard.press("Enter")
    frame.wait_for_selector("#cw-app[data-turn=idle]")
    wait_js(page, "window.__events.some(e => e.type === 'chinwag:message')")
    message = next(e for e in page.evaluate("window.__events") if e["type"] == "chinwag:message")
    assert message["detail"]["text"] == "You said: Hello from the shop"
    assert message["detail"]["role"] == "assistant"
    assert page.locator(".badge").is_hidden()  # read while open: no badge
    axe(page, "widget-open-host")
    axe(frame, "widget-open-frame")
    screenshot(page, "21-widget-open")

    # Escape (pressed inside the frame) closes the panel and focus returns to the launcher.
    page.keyboard.press("Escape")
    page.locator(".panel").wait_for(state="hidden")
    assert focused_in_widget(page) == "launcher"
    assert launcher.get_attribute("aria-expanded") == "false"
    assert events(page) == ["chinwag:open", "chinwag:message", "chinwag:close"]

    # A reply that finishes while the panel is closed leaves an unread badge.
    launcher.press("Enter")
    wait_js(frame, "document.activeElement && document.activeElement.id === 'cw-input'")
    page.keyboard.type("one two three four five six seven")
    page.keyboard.press("Enter")
    frame.wait_for_selector("#cw-stop:not([hidden])")
    page.locator(".panel .close").click()
    assert focused_in_widget(page) == "launcher"
    page.locator(".badge").wait_for(state="visible")
    assert page.locator(".badge").inner_text() == "1"
    assert launcher.get_attribute("aria-label") == "Open chat: Acme Help (1 new reply)"
    axe(page, "widget-unread")
    screenshot(page, "22-widget-unread")
    launcher.click()
    assert page.locator(".badge").is_hidden()

    # The script API: open/close/toggle, and open({focus: false}) leaves focus alone.
    page.evaluate("window.chinwag.close()")
    assert page.evaluate("window.chinwag.isOpen()") is False
    page.focus("#host-search")
    page.evaluate("window.chinwag.open({focus: false})")
    assert page.locator(".panel").is_visible()
    assert page.evaluate("document.activeElement.id") == "host-search"
    page.evaluate("window.chinwag.toggle()")
    assert page.locator(".panel").is_hidden()
    assert page.evaluate("document.activeElement.id") == "host-search"  # close() did not grab it

    # Nothing the widget did needed the host's CSP to be loosened.
    assert page.evaluate("window.__violations") == []

    # Once opened in this tab, the next host page preloads the panel, still without focus.
    page.reload()
    frame = widget_frame(page)
    wait_frame_ready(frame)
    page.wait_for_timeout(200)
    assert page.evaluate("document.activeElement.id") == "host-search"
    assert page.locator(".panel").is_hidden()
    assert page.evaluate("window.__violations") == []


@pytest.mark.parametrize("page_options", [{"viewport": PHONE}])
def test_widget_is_full_screen_on_a_phone_and_can_sit_left(
    live_server: Any, page: Any, host_site: Any, screenshot: Any, axe: Any
) -> None:
    chat = live_server.chat(client_parameters={"pageTitle": "Acme Help", "primaryColor": "teal"})
    # This host does not let the widget fetch from chinwag (no connect-src): the launcher starts
    # in the default colour and takes the client's from the panel once it has loaded.
    url = host_page(
        host_site, live_server.base_url, chat["talkUrl"], 'data-position="left"', connect=False
    )
    page.goto(url)
    launcher = page.locator(".launcher")
    launcher.wait_for()
    box = launcher.bounding_box()
    assert box["x"] == pytest.approx(20, abs=1)  # bottom left
    launcher.click()
    frame = widget_frame(page)
    wait_frame_ready(frame)
    bar = page.locator(".panel .bar")
    wait_js(
        page,
        "getComputedStyle(document.querySelector('[data-chinwag-widget]').shadowRoot"
        ".querySelector('.bar')).backgroundColor === 'rgb(0, 128, 128)'",
    )
    assert bar.inner_text() == "Acme Help"
    panel = page.locator(".panel").bounding_box()
    assert (panel["x"], panel["y"], panel["width"], panel["height"]) == (0, 0, 390, 844)
    close = page.locator(".panel .close")
    assert close.is_visible()  # the launcher is covered; the bar's close button is not
    assert close.bounding_box()["height"] >= 44
    axe(frame, "widget-phone-frame")
    screenshot(page, "23-widget-phone")
    close.click()
    assert focused_in_widget(page) == "launcher"


@pytest.mark.parametrize("page_options", [{"color_scheme": "dark"}])
def test_widget_in_dark_mode(
    live_server: Any, page: Any, host_site: Any, screenshot: Any, axe: Any
) -> None:
    chat = live_server.chat(client_parameters={"pageTitle": "Acme Help"})
    page.goto(host_page(host_site, live_server.base_url, chat["talkUrl"]))
    page.locator(".launcher").click()
    frame = widget_frame(page)
    wait_frame_ready(frame)
    frame.fill("#cw-input", "Is there a [size guide](https://example.com/sizes)?")
    frame.press("#cw-input", "Enter")
    frame.wait_for_selector("#cw-app[data-turn=idle]")
    background = frame.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 19, 24)"
    axe(frame, "widget-dark-frame")
    screenshot(page, "25-widget-dark")


def test_widget_panel_is_refused_on_a_host_the_client_does_not_allow(
    live_server: Any, page: Any, host_site: Any
) -> None:
    chat = live_server.chat(client_parameters={"allowedFrameOrigins": ["https://shop.example"]})
    url = host_page(host_site, live_server.base_url, chat["talkUrl"])
    page.goto(url)
    page.locator(".launcher").click()
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)
    frame = next(f for f in page.frames if f != page.main_frame)
    assert frame.evaluate("document.getElementById('cw-app')") is None  # frame-ancestors said no
    page.locator(".panel .close").click()  # the panel can still be closed
    assert page.locator(".panel").is_hidden()


def test_widget_ignores_a_talk_url_that_is_not_a_chat_link(
    live_server: Any, page: Any, host_site: Any
) -> None:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    url = host_page(host_site, live_server.base_url, "javascript:alert(1)")
    page.goto(url)
    page.wait_for_load_state("load")
    assert page.locator("[data-chinwag-widget]").count() == 0
    assert any(re.search("data-talk-url must be a chat link", m) for m in messages)
