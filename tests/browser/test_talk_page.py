"""The talk page in a real Chromium against a real chinwag server (see conftest.py)."""

from __future__ import annotations

import html
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


# ---------------------------------------------------------------- helpers


def open_chat(page: Any, url: str) -> Any:
    response = page.goto(url)
    page.wait_for_selector("#cw-app[data-state=ready]")
    return response


def send(page: Any, text: str) -> None:
    page.fill("#cw-input", text)
    page.keyboard.press("Enter")


def wait_js(page: Any, expression: str, timeout: float = 15.0) -> None:
    """Poll a JS expression until truthy. (page.wait_for_function evaluates with eval(), which
    the page's CSP rightly forbids; page.evaluate goes through the DevTools protocol.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for: {expression}"
        page.wait_for_timeout(40)


def wait_idle(page: Any) -> None:
    """Wait until the reply ended and the page re-synced with the server."""
    page.wait_for_selector("#cw-app[data-turn=idle]")


def bubbles(page: Any, role: str) -> list[str]:
    return page.locator(f"#cw-messages .cw-msg--{role} .cw-bubble").all_inner_texts()


def message_text(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "\n".join(part.get("text", "") for part in content if part.get("type") == "text")


def tiny_png() -> bytes:
    """A valid 2x2 red PNG, made here so the test needs no file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@contextmanager
def embedder_page() -> Iterator[str]:
    """Serve, on localhost, a page that frames the URL given in its `src` query parameter."""

    class Embedder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            src = html.escape(parse_qs(urlsplit(self.path).query)["src"][0])
            body = f'<!doctype html><iframe id="chat" src="{src}" width="400" height="600">'
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Embedder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- conversation


def test_prompt_streams_the_echo_reply(live_server: Any, page: Any, screenshot: Any) -> None:
    chat = live_server.chat(
        stream_delay=0.08,
        client_parameters={"pageTitle": "Acme Support", "helloLabel": "Hi, I am Acme's helper"},
    )
    open_chat(page, chat["talkUrl"])
    assert page.title() == "Acme Support"
    assert page.locator("#cw-hello-title").inner_text() == "Hi, I am Acme's helper"
    screenshot(page, "01-empty-state")

    prompt = "Hello there, please repeat these few words back to me slowly"
    send(page, prompt)
    # While the reply streams: the stop button replaces send and the text grows word by word.
    page.wait_for_selector("#cw-stop:not([hidden])")
    wait_js(
        page,
        "() => { const b = document.querySelector('.cw-msg--assistant .cw-bubble');"
        " return b && b.innerText.startsWith('You said:') && !b.innerText.endsWith('slowly'); }",
    )
    assert page.locator("#cw-send").is_hidden()
    wait_idle(page)

    assert bubbles(page, "user") == [prompt]
    assert bubbles(page, "assistant") == [f"You said: {prompt}"]
    assert page.locator("#cw-stop").is_hidden()
    assert page.locator("#cw-hello").is_hidden()
    assert page.locator("#cw-input").input_value() == ""
    screenshot(page, "02-conversation")


def test_shift_enter_adds_a_newline_and_enter_sends(live_server: Any, page: Any) -> None:
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    page.click("#cw-input")
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    assert page.locator("#cw-input").input_value() == "first line\nsecond line"
    assert page.locator("#cw-messages .cw-msg").count() == 0
    page.keyboard.press("Enter")
    wait_idle(page)
    assert bubbles(page, "user") == ["first line\nsecond line"]
    stored = live_server.public_messages(chat["accessKey"])
    assert message_text(stored[0]) == "first line\nsecond line"


def test_suggestion_button_sends_its_prompt(live_server: Any, page: Any) -> None:
    chat = live_server.chat(
        client_parameters={"suggestionButtons": [{"label": "Say hi", "prompt": "Hi from a button"}]}
    )
    open_chat(page, chat["talkUrl"])
    page.get_by_role("button", name="Say hi").click()
    wait_idle(page)
    assert bubbles(page, "assistant") == ["You said: Hi from a button"]


