"""Turns through a real OpenAI-compatible (fake) server: prompt assembly, context, tools, errors."""

from __future__ import annotations

import pytest
import trio

from chinwag import Chinwag, open_runtime
from chinwag.config import Settings
from chinwag.errors import ModelFailed
from tests.gateways.fake_openai import (
    Page,
    error_reply,
    start_fake_openai,
    text_reply,
    tool_call_reply,
)


@pytest.fixture
async def setup(tmp_path, nursery):
    fake = await start_fake_openai(nursery)
    settings = Settings(data_dir=str(tmp_path / "data"), fetch_allow_private=True)
    async with open_runtime(settings) as cw:
        yield cw, fake


LONG = 90 * 24 * 3600  # virtual time may jump to far timers while the fake server answers


async def openai_client(cw: Chinwag, fake, **research) -> str:
    gateway = await cw.create_gateway(
        "fake",
        {
            "provider": "openai",
            "baseUrl": fake.base_url,
            "model": "m",
            "instructions": "You are helpful.",
            "research": research,
        },
    )
    client = await cw.create_client({"name": "c", "aiGatewayId": gateway.id})
    return client.id


async def test_system_context_order_and_fresh_context_location_per_turn(mock_clock, setup):
    cw, fake = setup
    versions = iter(["stock: 3 units", "stock: 0 units"])
    fake.pages["/context.txt"] = lambda: Page(next(versions))
    client_id = await openai_client(cw, fake)
    opened = await cw.open_session(
        client_id,
        expires=LONG,
        extra_context="The user is Eduardo.",
        context_location=fake.url("/context.txt"),
        metadata={"secret": "never-for-the-model"},
    )
    await cw.prompt(opened.session.id, "first", instructions="Answer briefly.")
    await cw.prompt(opened.session.id, "second")
    first, second = (r.body["messages"] for r in fake.requests)
    assert first[0] == {
        "role": "system",
        "content": "You are helpful.\n\nThe user is Eduardo.\n\nstock: 3 units\n\nAnswer briefly.",
    }
    assert "stock: 0 units" in second[0]["content"]
    assert second[1:] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "You said: first"},
        {"role": "user", "content": "second"},
    ]
    assert all("never-for-the-model" not in str(r.body) for r in fake.requests)


async def test_failed_context_fetch_does_not_fail_the_turn(mock_clock, setup):
    cw, fake = setup
    client_id = await openai_client(cw, fake)
    opened = await cw.open_session(client_id, expires=LONG, context_location=fake.url("/missing"))
    result = await cw.prompt(opened.session.id, "hello")
    assert result.completion_text == "You said: hello"


async def test_reasoning_and_tool_calls_are_stored_with_the_turn(mock_clock, setup):
    cw, fake = setup
    fake.pages["/doc"] = Page("The answer is 42.")
    fake.script.append(tool_call_reply([("call_1", "fetch_url", {"url": fake.url("/doc")})]))
    fake.script.append(text_reply("It is 42.", reasoning=["look it up"], usage=(30, 5)))
    client_id = await openai_client(cw, fake, fetchUrl=True)
    opened = await cw.open_session(client_id, expires=LONG)
    result = await cw.prompt(opened.session.id, "what is the answer?")
    assert result.completion_text == "It is 42."
    assert result.reasoning == "look it up"
    [call] = result.tool_calls
    assert call.name == "fetch_url" and "42" in (call.result or "")
    stored = cw.messages(opened.session.id)[-1]
    assert stored.tool_calls[0].result == call.result
    assert stored.reasoning == "look it up"
    assert stored.usage is not None and stored.usage.input_tokens >= 30


async def test_model_failure_keeps_the_user_message_and_stores_an_error_marker(mock_clock, setup):
    cw, fake = setup
    fake.default = lambda body: error_reply(500, "upstream down")
    client_id = await openai_client(cw, fake)
    opened = await cw.open_session(client_id, expires=LONG)
    with pytest.raises(ModelFailed, match="500"):
        await cw.prompt(opened.session.id, "are you up?")
    user, marker = cw.messages(opened.session.id)
    assert (user.role, user.content) == ("user", "are you up?")
    assert (marker.role, marker.status) == ("assistant", "error")
    assert "500" in (marker.error or "")
    fake.default = None
    fake.script.append(text_reply("Back again."))
    assert (await cw.prompt(opened.session.id, "now?")).completion_text == "Back again."
    # The empty error marker is not sent to the model as an assistant turn.
    assert fake.requests[-1].body["messages"][1:] == [
        {"role": "user", "content": "are you up?"},
        {"role": "user", "content": "now?"},
    ]


async def test_stop_closes_the_upstream_request(setup):
    cw, fake = setup
    fake.script.append(text_reply("a b c d e f g h i j", delay=0.2))
    client_id = await openai_client(cw, fake)
    opened = await cw.open_session(client_id, expires=LONG)
    async with trio.open_nursery() as nursery:

        async def stop_soon() -> None:
            await trio.sleep(0.5)
            await cw.stop(opened.session.id)

        nursery.start_soon(stop_soon)
        result = await cw.prompt(opened.session.id, "go")
    assert result.status == "stopped"
    with trio.fail_after(5):
        await fake.disconnected.wait()
    assert cw.messages(opened.session.id)[-1].status == "stopped"
