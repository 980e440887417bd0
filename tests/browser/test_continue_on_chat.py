"""One conversation across the web page, Telegram and WhatsApp, end to end.

Chromium shows the talk page of a real chinwag server; the fake Bot API and Z-API run on
loopback in the server's loop. The user clicks "Continue on Telegram" (the t.me tab is caught
by Playwright, never leaving the machine), the chat sends `/start <code>` and a question (built
with python-telegram-bot's classes), and the page shows the chat's messages by itself; then the
same with WhatsApp, and `/web` from the chat points back at this page.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import trio
import trio.lowlevel
from integrations import tg
from integrations.fakes import FakeTelegram, FakeZapi, running_fakes
from integrations.harness import SECRET_HEADER
from integrations.payloads import zapi_callback
from support.server import running_server

NUMBER = "5511999990000"


class ChatServer:
    """chinwag + fake Bot API + fake Z-API in one background Trio thread."""

    def __init__(self, handle: Any, telegram: FakeTelegram, zapi: FakeZapi) -> None:
        self.base_url = handle.base_url
        self.telegram = telegram
        self.zapi = zapi
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {handle.api_key}"},
            timeout=15,
        )
        self.anonymous = httpx.Client(base_url=self.base_url, timeout=15)

    def api(self, method: str, path: str, json: Any = None) -> Any:
        response = self.http.request(method, path, json=json)
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json()["data"]

    def wait_for(self, fake: Any, method: str, count: int, timeout: float = 20) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(fake.of(method)) < count:
            assert time.monotonic() < deadline, f"{method}: {len(fake.of(method))} < {count}"
            time.sleep(0.05)
        return fake.of(method)


@pytest.fixture
def chat_server(tmp_path: Path) -> Iterator[ChatServer]:
    ready = threading.Event()
    shared: dict[str, Any] = {}

    async def main() -> None:
        try:
            async with (
                running_fakes() as (telegram, zapi),
                running_server(
                    tmp_path / "data",
                    map_size=64 << 20,
                    telegram_api_url=telegram.base_url,
                    zapi_api_url=zapi.base_url,
                ) as handle,
            ):
                shared["server"] = ChatServer(handle, telegram, zapi)
                shared["stop"] = trio.Event()
                shared["token"] = trio.lowlevel.current_trio_token()
                ready.set()
                await shared["stop"].wait()
        except BaseException as error:
            shared["error"] = error
            ready.set()
            raise

    thread = threading.Thread(target=lambda: trio.run(main), name="chat-server", daemon=True)
    thread.start()
    assert ready.wait(30), "the chinwag server did not start within 30 s"
    if "error" in shared:
        raise RuntimeError("the chinwag server failed to start") from shared["error"]
    server: ChatServer = shared["server"]
    try:
        yield server
    finally:
        server.http.close()
        server.anonymous.close()

        async def _stop() -> None:
            shared["stop"].set()

        trio.from_thread.run(_stop, trio_token=shared["token"])
        thread.join(30)


def bubbles(page: Any, role: str) -> list[str]:
    return page.locator(f"#cw-messages .cw-msg--{role} .cw-bubble").all_inner_texts()


def wait_until(page: Any, condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(100)


def click_continue(page: Any, channel: str) -> str:
    """Click "Continue on …"; returns the URL the new tab was sent to."""
    with page.context.expect_page() as opened:
        page.click(f"#cw-continue-{channel}")
    tab = opened.value
    tab.wait_for_url(lambda url: url.startswith("https://"), timeout=15_000)
    url = tab.url
    tab.close()
    return url


def test_continue_on_telegram_and_whatsapp(chat_server: ChatServer, page: Any) -> None:
    server = chat_server
    # Links never leave the machine: t.me and wa.me answer from here.
    page.context.route(
        "https://t.me/**", lambda route: route.fulfill(status=200, body="telegram stand-in")
    )
    page.context.route(
        "https://wa.me/**", lambda route: route.fulfill(status=200, body="whatsapp stand-in")
    )
    gateway = server.api("POST", "/api/v1/ai-gateways", {"name": "echo", "parameters": {}})
    client_id = server.api(
        "POST",
        "/api/v1/web-chat-client",
        {
            "name": "omni",
            "aiGatewayId": gateway["id"],
            "clientParameters": {},
            "limitingParameters": {},
        },
    )["id"]
    server.api(
        "PUT",
        f"/api/v1/web-chat-client/{client_id}/integrations",
        {
            "integrationType": "Telegram",
            "integrations": {"telegramIntegration": {"botToken": f"{tg.BOT_ID}:web-test"}},
        },
    )
    zapi_url = server.api(
        "PUT",
        f"/api/v1/web-chat-client/{client_id}/integrations",
        {
            "integrationType": "Zapi",
            "integrations": {
                "zapiIntegration": {
                    "instanceId": "I1",
                    "instanceToken": "T1",
                    "clientToken": "C1",
                    "whatsappNumber": NUMBER,
                }
            },
        },
    )["webhookUrl"]
    zapi_path = urlsplit(zapi_url).path
    secret = server.telegram.of("setWebhook")[-1].body["secret_token"]
    opened = server.api("POST", f"/api/v1/web-chat-client/{client_id}/sessions", {})

    page.goto(opened["talkUrl"])
    page.wait_for_selector("#cw-app[data-state=ready]")
    assert page.inner_text("#cw-continue-telegram") == "Continue on Telegram"
    assert page.inner_text("#cw-continue-whatsapp") == "Continue on WhatsApp"
    page.fill("#cw-input", "hello from the web")
    page.keyboard.press("Enter")
    wait_until(page, lambda: bubbles(page, "assistant") == ["You said: hello from the web"])

    # Telegram: the link opens the bot with a fresh code; the chat sends it, then a question.
    url = click_continue(page, "telegram")
    assert url.startswith(f"https://t.me/{tg.BOT_USERNAME}?start=cw-")
    code = parse_qs(urlsplit(url).query)["start"][0]
    chat = tg.private()

    def telegram(update_id: int, text: str) -> None:
        body = tg.update(update_id, tg.message(update_id, chat, text))
        response = server.anonymous.post(
            f"/api/v1/webhooks/telegram/{client_id}", json=body, headers={SECRET_HEADER: secret}
        )
        assert response.status_code == 200

    telegram(1, f"/start {code}")
    telegram(2, "hello from telegram")
    sent = server.wait_for(server.telegram, "sendMessage", 2)
    assert [c.body["text"] for c in sent] == [
        "Done: this chat now continues your conversation from the web page.",
        "You said: hello from telegram",
    ]
    # The page shows the chat's messages without a reload.
    wait_until(page, lambda: "hello from telegram" in bubbles(page, "user"))
    wait_until(page, lambda: "You said: hello from telegram" in bubbles(page, "assistant"))

    # WhatsApp: same session, the code inside the prefilled text.
    url = click_continue(page, "whatsapp")
    assert url.startswith(f"https://wa.me/{NUMBER}?text=cw-")
    wa_code = parse_qs(urlsplit(url).query)["text"][0]
    phone = "5511988887777"
    for message_id, text in (("W1", wa_code), ("W2", "hello from whatsapp")):
        posted = server.anonymous.post(zapi_path, json=zapi_callback(message_id, phone, text))
        assert posted.status_code == 200
    server.wait_for(server.zapi, "send-text", 2)
    wait_until(page, lambda: "You said: hello from whatsapp" in bubbles(page, "assistant"))
    assert bubbles(page, "user") == [
        "hello from the web",
        "hello from telegram",
        "hello from whatsapp",
    ]

    # The web keeps talking in the same conversation; chats only get answers to their own.
    page.fill("#cw-input", "back on the web")
    page.keyboard.press("Enter")
    wait_until(page, lambda: "You said: back on the web" in bubbles(page, "assistant"))
    assert len(server.telegram.of("sendMessage")) == 2
    assert len(server.zapi.of("send-text")) == 2

    # /web from the chat answers with this conversation's talk page.
    telegram(3, "/web")
    answer = server.wait_for(server.telegram, "sendMessage", 3)[-1].body["text"]
    talk_url = answer.rsplit(" ", 1)[1]
    assert talk_url.startswith(f"{server.base_url}/chat/")
    page.goto(talk_url)
    page.wait_for_selector("#cw-app[data-state=ready]")
    assert bubbles(page, "user") == [
        "hello from the web",
        "hello from telegram",
        "hello from whatsapp",
        "back on the web",
    ]