def test_reload_restores_the_whole_conversation_once(live_server: Any, page: Any) -> None:
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    for text in ("first question", "second question"):
        send(page, text)
        wait_idle(page)

    page.reload()
    page.wait_for_selector("#cw-app[data-state=ready]")
    assert bubbles(page, "user") == ["first question", "second question"]
    assert bubbles(page, "assistant") == ["You said: first question", "You said: second question"]
    stored = live_server.public_messages(chat["accessKey"])
    dom_ids = page.eval_on_selector_all("#cw-messages .cw-msg", "els => els.map(e => e.dataset.id)")
    assert dom_ids == [m["id"] for m in stored]

    # A second tab of the same link shows the same conversation.
    other = page.context.new_page()
    open_chat(other, chat["talkUrl"])
    assert bubbles(other, "user") == ["first question", "second question"]
    other.close()


def test_clear_asks_first_then_empties_the_conversation(
    live_server: Any, page: Any, screenshot: Any
) -> None:
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    send(page, "something to forget")
    wait_idle(page)

    page.click("#cw-clear")
    page.wait_for_selector("#cw-confirm[open]")
    screenshot(page, "03-clear-confirmation")
    page.click("#cw-confirm-cancel")
    assert page.locator("#cw-messages .cw-msg").count() == 2
    assert len(live_server.public_messages(chat["accessKey"])) == 2

    page.click("#cw-clear")
    page.click("#cw-confirm-ok")
    page.wait_for_selector("#cw-hello:not([hidden])")
    assert page.locator("#cw-messages .cw-msg").count() == 0
    assert page.locator("#cw-toast").inner_text() == "Conversation cleared."
    assert live_server.public_messages(chat["accessKey"]) == []

    # The session (and its link) keeps working after clearing.
    page.reload()
    page.wait_for_selector("#cw-app[data-state=ready]")
    assert page.locator("#cw-messages .cw-msg").count() == 0
    send(page, "fresh start")
    wait_idle(page)
    assert bubbles(page, "assistant") == ["You said: fresh start"]


def test_stop_keeps_what_was_generated(live_server: Any, page: Any, screenshot: Any) -> None:
    chat = live_server.chat(stream_delay=0.2)
    open_chat(page, chat["talkUrl"])
    words = " ".join(f"word{i}" for i in range(40))
    send(page, words)
    wait_js(
        page,
        "() => (document.querySelector('.cw-msg--assistant .cw-bubble')?.innerText || '')"
        ".includes('word1')",
    )
    page.click("#cw-stop")
    wait_idle(page)

    shown = bubbles(page, "assistant")[0]
    assert shown.startswith("You said: word0")
    assert "word39" not in shown
    stored = live_server.public_messages(chat["accessKey"])
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["status"] == "stopped"
    assert message_text(stored[1]) == shown
    assert page.locator(".cw-msg--assistant .cw-stopped").inner_text() == "Stopped"
    assert page.locator("#cw-send").is_visible()
    screenshot(page, "04-stopped-reply")


def test_lost_connection_is_shown_and_recovered_without_duplicates(
    live_server: Any, page: Any
) -> None:
    chat = live_server.chat(stream_delay=0.15)
    open_chat(page, chat["talkUrl"])
    send(page, " ".join(f"w{i}" for i in range(20)))
    wait_js(
        page,
        "() => (document.querySelector('.cw-msg--assistant .cw-bubble')?.innerText || '')"
        ".includes('w1')",
    )
    page.context.set_offline(True)
    page.wait_for_selector("#cw-banner[data-kind=connection]:not([hidden])")
    assert "Connection lost" in page.locator("#cw-banner-text").inner_text()
    page.context.set_offline(False)
    page.wait_for_selector("#cw-banner", state="hidden", timeout=20_000)
    # Whatever the server kept is shown exactly once, in order.
    wait_js(
        page,
        "() => document.querySelectorAll('#cw-messages .cw-msg--assistant[data-id]').length === 1"
        " && document.getElementById('cw-app').dataset.turn === 'idle'",
        timeout=20,
    )
    stored = live_server.public_messages(chat["accessKey"])
    assert [m["role"] for m in stored] == ["user", "assistant"]
    dom_ids = page.eval_on_selector_all("#cw-messages .cw-msg", "els => els.map(e => e.dataset.id)")
    assert dom_ids == [m["id"] for m in stored]
    assert bubbles(page, "assistant") == [message_text(stored[1])]


