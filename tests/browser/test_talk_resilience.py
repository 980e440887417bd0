"""The talk page keeps what matters in real Chromium: feedback on replies, replies that continue
after a reload or a lost connection, messages typed offline, drafts (see conftest.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.browser

WORDS = [f"w{n:02d}" for n in range(30)]
FULL = " ".join(WORDS)


def open_chat(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#cw-app[data-state=ready]")


def send(page: Any, text: str) -> None:
    page.fill("#cw-input", text)
    page.keyboard.press("Enter")


def wait_js(page: Any, expression: str, timeout: float = 15.0) -> None:
    """Poll a JS expression until truthy (page.wait_for_function needs eval, which CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for: {expression}"
        page.wait_for_timeout(40)


def wait_idle(page: Any) -> None:
    wait_js(
        page,
        "() => document.getElementById('cw-app').dataset.turn === 'idle'"
        " && !document.querySelector('.cw-msg--assistant:not([data-id])')",
        timeout=30,
    )


ASSISTANT_TEXT = (
    "() => [...document.querySelectorAll('.cw-msg--assistant .cw-bubble')]"
    ".map(b => b.innerText.trim())"
)


def slow_chat(live_server: Any, delay: float = 0.12) -> dict[str, Any]:
    """A chat whose model (the fake OpenAI server) writes FULL one word every `delay` s."""
    from gateways.fake_openai import text_reply

    fake = live_server.fake_openai()
    fake.default = lambda body: text_reply(FULL, delay=delay)
    gateway = live_server.api(
        "POST",
        "/api/v1/ai-gateways",
        {
            "name": "slow",
            "parameters": {
                "provider": "openai",
                "baseUrl": fake.base_url,
                "model": "m",
                "apiKey": "sk-test",
            },
        },
    )
    client = live_server.api(
        "POST",
        "/api/v1/web-chat-client",
        {"name": "slow", "aiGatewayId": gateway["id"], "clientParameters": {}},
    )
    opened = live_server.api(
        "POST", f"/api/v1/web-chat-client/{client['id']}/sessions", {"expires": 3600}
    )
    return {**opened, "clientId": client["id"]}


def watch_assistant_text(page: Any) -> None:
    """Record every text the streaming bubble shows (a MutationObserver in the page)."""
    page.evaluate(
        """() => {
        window.__seen = [];
        const record = () => {
          const bubble = document.querySelector('.cw-msg--assistant:not([data-id]) .cw-bubble');
          // The typing indicator ("Thinking…") is not reply text.
          if (bubble && !bubble.querySelector('.cw-typing')) {
            window.__seen.push(bubble.innerText.trim());
          }
        };
        new MutationObserver(record).observe(document.getElementById('cw-messages'),
          { childList: true, subtree: true, characterData: true });
      }"""
    )


def assert_only_prefixes(seen: list[str]) -> None:
    """Every text shown while streaming is a beginning of the reply: nothing twice, no hole."""
    for text in seen:
        assert FULL.startswith(text), text


# ---------------------------------------------------------------- feedback


def test_thumbs_and_comment_are_saved_and_shown_after_reload(
    live_server: Any, page: Any, screenshot: Any
) -> None:
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    send(page, "rate me")
    wait_idle(page)
    up = page.locator(".cw-msg--assistant .cw-feedback-up")
    down = page.locator(".cw-msg--assistant .cw-feedback-down")
    assert up.get_attribute("aria-label") == "Good answer"
    assert down.get_attribute("aria-label") == "Bad answer"
    assert up.get_attribute("aria-pressed") == "false"
    assert page.locator(".cw-feedback-form").is_hidden()

    down.click()
    wait_js(page, "() => document.querySelector('.cw-feedback-down').ariaPressed === 'true'")
    assert up.get_attribute("aria-pressed") == "false"
    page.get_by_label("Tell us more (optional)").fill("too short")
    page.click(".cw-feedback-send")
    page.wait_for_selector("#cw-toast:not([hidden])")
    assert page.locator("#cw-toast").inner_text() == "Thanks for your feedback."
    screenshot(page, "page-b-feedback")

    listing = live_server.api("GET", f"/api/v1/web-chat-client/{chat['clientId']}/feedback")
    message_id = page.locator(".cw-msg--assistant").get_attribute("data-id")
    assert [(i["messageId"], i["rating"], i["comment"]) for i in listing["items"]] == [
        (message_id, "down", "too short")
    ]

    page.reload()
    page.wait_for_selector("#cw-app[data-state=ready]")
    assert page.locator(".cw-feedback-down").get_attribute("aria-pressed") == "true"
    page.emulate_media(color_scheme="dark")
    screenshot(page, "page-b-feedback-dark")
    page.click(".cw-feedback-down")  # pressing it again removes the rating
    wait_js(page, "() => document.querySelector('.cw-feedback-down').ariaPressed === 'false'")
    listing = live_server.api("GET", f"/api/v1/web-chat-client/{chat['clientId']}/feedback")
    assert listing["items"] == []


# ---------------------------------------------------------------- resumable replies


def test_reload_mid_reply_continues_it_with_nothing_lost_or_twice(
    live_server: Any, page: Any
) -> None:
    chat = slow_chat(live_server)
    open_chat(page, chat["talkUrl"])
    send(page, "tell me")
    wait_js(page, f"() => ({ASSISTANT_TEXT})().join(' ').includes('w04')")
    page.reload()
    page.wait_for_selector("#cw-app[data-state=ready]")
    watch_assistant_text(page)
    # The reply goes on in the reloaded page, from its start, while the model still writes it.
    wait_js(page, "() => window.__seen.length > 0")
    first = page.evaluate("() => window.__seen[0]")
    assert first.startswith("w00") and "w29" not in first
    wait_idle(page)
    assert_only_prefixes(page.evaluate("() => window.__seen"))
    assert page.evaluate(ASSISTANT_TEXT) == [FULL]
    stored = live_server.public_messages(chat["accessKey"])
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["content"] == FULL
    assert page.locator(".cw-msg--user").count() == 1


def test_cut_reply_stream_resumes_after_the_last_event_seen(live_server: Any, page: Any) -> None:
    """The prompt's SSE response is cut after a few events (the page gets a truncated body, as
    when a connection drops); the page attaches to GET …/stream with Last-Event-ID and shows the
    rest, nothing twice."""
    chat = slow_chat(live_server, delay=0.03)
    open_chat(page, chat["talkUrl"])
    cut: dict[str, Any] = {}

    def truncate(route: Any) -> None:
        response = route.fetch()
        blocks = response.text().split("\n\n")
        kept = [b for b in blocks if "event: content" in b][:6]
        cut["last_id"] = kept[-1].split("\n")[0].removeprefix("id: ")
        route.fulfill(response=response, body="\n\n".join(kept) + "\n\n")

    page.route("**/api/v1/public/chat-clients/*/prompt", truncate)
    resumes: list[dict[str, str]] = []
    page.on(
        "request",
        lambda request: (
            resumes.append(request.headers) if request.url.endswith("/stream") else None
        ),
    )
    watch_assistant_text(page)
    send(page, "go on")
    wait_idle(page)
    assert [h.get("last-event-id") for h in resumes] == [cut["last_id"]]
    seen = page.evaluate("() => window.__seen")
    assert_only_prefixes(seen)
    assert FULL in seen  # the streamed view itself reached the whole reply
    assert page.evaluate(ASSISTANT_TEXT) == [FULL]
    stored = live_server.public_messages(chat["accessKey"])
    assert [(m["role"], m["content"]) for m in stored] == [("user", "go on"), ("assistant", FULL)]


def test_offline_mid_reply_keeps_streaming_or_recovers_once(live_server: Any, page: Any) -> None:
    chat = slow_chat(live_server, delay=0.1)
    open_chat(page, chat["talkUrl"])
    watch_assistant_text(page)
    send(page, "go on")
    wait_js(page, f"() => ({ASSISTANT_TEXT})().join(' ').includes('w03')")
    page.context.set_offline(True)
    page.wait_for_selector("#cw-banner[data-kind=connection]:not([hidden])")
    page.wait_for_timeout(700)  # the model keeps writing meanwhile
    page.context.set_offline(False)
    wait_idle(page)
    assert_only_prefixes(page.evaluate("() => window.__seen"))
    assert page.evaluate(ASSISTANT_TEXT) == [FULL]


# ---------------------------------------------------------------- nothing typed is lost


def test_message_typed_offline_is_pending_then_sent_once(
    live_server: Any, page: Any, screenshot: Any
) -> None:
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    keys: list[str] = []
    page.on(
        "request",
        lambda request: (
            keys.append(request.headers.get("idempotency-key", ""))
            if request.url.endswith("/prompt")
            else None
        ),
    )
    page.context.set_offline(True)
    send(page, "sent while offline")
    page.wait_for_selector(".cw-msg--user.cw-msg--pending")
    assert page.locator(".cw-msg--pending .cw-pending-note").inner_text() == "Not sent yet"
    assert page.locator(".cw-msg--pending .cw-bubble").inner_text() == "sent while offline"
    assert page.input_value("#cw-input") == ""
    screenshot(page, "page-b-pending-offline")
    page.wait_for_timeout(500)
    assert live_server.public_messages(chat["accessKey"]) == []
    page.context.set_offline(False)
    wait_js(
        page,
        "() => document.querySelectorAll('.cw-msg--assistant[data-id]').length === 1"
        " && !document.querySelector('.cw-msg--pending')",
        timeout=30,
    )
    stored = live_server.public_messages(chat["accessKey"])
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "sent while offline"),
        ("assistant", "You said: sent while offline"),
    ]
    assert stored[0]["idempotencyKey"] and set(keys) == {stored[0]["idempotencyKey"]}
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.includes('pending'))") == []


