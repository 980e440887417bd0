"""The Bot API and Z-API clients against the fake servers over real HTTP."""

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
import trio
import trio.testing
from support.clock import settling_clock

from chinwag.integrations.backoff import PATIENT
from chinwag.integrations.errors import IntegrationRejected, IntegrationUnavailable
from chinwag.integrations.telegram_api import TelegramApi
from chinwag.integrations.zapi_api import ZapiApi

from .fakes import Failure, FakeTelegram, FakeZapi, running_fakes


@pytest.fixture
def clock() -> trio.testing.MockClock:
    # Jump virtual time only after real idleness, so real socket I/O completes first.
    return settling_clock(autojump_threshold=0.02)


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeZapi]]:
    async with running_fakes() as pair:
        yield pair


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_send_message_is_plain_text_to_numeric_chat(fakes, http) -> None:
    telegram, _ = fakes
    api = TelegramApi(http, telegram.base_url, "123:ABC")
    await api.send_message("4242", "a *b* _c_")
    [call] = telegram.of("sendMessage")
    assert call.path_token == "123:ABC"
    assert call.body["chat_id"] == 4242
    assert call.body["text"] == "a *b* _c_"
    assert "parse_mode" not in call.body


async def test_429_retry_after_is_honoured(fakes, http, clock) -> None:
    telegram, _ = fakes
    telegram.fail_next("sendMessage", FakeTelegram.too_many_requests(5))
    api = TelegramApi(http, telegram.base_url, "t")
    await api.send_message("1", "hello")
    [refused] = telegram.refused
    [delivered] = telegram.of("sendMessage")
    assert delivered.body["text"] == "hello"
    assert delivered.at - refused.at >= 5.0
    assert delivered.at - refused.at < 6.0


async def test_bad_token_is_rejected_without_retry(fakes, http) -> None:
    telegram, _ = fakes
    telegram.fail_next("setWebhook", FakeTelegram.unauthorized(), times=3)
    api = TelegramApi(http, telegram.base_url, "bad")
    with pytest.raises(IntegrationRejected, match="Unauthorized"):
        await api.set_webhook("https://example.test/hook", "s3cret")
    assert len(telegram.refused) == 1


async def test_telegram_server_errors_exhaust_retries(fakes, http, clock) -> None:
    telegram, _ = fakes
    failure = Failure(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    telegram.fail_next("sendMessage", failure, times=3)
    api = TelegramApi(http, telegram.base_url, "t", policy=replace(PATIENT, attempts=3))
    with pytest.raises(IntegrationUnavailable, match="Bad Gateway"):
        await api.send_message("1", "x")
    assert len(telegram.refused) == 3


async def test_zapi_send_text_with_client_token_and_typing(fakes, http) -> None:
    _, zapi = fakes
    api = ZapiApi(http, zapi.base_url, "INST", "TOK", "client-secret")
    result = await api.send_text("5511999999999", "Olá", delay_typing=3)
    assert result["messageId"]
    [call] = zapi.of("send-text")
    assert call.path_token == "INST/TOK"
    assert call.headers["client-token"] == "client-secret"
    assert call.body == {"phone": "5511999999999", "message": "Olá", "delayTyping": 3}


async def test_zapi_retries_5xx_with_backoff(fakes, http, clock) -> None:
    _, zapi = fakes
    zapi.fail_next("send-text", Failure(503, {"error": "unavailable"}), times=2)
    api = ZapiApi(http, zapi.base_url, "I", "T", "C")
    await api.send_text("1", "x")
    first, second = zapi.refused
    [delivered] = zapi.of("send-text")
    assert second.at - first.at >= 1.0  # first backoff
    assert delivered.at - second.at >= 2.0  # doubled


async def test_zapi_retries_connection_errors(http, clock) -> None:
    api = ZapiApi(http, "http://127.0.0.1:9", "I", "T", "C", policy=replace(PATIENT, attempts=2))
    start = trio.current_time()
    with pytest.raises(IntegrationUnavailable, match="connection failed"):
        await api.send_text("1", "x")
    assert trio.current_time() - start >= 1.0


async def test_zapi_client_error_is_final(fakes, http) -> None:
    _, zapi = fakes
    zapi.fail_next("send-text", Failure(400, {"error": "phone invalid"}), times=2)
    api = ZapiApi(http, zapi.base_url, "I", "T", "C")
    with pytest.raises(IntegrationRejected, match="phone invalid"):
        await api.send_text("x", "y")
    assert len(zapi.refused) == 1