# ---------------------------------------------------------------- safety


def test_html_in_prompt_and_answer_is_inert(live_server: Any, page: Any, screenshot: Any) -> None:
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    payload = (
        "<img src=x onerror=\"window.__xss='img'\"><script>window.__xss='script'</script>"
        " [click me](javascript:window.__xss='link') <svg onload=\"window.__xss='svg'\"></svg>"
        "\n\n**bold text** and a table:\n\n| name | value |\n|---|---|\n| a | 1 |\n\n"
        "```\ncode <b>block</b>\n```"
    )
    send(page, payload)
    wait_idle(page)

    assert page.evaluate("window.__xss") is None
    messages = page.locator("#cw-messages")
    assert messages.locator("script").count() == 0
    assert messages.locator("img").count() == 0
    assert (
        messages.locator(
            "svg:not(.cw-avatar svg):not(.cw-copy-message svg):not(.cw-feedback svg)"
        ).count()
        == 0
    )
    assert messages.locator("[onerror], [onload]").count() == 0
    assert messages.locator("a[href^='javascript']").count() == 0
    # The user's message is plain text, shown verbatim.
    assert bubbles(page, "user") == [payload]
    # The model's answer (echo repeats the payload) is rendered markdown with the HTML as text.
    answer = page.locator(".cw-msg--assistant .cw-bubble")
    assert "<img src=x onerror=" in answer.inner_text()
    assert "<script>" in answer.inner_text()
    assert answer.locator("strong").inner_text() == "bold text"
    assert answer.locator("table td").all_inner_texts() == ["a", "1"]
    assert answer.locator("pre code").inner_text().startswith("code <b>block</b>")
    screenshot(page, "05-markdown-and-inert-html")


def test_page_headers_frame_ancestors_and_script_policy(live_server: Any, page: Any) -> None:
    anywhere = live_server.chat()
    response = open_chat(page, anywhere["talkUrl"])
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors *" in csp
    assert "script-src 'nonce-" in csp
    assert response.headers["referrer-policy"] == "no-referrer"

    restricted = live_server.chat(
        client_parameters={"allowedFrameOrigins": ["https://shop.example"]}
    )
    response = open_chat(page, restricted["talkUrl"])
    assert (
        "frame-ancestors 'self' https://shop.example;"
        in response.headers["content-security-policy"]
    )

    # A real embedding from another origin (a tiny page server on localhost; loopback like
    # chinwag, so Chromium's private-network rules stay out of it): allowed for the first
    # client, refused for the second.
    with embedder_page() as embed_url:
        page.goto(f"{embed_url}?src={anywhere['talkUrl']}")
        page.frame_locator("#chat").locator("#cw-app[data-state=ready]").wait_for()
        page.goto(f"{embed_url}?src={restricted['talkUrl']}")
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)
        chat_frame = next(f for f in page.frames if f != page.main_frame)
        assert chat_frame.evaluate("document.getElementById('cw-app')") is None


# ---------------------------------------------------------------- look and language