def test_pending_message_survives_a_reload_and_is_sent_with_its_key(
    live_server: Any, page: Any
) -> None:
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    sent: list[str] = []  # the Idempotency-Key of every attempt, failed ones included
    page.on(
        "request",
        lambda request: (
            sent.append(request.headers.get("idempotency-key", ""))
            if request.url.endswith("/prompt")
            else None
        ),
    )
    failing = "**/api/v1/public/chat-clients/*/prompt"
    page.route(failing, lambda route: route.abort("internetdisconnected"))
    send(page, "keep me")
    page.wait_for_selector(".cw-msg--user.cw-msg--pending")
    key = page.evaluate(
        "() => JSON.parse(localStorage.getItem(Object.keys(localStorage)"
        ".find(k => k.startsWith('chinwag:pending:'))))[0].key"
    )
    page.reload()
    page.wait_for_selector("#cw-app[data-state=ready]")
    page.wait_for_selector(".cw-msg--user.cw-msg--pending")  # the reload did not drop it
    assert page.locator(".cw-msg--user .cw-bubble").all_inner_texts() == ["keep me"]
    assert live_server.public_messages(chat["accessKey"]) == []
    page.unroute(failing)
    wait_js(
        page,
        "() => document.querySelectorAll('.cw-msg--assistant[data-id]').length === 1"
        " && !document.querySelector('.cw-msg--pending')",
        timeout=30,
    )
    stored = live_server.public_messages(chat["accessKey"])
    assert [m["content"] for m in stored] == ["keep me", "You said: keep me"]
    assert stored[0]["idempotencyKey"] == key
    assert len(sent) >= 2 and set(sent) == {key}  # tried before and after the reload, one key


