"""The talk page for everyone: axe-core in every state, keyboard, focus, announcements, motion.

axe-core (wcag2a/aa, 2.1, 2.2 and best-practice; conftest.AXE_TAGS) must find nothing in each
state: empty, conversation, streaming, stopped, clear dialog, limit reached, model error,
expired, invalid link, dark mode, phone (the open widget is checked in test_widget.py). The
count per state is written to test-artifacts/axe-violations.json.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from test_talk_page import PHONE, bubbles, open_chat, send, wait_idle, wait_js

pytestmark = pytest.mark.browser

FIRST_BUBBLE = "(document.querySelector('.cw-msg--assistant .cw-bubble')?.innerText || '')"


def announced(page: Any) -> str:
    return page.locator("#cw-announcer").inner_text()


def test_states_of_a_conversation_have_no_axe_violations(
    live_server: Any, page: Any, axe: Any
) -> None:
    chat = live_server.chat(
        stream_delay=0.15,
        client_parameters={"suggestionButtons": [{"label": "Say hi", "prompt": "hi"}]},
    )
    open_chat(page, chat["talkUrl"])
    assert page.locator("#cw-hello-sub").inner_text() == (
        "Ask a question or pick a suggestion to get started."
    )
    axe(page, "empty")

    send(page, "Tell me about [the docs](https://example.com/docs) and `code`")
    wait_idle(page)
    # Each message says who speaks; the list itself is not a live region.
    assert page.locator("#cw-messages").get_attribute("aria-live") is None
    assert page.locator(".cw-msg--user .cw-sr-only").first.inner_text() == "You:"
    assert page.locator(".cw-msg--assistant .cw-sr-only").first.inner_text() == "Assistant:"
    wait_js(page, "document.getElementById('cw-announcer').innerText.length > 0")
    assert announced(page) == "Assistant: You said: Tell me about the docs and code"
    axe(page, "conversation")

    # Streaming: the typing indicator, then a growing reply; Stop has the focus ring's place.
    send(page, " ".join(f"word{i}" for i in range(40)))
    page.wait_for_selector("#cw-stop:not([hidden])")
    assert page.locator(".cw-typing[aria-label]").count() == 0
    wait_js(
        page,
        "(document.querySelectorAll('.cw-msg--assistant .cw-bubble')[1]?.innerText || '')"
        ".includes('word1')",
    )
    axe(page, "streaming")

    # Escape stops the reply, and the keyboard stays in the input.
    page.keyboard.press("Escape")
    wait_idle(page)
    assert page.locator(".cw-msg--assistant .cw-stopped").count() == 1
    assert page.evaluate("document.activeElement.id") == "cw-input"
    wait_js(page, "document.getElementById('cw-announcer').innerText.startsWith('Assistant (')")
    assert announced(page).startswith("Assistant (Stopped): You said: word0")
    axe(page, "stopped")

    page.click("#cw-clear")
    page.wait_for_selector("#cw-confirm[open]")
    axe(page, "clear-dialog")
    page.keyboard.press("Escape")  # closes the dialog, not anything else
    assert page.locator("#cw-confirm[open]").count() == 0
    assert page.locator("#cw-messages .cw-msg").count() == 4


def test_stop_by_click_returns_focus_to_the_input(live_server: Any, page: Any) -> None:
    chat = live_server.chat(stream_delay=0.15)
    open_chat(page, chat["talkUrl"])
    send(page, " ".join(f"word{i}" for i in range(30)))
    page.wait_for_selector("#cw-stop:not([hidden])")
    page.focus("#cw-stop")
    page.keyboard.press("Enter")
    wait_idle(page)
    assert page.evaluate("document.activeElement.id") == "cw-input"


def test_limit_reached_and_token_badge_after_clear(live_server: Any, page: Any, axe: Any) -> None:
    chat = live_server.chat(
        client_parameters={"debug": True}, limiting_parameters={"maxMessages": 2}
    )
    open_chat(page, chat["talkUrl"])
    assert page.locator("#cw-hello-sub").inner_text() == "Ask a question to get started."
    send(page, "one exchange only")
    wait_idle(page)
    page.wait_for_selector("#cw-banner[data-kind=limit]:not([hidden])")
    wait_js(page, "document.getElementById('cw-usage').innerText !== '0 tokens'")
    axe(page, "limit-reached")

    page.click("#cw-banner-action")
    page.click("#cw-confirm-ok")
    page.wait_for_selector("#cw-hello:not([hidden])")
    # The badge counts this conversation: back to zero after Clear.
    wait_js(page, "document.getElementById('cw-usage').innerText === '0 tokens'")


def test_model_error_has_no_axe_violations(live_server: Any, page: Any, axe: Any) -> None:
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
    page.wait_for_selector("#cw-banner[data-tone=error]:not([hidden])", timeout=30_000)
    wait_idle(page)
    axe(page, "model-error")


def test_expired_and_invalid_links_have_no_axe_violations(
    live_server: Any, page: Any, axe: Any
) -> None:
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    live_server.jump(3601)
    send(page, "still there?")
    page.wait_for_selector("#cw-notice[data-kind=expired]")
    assert page.locator("main").count() == 1  # the notice replaced the page
    axe(page, "expired-in-page")
    page.goto(chat["talkUrl"])
    page.wait_for_selector("#cw-expired-at")
    axe(page, "expired")
    page.goto(f"{live_server.base_url}/chat/wky_thisisnotarealkey")
    axe(page, "invalid-link")


@pytest.mark.parametrize("page_options", [{"color_scheme": "dark"}])
def test_dark_mode_links_are_readable(
    live_server: Any, page: Any, axe: Any, screenshot: Any
) -> None:
    # The default primary and a custom blue are both too dark as link colours on a dark page.
    chat = live_server.chat(client_parameters={"primaryColor": "#2563eb", "debug": True})

    def late_stylesheet(route: Any) -> None:
        # talk.js is async: make it run before the stylesheet arrives, as on a slow network.
        time.sleep(0.5)
        route.continue_()

    page.route("**/talk.css*", late_stylesheet)
    open_chat(page, chat["talkUrl"])
    axe(page, "dark-empty")
    send(page, "See [the docs](https://example.com/docs) please")
    wait_idle(page)
    link = page.locator(".cw-msg--assistant .cw-bubble a")
    assert link.get_attribute("href") == "https://example.com/docs"
    assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    ratio = page.evaluate(
        """() => {
          const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
          const lum = (c) => { const [r, g, b] = rgb(c).map(v => { v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
          const a = lum(getComputedStyle(document.querySelector('.cw-bubble a')).color);
          const b = lum(getComputedStyle(document.body).backgroundColor);
          return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        }"""
    )
    assert ratio >= 4.5
    axe(page, "dark-conversation")
    screenshot(page, "24-dark-mode-links")


@pytest.mark.parametrize("page_options", [{"viewport": PHONE, "has_touch": True}])
def test_phone_has_44px_targets_and_no_axe_violations(
    live_server: Any, page: Any, axe: Any
) -> None:
    chat = live_server.chat(
        client_parameters={"suggestionButtons": [{"label": "What can you do?", "prompt": "?"}]}
    )
    open_chat(page, chat["talkUrl"])
    axe(page, "phone-empty")
    # A table wider than the phone scrolls sideways, so it must be reachable by keyboard.
    send(page, "Here:\n\n| " + " | ".join(f"column {i}" for i in range(12)) + " |\n|" + "---|" * 12)
    wait_idle(page)
    assert page.locator(".cw-msg--assistant table").get_attribute("tabindex") == "0"
    sizes = page.evaluate(
        """() => [...document.querySelectorAll('#cw-clear, #cw-send, .cw-suggestion')]
            .map(el => { const r = el.getBoundingClientRect(); return [el.id || el.className,
            Math.round(r.width), Math.round(r.height)]; })"""
    )
    for name, width, height in sizes:
        if width or height:  # a hidden element has no box
            assert width >= 44 and height >= 44, (name, width, height)
    axe(page, "phone-conversation")


@pytest.mark.parametrize("page_options", [{"reduced_motion": "reduce"}])
def test_reduced_motion_stops_every_animation(live_server: Any, page: Any) -> None:
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    page.evaluate(
        """() => { const box = document.createElement('details');
          box.className = 'cw-reasoning is-live'; box.innerHTML = '<summary>r</summary>';
          document.getElementById('cw-messages').appendChild(box); }"""
    )
    names = page.evaluate(
        """() => [
          getComputedStyle(document.querySelector('.cw-reasoning summary'), '::after')
            .animationName,
          getComputedStyle(document.querySelector('.cw-spinner')).animationName]"""
    )
    assert names == ["none", "none"]


def test_stopped_reply_closes_its_dangling_markdown(live_server: Any, page: Any, axe: Any) -> None:
    from gateways.fake_openai import text_reply

    fake = live_server.fake_openai()
    fake.script.append(
        text_reply(
            "",
            pieces=["Open the ", "**settings", " page", " now", "."],
            reasoning=["The user wants the settings page."],
            delay=0.9,
        )
    )
    gateway = live_server.api(
        "POST",
        "/api/v1/ai-gateways",
        {
            "name": "fake",
            "parameters": {
                "provider": "openai",
                "baseUrl": fake.base_url,
                "apiKey": "sk-test",
                "model": "fake-model",
            },
        },
    )
    client = live_server.api(
        "POST", "/api/v1/web-chat-client", {"name": "md", "aiGatewayId": gateway["id"]}
    )
    opened = live_server.api(
        "POST", f"/api/v1/web-chat-client/{client['id']}/sessions", {"expires": 3600}
    )
    open_chat(page, opened["talkUrl"])
    send(page, "where?")
    wait_js(page, f"{FIRST_BUBBLE}.includes('settings')")
    # Still streaming: the open bold already shows as bold, no stray asterisks.
    assert "*" not in bubbles(page, "assistant")[0]
    page.keyboard.press("Escape")
    wait_idle(page)
    stored = live_server.public_messages(opened["accessKey"])[-1]
    assert stored["status"] == "stopped"
    assert "**settings" in stored["content"]
    shown = page.locator(".cw-msg--assistant .cw-bubble")
    assert "*" not in shown.inner_text()
    assert shown.locator("strong").inner_text().startswith("settings")
    axe(page, "stopped-with-reasoning")


def test_copy_whole_message(live_server: Any, page: Any) -> None:
    chat = live_server.chat()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_chat(page, chat["talkUrl"])
    send(page, "**bold** and\n\n```\ncode\n```")
    wait_idle(page)
    button = page.get_by_role("button", name="Copy message")
    assert button.count() == 1  # assistant messages only
    button.click()
    page.wait_for_selector("#cw-toast:not([hidden])")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == "You said: **bold** and\n\n```\ncode\n```"