def test_pt_br_page_is_in_portuguese(live_server: Any, page: Any, screenshot: Any) -> None:
    chat = live_server.chat(client_parameters={"languageCode": "pt-BR"})
    open_chat(page, chat["talkUrl"])
    assert page.locator("html").get_attribute("lang") == "pt-BR"
    assert page.locator("#cw-input").get_attribute("placeholder") == "Digite uma mensagem…"
    assert page.locator("#cw-hello-title").inner_text() == "Olá! Como posso ajudar você hoje?"
    assert page.locator("#cw-clear").get_attribute("aria-label") == "Limpar conversa"
    assert "Shift+Enter para nova linha" in page.locator(".cw-hint").inner_text()
    send(page, "olá")
    wait_idle(page)
    page.click("#cw-clear")
    assert page.locator("#cw-confirm .cw-dialog-title").inner_text() == "Limpar esta conversa?"
    assert page.locator("#cw-confirm-ok").inner_text() == "Limpar"
    screenshot(page, "06-pt-BR-clear-confirmation")
    page.click("#cw-confirm-ok")
    page.wait_for_selector("#cw-toast:not([hidden])")
    assert page.locator("#cw-toast").inner_text() == "Conversa limpa."


@pytest.mark.parametrize("page_options", [{"locale": "es-ES"}])
def test_browser_language_is_the_fallback(live_server: Any, page: Any) -> None:
    chat = live_server.chat()  # no languageCode
    open_chat(page, chat["talkUrl"])
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("#cw-input").get_attribute("placeholder") == "Escribe un mensaje…"
    assert page.locator("#cw-clear").get_attribute("aria-label") == "Borrar conversación"


@pytest.mark.parametrize("page_options", [{"locale": "pt-BR"}])
def test_navigator_language_is_used_when_accept_language_does_not_help(
    live_server: Any, page: Any
) -> None:
    chat = live_server.chat()  # no languageCode
    # A browser (or proxy) that sends a language we do not have: the page asks navigator.
    page.route(
        "**/chat/**",
        lambda route: route.continue_(
            headers={**route.request.headers, "accept-language": "fr-FR,fr;q=0.9"}
        ),
    )
    open_chat(page, chat["talkUrl"])
    assert page.url.endswith("?lang=pt-BR")
    assert page.locator("html").get_attribute("lang") == "pt-BR"
    assert page.locator("#cw-input").get_attribute("placeholder") == "Digite uma mensagem…"


def test_custom_styles_and_scripts_apply(live_server: Any, page: Any) -> None:
    chat = live_server.chat(
        client_parameters={
            "primaryColor": "#0f766e",
            "customStyles": ".cw-header { background-color: rgb(1, 2, 3); }\n"
            ".cw-title::after { content: ' </style><b id=\"escaped\">no</b>'; }",
            "customScripts": "window.__customRan = (window.__customRan || 0) + 1;"
            " document.documentElement.dataset.custom = window.chinwag.language;",
        }
    )
    open_chat(page, chat["talkUrl"])
    header_background = page.eval_on_selector(
        ".cw-header", "el => getComputedStyle(el).backgroundColor"
    )
    assert header_background == "rgb(1, 2, 3)"
    assert page.locator("#escaped").count() == 0  # the CSS could not close its <style>
    wait_js(page, "window.__customRan === 1")
    assert page.locator("html").get_attribute("data-custom") == "en"
    send_color = page.eval_on_selector("#cw-send", "el => getComputedStyle(el).backgroundColor")
    assert send_color == "rgb(15, 118, 110)"


