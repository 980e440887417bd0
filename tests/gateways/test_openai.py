"""OpenAIAssistant against the fake OpenAI-compatible server, over real HTTP and SSE."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
import trio

from chinwag.errors import ModelFailed, ModelTimeout
from chinwag.gateways.base import ContentDelta, ReasoningDelta, Turn
from chinwag.records import Research

from .fake_openai import (
    Page,
    Reply,
    chunk,
    error_reply,
    start_fake_openai,
    text_reply,
    tool_call_reply,
)
from .helpers import (
    assistant_for,
    collect,
    content_of,
    reasoning_of,
    tools_of,
    usage_of,
    user_turn,
)


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


async def test_plain_answer_and_request_shape(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.script.append(text_reply("Hello there, friend", usage=(12, 5)))
    assistant = assistant_for(
        fake.base_url,
        http,
        api_key="sk-test",
        model="gpt-test",
        instructions="Be brief.",
        temperature=0.3,
        max_completion_tokens=200,
        reasoning_effort="low",
    )
    turn = user_turn(
        "hi",
        history=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
        context=["Extra context.", "", "Fetched page text."],
    )
    events = await collect(assistant, turn)

    assert content_of(events) == "Hello there, friend"
    assert usage_of(events).usage.total_tokens == 17
    assert not usage_of(events).estimated
    [request] = fake.requests
    assert request.headers["authorization"] == "Bearer sk-test"
    body = request.body
    assert body["model"] == "gpt-test"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.3
    assert body["max_completion_tokens"] == 200
    assert body["reasoning_effort"] == "low"
    assert "tools" not in body
    assert body["messages"] == [
        {"role": "system", "content": "Be brief.\n\nExtra context.\n\nFetched page text."},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "hi"},
    ]


async def test_optional_fields_left_out(nursery, http):
    fake = await start_fake_openai(nursery)
    events = await collect(assistant_for(fake.base_url, http), user_turn("plain"))
    assert content_of(events) == "You said: plain"
    body = fake.requests[0].body
    assert "authorization" not in fake.requests[0].headers
    for key in ("model", "temperature", "max_completion_tokens", "reasoning_effort"):
        assert key not in body
    assert body["messages"] == [{"role": "user", "content": "plain"}]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_deltas(nursery, http, field):
    fake = await start_fake_openai(nursery)
    fake.script.append(text_reply("42", reasoning=["Let me ", "think."], reasoning_field=field))
    events = await collect(assistant_for(fake.base_url, http), user_turn("q"))
    assert reasoning_of(events) == "Let me think."
    assert content_of(events) == "42"
    first_content = next(i for i, e in enumerate(events) if isinstance(e, ContentDelta))
    assert all(isinstance(e, ReasoningDelta) for e in events[:first_content])


async def test_think_tags_split_across_chunks(nursery, http):
    fake = await start_fake_openai(nursery)
    pieces = ["<th", "ink>Weighing ", "options<", "/thi", "nk>", "The answer", " is 4 < 5."]
    fake.script.append(text_reply("", pieces=pieces))
    events = await collect(assistant_for(fake.base_url, http), user_turn("q"))
    assert reasoning_of(events) == "Weighing options"
    assert content_of(events) == "The answer is 4 < 5."
    assert "<" not in reasoning_of(events)


async def test_usage_estimated_when_server_reports_none(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.script.append(text_reply("twelve chars", usage=False))
    events = await collect(assistant_for(fake.base_url, http), user_turn("x" * 40))
    report = usage_of(events)
    assert report.estimated
    assert report.usage.output_tokens == 3  # 12 characters
    assert report.usage.input_tokens >= 10  # 40 characters + message overhead
    assert report.usage.total_tokens == report.usage.input_tokens + report.usage.output_tokens


async def test_tool_calls_run_and_loop_back(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.pages["/doc"] = Page(
        "<html><title>Doc</title><p>The secret is 7.</p></html>", content_type="text/html"
    )
    fake.search_results = [{"title": "Result", "url": "https://example.org/r", "content": "snip"}]
    fake.script += [
        tool_call_reply(
            [
                ("call_a", "fetch_url", {"url": fake.url("/doc")}),
                ("call_b", "web_search", {"query": "secret"}),
            ]
        ),
        text_reply("It is 7."),
    ]
    research = Research(fetch_url=True, web_search_url=fake.url("/search"))
    assistant = assistant_for(fake.base_url, http, research=research, allow_private=True)
    events = await collect(assistant, user_turn("what is the secret?"))

    assert content_of(events) == "It is 7."
    tool_events = tools_of(events)
    assert [(t.id, t.name, t.result is None) for t in tool_events] == [
        ("call_a", "fetch_url", True),
        ("call_a", "fetch_url", False),
        ("call_b", "web_search", True),
        ("call_b", "web_search", False),
    ]
    assert json.loads(tool_events[0].arguments) == {"url": fake.url("/doc")}
    assert "The secret is 7." in tool_events[1].result
    assert "1. Result\nhttps://example.org/r\nsnip" in tool_events[3].result
    assert fake.page_requests[-1].query == {"q": "secret", "format": "json"}

    first, second = (r.body for r in fake.requests)
    assert [t["function"]["name"] for t in first["tools"]] == ["fetch_url", "web_search"]
    assistant_msg, fetch_result, search_result = second["messages"][-3:]
    assert assistant_msg["role"] == "assistant"
    assert [c["id"] for c in assistant_msg["tool_calls"]] == ["call_a", "call_b"]
    assert fetch_result["role"] == "tool" and fetch_result["tool_call_id"] == "call_a"
    assert "The secret is 7." in fetch_result["content"]
    assert search_result["tool_call_id"] == "call_b"
    # Usage adds up over both calls (11+3 for the tool call, 7+3 for the answer).
    assert usage_of(events).usage.total_tokens == 24


async def test_tool_steps_are_bounded_then_answered_without_tools(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.responder = lambda body: (
        tool_call_reply([("c", "fetch_url", {"url": "http://127.0.0.1:1/x"})])
        if "tools" in body
        else text_reply("Giving up on tools.")
    )
    assistant = assistant_for(
        fake.base_url, http, research=Research(fetch_url=True), max_tool_steps=2
    )
    events = await collect(assistant, user_turn("loop forever"))
    assert content_of(events) == "Giving up on tools."
    assert ["tools" in r.body for r in fake.requests] == [True, True, False]
    results = [t.result for t in tools_of(events) if t.result is not None]
    # Loopback is refused for fetch_url when private addresses are not allowed.
    assert len(results) == 2 and all("the address is not allowed" in r for r in results)


async def test_bad_tool_arguments_are_reported_to_the_model(nursery, http):
    fake = await start_fake_openai(nursery)
    broken = tool_call_reply([("c1", "fetch_url", {})])
    broken.chunks[2] = chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{oops"}}]})
    fake.script += [broken, text_reply("ok")]
    assistant = assistant_for(fake.base_url, http, research=Research(fetch_url=True))
    events = await collect(assistant, user_turn("go"))
    assert tools_of(events)[-1].result.startswith("error: the arguments of fetch_url")
    assert fake.requests[1].body["messages"][-1]["content"].startswith("error:")


async def test_429_with_retry_after_then_success(nursery, http, autojump_clock):
    fake = await start_fake_openai(nursery)
    fake.script += [error_reply(429, "slow down", retry_after="7"), text_reply("done")]
    started = trio.current_time()
    events = await collect(assistant_for(fake.base_url, http), user_turn("q"))
    assert content_of(events) == "done"
    assert len(fake.requests) == 2
    assert 7 <= trio.current_time() - started < 7.5


async def test_retry_after_is_capped(nursery, http, autojump_clock):
    fake = await start_fake_openai(nursery)
    fake.script += [error_reply(503, "maintenance", retry_after="3600"), text_reply("back")]
    started = trio.current_time()
    events = await collect(assistant_for(fake.base_url, http), user_turn("q"))
    assert content_of(events) == "back"
    assert 20 <= trio.current_time() - started < 21


async def test_500_then_success_with_backoff(nursery, http, autojump_clock):
    fake = await start_fake_openai(nursery)
    fake.script += [error_reply(500, "boom"), text_reply("recovered")]
    started = trio.current_time()
    events = await collect(assistant_for(fake.base_url, http), user_turn("q"))
    assert content_of(events) == "recovered"
    assert 0.25 <= trio.current_time() - started <= 0.5  # first backoff step: 0.5 s, jittered


async def test_500_forever_fails_after_three_attempts(nursery, http, autojump_clock):
    fake = await start_fake_openai(nursery)
    fake.default = lambda body: error_reply(500, "the GPU caught fire")
    with pytest.raises(ModelFailed) as failure:
        await collect(assistant_for(fake.base_url, http), user_turn("q"))
    assert len(fake.requests) == 3
    assert failure.value.status == 502
    assert "HTTP 500" in failure.value.message
    assert "the GPU caught fire" in failure.value.message


async def test_client_error_is_not_retried(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.script.append(error_reply(400, "model 'nope' does not exist"))
    with pytest.raises(ModelFailed, match="HTTP 400: model 'nope' does not exist"):
        await collect(assistant_for(fake.base_url, http), user_turn("q"))
    assert len(fake.requests) == 1


async def test_stream_cut_midway_fails_without_retry(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.script.append(text_reply("one two three four five", cut_after=3))
    received: list[ContentDelta] = []
    with pytest.raises(ModelFailed, match=r"broke off|before the reply was complete"):
        async for event in assistant_for(fake.base_url, http).stream(user_turn("q")):
            received.append(event)
    assert content_of(received) == "one two"
    assert len(fake.requests) == 1


async def test_stream_without_done_or_finish_reason_fails(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.script.append(Reply(chunks=[chunk({"content": "partial"})], done=False))
    with pytest.raises(ModelFailed, match="before the reply was complete"):
        await collect(assistant_for(fake.base_url, http), user_turn("q"))


async def test_error_chunk_mid_stream(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.script.append(
        Reply(chunks=[chunk({"content": "a"}), {"error": {"message": "overloaded"}}])
    )
    with pytest.raises(ModelFailed, match="overloaded"):
        await collect(assistant_for(fake.base_url, http), user_turn("q"))


async def test_silent_server_times_out(nursery, http, autojump_clock):
    fake = await start_fake_openai(nursery)
    fake.script.append(text_reply("late", first_delay=100))
    started = trio.current_time()
    with pytest.raises(ModelTimeout) as failure:
        await collect(assistant_for(fake.base_url, http, timeout_seconds=30), user_turn("q"))
    assert failure.value.status == 504
    assert "30 seconds" in failure.value.message
    assert 30 <= trio.current_time() - started < 31


async def test_unreachable_server_fails_after_retries(http, autojump_clock):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assistant = assistant_for(f"http://127.0.0.1:{port}/v1", http)
    with pytest.raises(ModelFailed, match="cannot connect to the model server"):
        await collect(assistant, user_turn("q"))


async def test_cancelling_closes_the_upstream_stream(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.script.append(text_reply(" ".join(["word"] * 200), delay=0.02))
    seen: list[ContentDelta] = []
    with trio.move_on_after(10) as timeout_scope, trio.CancelScope() as scope:
        async for event in assistant_for(fake.base_url, http).stream(user_turn("q")):
            seen.append(event)
            if isinstance(event, ContentDelta):
                scope.cancel()
    assert not timeout_scope.cancelled_caught
    assert len(seen) == 1
    with trio.fail_after(5):
        await fake.disconnected.wait()
    assert fake.completed_streams == 0


async def test_long_history_is_trimmed_to_the_context_window(nursery, http):
    fake = await start_fake_openai(nursery)
    history = []
    for index in range(20):
        history.append({"role": "user", "content": f"question {index} " + "x" * 400})
        history.append({"role": "assistant", "content": f"answer {index} " + "y" * 400})
    assistant = assistant_for(
        fake.base_url,
        http,
        instructions="System rules.",
        context_window_tokens=1000,
        max_completion_tokens=200,
    )
    await collect(assistant, Turn(messages=[*history, {"role": "user", "content": "last"}]))
    sent = fake.requests[0].body["messages"]
    assert sent[0] == {"role": "system", "content": "System rules."}
    assert sent[-1] == {"role": "user", "content": "last"}
    assert 2 < len(sent) < len(history)
    assert sent[-2]["content"].startswith("answer 19")
    assert sum(len(m["content"]) for m in sent) / 4 < 800


async def test_closing_the_stream_early_closes_the_upstream_at_once(nursery, http):
    """A consumer that stops reading (aclose, as `contextlib.aclosing` does) must not leave
    the model generating until garbage collection."""
    fake = await start_fake_openai(nursery)
    fake.script.append(text_reply(" ".join(["word"] * 200), delay=0.02))
    events = assistant_for(fake.base_url, http).stream(user_turn("q"))
    first = await events.__anext__()
    while not isinstance(first, ContentDelta):
        first = await events.__anext__()
    await events.aclose()
    with trio.fail_after(1):
        await fake.disconnected.wait()
    assert fake.completed_streams == 0


async def test_malformed_chunks_fail_clearly(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.script += [Reply(chunks=[{"choices": "oops"}]), Reply(chunks=["{not json"])]
    with pytest.raises(ModelFailed, match="unexpected shape"):
        await collect(assistant_for(fake.base_url, http), user_turn("q"))
    with pytest.raises(ModelFailed, match="not JSON"):
        await collect(assistant_for(fake.base_url, http), user_turn("q"))


async def test_non_stream_answer_fails_clearly(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.script.append(Reply(chunks=[], content_type="application/json"))
    with pytest.raises(ModelFailed, match="did not answer with a stream"):
        await collect(assistant_for(fake.base_url, http), user_turn("q"))