def test_draft_survives_a_reload(live_server: Any, page: Any) -> None:
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    page.fill("#cw-input", "half a thought")
    page.reload()
    page.wait_for_selector("#cw-app[data-state=ready]")
    assert page.input_value("#cw-input") == "half a thought"
    page.keyboard.press("Enter")
    wait_idle(page)
    page.reload()
    page.wait_for_selector("#cw-app[data-state=ready]")
    assert page.input_value("#cw-input") == ""  # sent: the draft is gone


# ---------------------------------------------------------------- paging


def test_long_conversation_loads_newest_first_and_older_on_scroll(
    live_server: Any, page: Any
) -> None:
    chat = live_server.chat()
    path = f"/api/v1/public/chat-clients/{chat['accessKey']}/prompt"
    for n in range(60):
        response = live_server.http.post(path, json={"prompt": f"message {n:02d}"})
        assert response.status_code == 200, response.text
    pages: list[str] = []
    page.on(
        "request",
        lambda request: (
            pages.append(request.url.split("?", 1)[1]) if "/messages?" in request.url else None
        ),
    )
    open_chat(page, chat["talkUrl"])
    shown_ids = (
        "() => [...document.querySelectorAll('#cw-messages .cw-msg')].map(e => e.dataset.id)"
    )
    first_page = page.evaluate(shown_ids)
    assert len(first_page) == 50
    assert page.locator(".cw-msg--user .cw-bubble").first.inner_text() == "message 35"
    assert page.locator(".cw-msg--user .cw-bubble").last.inner_text() == "message 59"
    assert page.evaluate("() => document.getElementById('cw-scroll').scrollTop") > 0

    anchor = page.locator(f".cw-msg[data-id='{first_page[0]}']")
    page.evaluate("() => { document.getElementById('cw-scroll').scrollTop = 0; }")
    wait_js(page, "() => document.querySelectorAll('#cw-messages .cw-msg').length === 100")
    # What the user was looking at stays in place (near the top of the view, where it was when
    # the user reached the top); the older messages appear above it, off screen.
    assert 0 < anchor.bounding_box()["y"] < 300
    assert page.evaluate("() => document.getElementById('cw-scroll').scrollTop") > 1000
    page.evaluate("() => { document.getElementById('cw-scroll').scrollTop = 0; }")
    wait_js(page, "() => document.querySelectorAll('#cw-messages .cw-msg').length === 120")
    page.evaluate("() => { document.getElementById('cw-scroll').scrollTop = 0; }")
    page.wait_for_timeout(300)
    everything = live_server.http.get(
        f"/api/v1/public/chat-clients/{chat['accessKey']}/messages", params={"limit": 500}
    ).json()["data"]
    assert page.evaluate(shown_ids) == [m["id"] for m in everything]  # once each, in order
    assert [p.split("&")[0] for p in pages] == ["limit=50", "limit=50", "limit=50"]
    assert [p for p in pages if "before=" in p] == [
        f"limit=50&before={everything[70]['seq']}",
        f"limit=50&before={everything[20]['seq']}",
    ]


# ---------------------------------------------------------------- accessibility of these states

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_violations(page: Any) -> list[tuple[str, list[Any]]]:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")  # page-a's dependency
    results = axe.Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    return [(v["id"], [n["target"] for n in v["nodes"]]) for v in results.response["violations"]]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_feedback_form_and_pending_message_pass_axe(
    live_server: Any, page: Any, scheme: str
) -> None:
    page.emulate_media(color_scheme=scheme)
    chat = live_server.chat()
    open_chat(page, chat["talkUrl"])
    send(page, "rate me")
    wait_idle(page)
    page.click(".cw-feedback-up")
    page.wait_for_selector(".cw-feedback-form:not([hidden])")
    assert axe_violations(page) == []
    page.context.set_offline(True)
    send(page, "offline one")
    page.wait_for_selector(".cw-msg--pending")
    assert axe_violations(page) == []