@pytest.mark.parametrize("page_options", [{"viewport": PHONE}])
def test_phone_layout_has_no_horizontal_scroll(
    live_server: Any, page: Any, screenshot: Any
) -> None:
    chat = live_server.chat(
        client_parameters={
            "pageTitle": "A rather long page title for a small phone screen",
            "suggestionButtons": [
                {"label": "What can you do for me today?", "prompt": "What can you do?"},
                {"label": "Show me a table", "prompt": "table"},
            ],
        }
    )
    open_chat(page, chat["talkUrl"])
    screenshot(page, "07-phone-empty")
    send(
        page,
        "x" * 300
        + "\n\n```\n"
        + "a_very_long_line_of_code " * 12
        + "\n```\n\n| "
        + " | ".join(f"column {i}" for i in range(12))
        + " |\n|"
        + "---|" * 12,
    )
    wait_idle(page)
    widths = page.evaluate(
        "() => ({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,"
        " scroll: document.getElementById('cw-scroll').scrollWidth,"
        " view: document.documentElement.clientWidth})"
    )
    assert widths["view"] == 390
    assert widths["doc"] <= widths["view"], widths
    assert widths["body"] <= widths["view"], widths
    assert widths["scroll"] <= widths["view"], widths
    screenshot(page, "08-phone-conversation")


@pytest.mark.parametrize("page_options", [{"color_scheme": "dark"}])
def test_dark_mode_follows_the_system(live_server: Any, page: Any, screenshot: Any) -> None:
    chat = live_server.chat(client_parameters={"debug": True})
    open_chat(page, chat["talkUrl"])
    send(page, "Dark mode **markdown** with `code`")
    wait_idle(page)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
    assert red + green + blue < 120, background
    screenshot(page, "09-dark-mode")


def test_debug_shows_the_session_token_usage(live_server: Any, page: Any) -> None:
    plain = live_server.chat()
    open_chat(page, plain["talkUrl"])
    send(page, "no usage shown here")
    wait_idle(page)
    assert page.locator("#cw-usage").is_hidden()

    chat = live_server.chat(client_parameters={"debug": True})
    open_chat(page, chat["talkUrl"])
    send(page, "count my tokens please")
    wait_idle(page)
    session = live_server.http.get(f"/api/v1/public/chat-clients/{chat['accessKey']}/session")
    total = session.json()["data"]["usage"]["totalTokens"]
    assert total > 0
    wait_js(page, f"document.getElementById('cw-usage').innerText === '{total:,} tokens'")
    assert page.locator("#cw-usage").is_visible()


def test_image_attachment_is_sent_as_an_image_part(live_server: Any, page: Any) -> None:
    chat = live_server.chat(client_parameters={"inputModes": ["Image"]})
    open_chat(page, chat["talkUrl"])
    page.set_input_files(
        "#cw-file", files=[{"name": "dot.png", "mimeType": "image/png", "buffer": tiny_png()}]
    )
    page.wait_for_selector("#cw-attachment:not([hidden])")
    send(page, "What is in this picture?")
    wait_idle(page)
    image = page.locator(".cw-msg--user img")
    assert image.count() == 1
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    assert page.locator("#cw-attachment").is_hidden()
    assert bubbles(page, "assistant") == ["You said: What is in this picture?"]
    stored = live_server.public_messages(chat["accessKey"])
    parts = stored[0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url"]

    no_images = live_server.chat()
    open_chat(page, no_images["talkUrl"])
    assert page.locator("#cw-attach").count() == 0


# ---------------------------------------------------------------- refusals and failures


def test_limit_reached_is_explained_and_clearing_unblocks(
    live_server: Any, page: Any, screenshot: Any
) -> None:
    chat = live_server.chat(limiting_parameters={"maxMessages": 2})
    open_chat(page, chat["talkUrl"])
    send(page, "one exchange only")
    wait_idle(page)
    page.wait_for_selector("#cw-banner[data-kind=limit]:not([hidden])")
    assert "reached its limit" in page.locator("#cw-banner-text").inner_text()
    assert page.locator("#cw-send").is_disabled()
    screenshot(page, "10-limit-reached")

    page.click("#cw-banner-action")
    page.click("#cw-confirm-ok")
    page.wait_for_selector("#cw-banner", state="hidden")
    send(page, "again")
    wait_idle(page)
    assert bubbles(page, "assistant") == ["You said: again"]


def test_rate_limit_says_when_to_try_again(live_server: Any, page: Any) -> None:
    chat = live_server.chat(limiting_parameters={"messagesPerHour": 1})
    open_chat(page, chat["talkUrl"])
    send(page, "first")
    wait_idle(page)
    send(page, "second")
    wait_js(page, "document.getElementById('cw-banner-text').innerText.includes('try again in')")
    assert re.search(r"try again in [\d,]+ seconds", page.locator("#cw-banner-text").inner_text())
    # The refused message is given back, not lost.
    assert page.locator("#cw-input").input_value() == "second"
    assert bubbles(page, "user") == ["first"]


def test_model_failure_is_a_clear_message(live_server: Any, page: Any, screenshot: Any) -> None:
    gateway = live_server.api(
        "POST",
        "/api/v1/ai-gateways",
        {
            "name": "unreachable",
            "parameters": {
                "provider": "openai",
                "baseUrl": "http://127.0.0.1:9/v1",
                "apiKey": "sk-test",
                "model": "nothing",
                "timeoutSeconds": 2,
            },
        },
    )
    client = live_server.api(
        "POST",
        "/api/v1/web-chat-client",
        {"name": "broken", "aiGatewayId": gateway["id"], "clientParameters": {}},
    )
    opened = live_server.api(
        "POST", f"/api/v1/web-chat-client/{client['id']}/sessions", {"expires": 3600}
    )
    open_chat(page, opened["talkUrl"])
    send(page, "anyone there?")
    page.wait_for_selector("#cw-banner:not([hidden])", timeout=30_000)
    assert "couldn't answer" in page.locator("#cw-banner-text").inner_text()
    assert page.locator("#cw-send").is_visible()
    screenshot(page, "11-model-failure")

    # "Try again" re-sends the stored message with its own Idempotency-Key: never a second copy.
    for _ in range(2):
        with page.expect_response(lambda r: r.url.endswith("/prompt")) as answer:
            page.locator("#cw-banner button").first.click()
        assert answer.value.status == 502
        page.wait_for_selector("#cw-banner:not([hidden])", timeout=30_000)
    page.reload()
    page.wait_for_selector("#cw-app[data-state='ready']")
    stored = live_server.public_messages(opened["accessKey"])
    assert [m["content"] for m in stored if m["role"] == "user"] == ["anyone there?"]
    assert bubbles(page, "user") == ["anyone there?"]


def test_expired_session_shows_the_expired_screen(
    live_server: Any, page: Any, screenshot: Any
) -> None:
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    live_server.jump(3601)  # the session's hour has passed

    # An open page learns it on its next request...
    send(page, "still there?")
    page.wait_for_selector("#cw-notice[data-kind=expired]")
    assert page.locator("#cw-notice .cw-notice-title").inner_text() == (
        "This conversation has ended"
    )
    # ...and opening the link shows the server-rendered screen.
    response = page.goto(chat["talkUrl"])
    assert response.status == 401
    assert page.locator("#cw-notice[data-kind=expired] .cw-notice-title").inner_text() == (
        "This conversation has ended"
    )
    assert page.locator("#cw-expired-at").inner_text().startswith("Ended on ")
    screenshot(page, "12-expired")


@pytest.mark.parametrize("page_options", [{"locale": "pt-BR"}])
def test_unknown_key_shows_an_invalid_link_page(
    live_server: Any, page: Any, screenshot: Any
) -> None:
    response = page.goto(f"{live_server.base_url}/chat/wky_thisisnotarealkey")
    assert response.status == 404
    assert page.locator("#cw-notice[data-kind=invalid] .cw-notice-title").inner_text() == (
        "Este link não é válido"
    )
    screenshot(page, "13-invalid-link")


def test_reasoning_and_tool_calls_are_shown(live_server: Any, page: Any, screenshot: Any) -> None:
    from gateways.fake_openai import Page, text_reply, tool_call_reply

    fake = live_server.fake_openai(pages={"/facts": Page("Forty-two is the answer.")})
    fake.script.extend(
        [
            tool_call_reply([("call_1", "fetch_url", {"url": fake.url("/facts")})]),
            text_reply(
                "The **answer** is 42.",
                reasoning=["The page ", "says forty-two, ", "so I will ", "answer that."],
                delay=0.25,
            ),
        ]
    )
    gateway = live_server.api(
        "POST",
        "/api/v1/ai-gateways",
        {
            "name": "fake model",
            "parameters": {
                "provider": "openai",
                "baseUrl": fake.base_url,
                "apiKey": "sk-test",
                "model": "fake-model",
                "research": {"fetchUrl": True},
            },
        },
    )
    client = live_server.api(
        "POST",
        "/api/v1/web-chat-client",
        {
            "name": "with tools",
            "aiGatewayId": gateway["id"],
            "clientParameters": {"showToolCalls": True, "debug": True},
        },
    )
    opened = live_server.api(
        "POST", f"/api/v1/web-chat-client/{client['id']}/sessions", {"expires": 3600}
    )
    open_chat(page, opened["talkUrl"])
    send(page, "What is the answer?")

    # While it streams: the reasoning block is open above the (still empty) answer.
    page.wait_for_selector(".cw-msg--assistant .cw-reasoning[open]:not([hidden])")
    wait_js(
        page,
        "document.querySelector('.cw-reasoning-text').innerText.includes('forty-two')",
    )
    screenshot(page, "14-reasoning-streaming")
    wait_idle(page)

    reasoning = page.locator(".cw-msg--assistant .cw-reasoning")
    assert reasoning.is_visible()
    assert not reasoning.evaluate("el => el.open")  # collapsed once the answer is there
    assert reasoning.locator(".cw-reasoning-text").text_content() == (
        "The page says forty-two, so I will answer that."
    )
    answer = page.locator(".cw-msg--assistant .cw-bubble")
    assert answer.inner_text() == "The answer is 42."
    assert answer.locator("strong").inner_text() == "answer"
    tool = page.locator(".cw-msg--assistant .cw-tool")
    assert tool.count() == 1
    assert "fetch_url" in tool.locator("summary").inner_text()
    tool.locator("summary").click()
    assert "Forty-two is the answer." in tool.locator(".cw-tool-result").inner_text()
    assert "/facts" in tool.locator(".cw-tool-args").inner_text()
    reasoning.locator("summary").click()
    screenshot(page, "15-reasoning-and-tools")


def test_deleted_session_link_becomes_invalid(live_server: Any, page: Any) -> None:
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    send(page, "soon gone")
    wait_idle(page)
    live_server.api(
        "DELETE", f"/api/v1/web-chat-client/{chat['clientId']}/sessions/{chat['sessionId']}"
    )
    response = page.goto(chat["talkUrl"])
    assert response.status == 404
    assert page.locator("#cw-notice[data-kind=invalid]").is_visible()
    assert "soon gone" not in page.content()


def test_assets_are_served_locally_and_only_from_the_static_folder(live_server: Any) -> None:
    http = live_server.http
    script = http.get("/static/talk/talk.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert http.get("/static/talk/vendor/purify.min.js").status_code == 200
    assert http.get("/static/talk/vendor/marked.min.js").status_code == 200
    for path in ("/static/talk/../talk.py", "/static/talk/%2e%2e/talk.py", "/static/talk/nope.js"):
        assert http.get(path).status_code == 404, path
    # No CDN: every script and stylesheet of the page comes from chinwag itself.
    page_html = http.get(live_server.chat()["talkUrl"]).text
    sources = re.findall(r'<(?:script|link)[^>]* (?:src|href)="([^"]+)"', page_html)
    assert len(sources) >= 4, sources
    assert all(s.startswith(("../static/talk/", "data:")) for s in sources), sources
