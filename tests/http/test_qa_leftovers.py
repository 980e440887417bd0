"""Defects a black-box QA pass found that were left open, each checked through the real server:
request ids a person can quote, the prompt body read no further than its cap, one `gap` per
late listener, the `/stream` route's OpenAPI, speaker headings that user text cannot forge in
the Markdown transcript, and the talk page's colour rule taken from `chinwag.rules`."""

from __future__ import annotations

import inspect
import json

import msgspec
import trio
from support.server import ServerHandle

from chinwag.http import talk

CLIENTS = "/api/v1/web-chat-client"


# ------------------------------------------------------------------ the talk page's colour rule


async def test_talk_page_uses_the_rules_colour_check(server: ServerHandle) -> None:
    """A record stored before the colour rule may hold a value the rule refuses (`#12345`, five
    hex digits, which the page's old pattern of its own let through into a <style>): the page
    applies the same rule as the API and falls back to its default theme."""
    client_id = await server.create_client(client_parameters={"primaryColor": "#0f766e"})
    refused = await server.client.put(
        f"{CLIENTS}/{client_id}", json={"clientParameters": {"primaryColor": "#12345"}}
    )
    assert refused.status_code == 400, refused.text
    session = await server.open_session(client_id)
    page = await server.anonymous.get(f"/chat/{session['accessKey']}")
    assert "--cw-primary: #0f766e" in page.text

    runtime = server.service
    client = runtime.get_client(client_id)
    params = msgspec.structs.replace(client.client_parameters, primary_color="#12345")
    await runtime.repo.commit(
        runtime.repo.put_client(msgspec.structs.replace(client, client_parameters=params))
    )
    page = await server.anonymous.get(f"/chat/{session['accessKey']}")
    assert page.status_code == 200
    assert "#12345" not in page.text
    assert "--cw-primary" not in page.text
    assert '"primaryColor":null' in page.text.replace(" ", "")
    # One rule, one place: the page has no colour pattern of its own.
    assert "re.compile" not in inspect.getsource(talk.primary_color)


# ------------------------------------------------------------------ one gap per late listener


async def test_a_far_behind_listener_gets_one_gap_then_what_is_kept(
    server: ServerHandle, nursery: trio.Nursery
) -> None:
    """A reply far larger than the reply log keeps (4 M characters) and a listener on
    `GET …/stream` that keeps pausing, so it falls behind again and again: it is told once that
    the start is gone, then follows what is kept to `done` (before: a `gap` at every fall)."""
    from gateways.fake_openai import start_fake_openai, text_reply
    from httpx_sse import aconnect_sse

    piece = "x" * 199_999 + " "
    pieces = [piece] * 120  # 24 M characters, 6x the log's bound
    fake = await start_fake_openai(nursery)
    fake.default = lambda body: text_reply("", pieces=pieces, delay=0.01)
    client_id = await server.create_client(
        provider="openai", baseUrl=fake.base_url, model="m", apiKey="sk-x"
    )
    key = (await server.open_session(client_id))["accessKey"]
    started = trio.Event()
    prompt_done = trio.Event()

    async def prompt() -> None:
        path = server.public_path(key, "prompt")
        async with aconnect_sse(server.anonymous, "POST", path, json={"prompt": "go"}) as src:
            async for event in src.aiter_sse():
                if event.event == "content":
                    started.set()
        prompt_done.set()

    nursery.start_soon(prompt)
    with trio.fail_after(30):
        await started.wait()
    kinds: list[str] = []
    contents_after_gap = 0
    async with aconnect_sse(server.anonymous, "GET", server.public_path(key, "stream")) as src:
        assert src.response.status_code == 200
        async for event in src.aiter_sse():
            kinds.append(event.event)
            if event.event == "content" and "gap" in kinds:
                contents_after_gap += 1
            if len(kinds) % 5 == 1:
                await trio.sleep(0.3)  # a slow phone: the server's buffers fill, the log moves on
    with trio.fail_after(30):
        await prompt_done.wait()
    assert kinds.count("gap") == 1, kinds.count("gap")
    assert kinds[-1] == "done"
    assert contents_after_gap > 0


# ------------------------------------------------------------------ prompt bodies and their cap

MiB = 1024 * 1024


async def _paced_upload(server: ServerHandle, path: str, body: bytes) -> tuple[int, int, bytes]:
    """Send `body` 64 KiB at a time while watching for the answer; (status, bytes sent when it
    came, its body). The server reads as the bytes arrive, so what was sent is what it read
    (plus what the kernel buffers)."""
    from support.rawhttp import RawConnection, request_head

    connection = await RawConnection.open(server.base_url)
    head = request_head(
        "POST", path, length=len(body), headers={"Content-Type": "application/json"}
    )
    answer: list = []
    sent = 0
    async with trio.open_nursery() as nursery:

        async def read() -> None:
            answer.append(await connection.response())
            answer.append(sent)

        nursery.start_soon(read)
        await connection.send(head)
        for offset in range(0, len(body), 65536):
            if answer or not await connection.send(body[offset : offset + 65536]):
                break
            sent = offset + 65536
            await trio.sleep(0.004)
    await connection.aclose()
    response, sent_when_answered = answer
    return response.status, sent_when_answered, response.body


async def test_prompt_with_an_unknown_field_is_refused_at_the_public_cap(
    server: ServerHandle,
) -> None:
    """9 MiB in an unknown field of a prompt without image parts: the 400 naming the field
    comes once a little over 1 MiB (the cap for a prompt without images) has arrived, not after
    9 MiB were read to find it. Megabytes that name no field (inside the prompt) are the 413
    for a prompt without images, at the same point."""
    client_id = await server.create_client(client_parameters={"inputModes": ["Image"]})
    key = (await server.open_session(client_id))["accessKey"]
    path = server.public_path(key, "prompt")
    body = b'{"prompt": "hello", "bogus": "' + b"a" * (9 * MiB) + b'"}'
    status, sent, answer = await _paced_upload(server, path, body)
    assert status == 400, answer
    assert json.loads(answer)["message"] == "Unknown field `bogus`."
    assert sent < 3 * MiB, f"{sent} bytes were sent before the answer"

    body = b'{"prompt": "' + b"a" * (9 * MiB) + b'", "bogus": 1}'
    status, sent, answer = await _paced_upload(server, path, body)
    message = json.loads(answer)["message"]
    assert status == 413, answer
    assert "1 MiB" in message and "image" in message
    assert sent < 3 * MiB, f"{sent} bytes were sent before the answer"
    # A small body with an unknown field is the same 400; nothing was stored.
    small = await server.anonymous.post(path, json={"prompt": "hello", "bogus": 1})
    assert small.status_code == 400 and small.json()["message"] == "Unknown field `bogus`."
    messages = await server.anonymous.get(server.public_path(key, "messages"))
    assert messages.json()["data"] == []


# ------------------------------------------------------------------ request ids a person can quote


async def test_history_error_markers_quote_the_failed_request_id(
    server: ServerHandle, nursery: trio.Nursery
) -> None:
    """A failed reply restored from `GET …/messages` (and the prompt's own JSON answer) names
    the id of the prompt request that failed: the X-Request-Id its response carried and the
    server log holds, not the id of the later history request."""
    from gateways.fake_openai import error_reply, start_fake_openai

    fake = await start_fake_openai(nursery)
    fake.script.append(error_reply(401, "Incorrect API key provided: sk-secret"))
    client_id = await server.create_client(
        provider="openai", baseUrl=fake.base_url, model="m", apiKey="sk-x"
    )
    opened = await server.open_session(client_id)
    key = opened["accessKey"]
    failed = await server.anonymous.post(
        server.public_path(key, "prompt"), json={"prompt": "hello"}, headers={"X-Request-Id": "t-1"}
    )
    assert failed.status_code == 502
    assert failed.headers["X-Request-Id"] == "t-1"
    assert failed.json()["message"].endswith("(request id t-1)")
    history = await server.anonymous.get(server.public_path(key, "messages"))
    assert history.headers["X-Request-Id"] != "t-1"
    markers = [m for m in history.json()["data"] if m["role"] == "assistant"]
    assert len(markers) == 1 and markers[0]["status"] == "error"
    assert markers[0]["error"].endswith("(request id t-1)")
    assert markers[0]["requestId"] == "t-1"
    assert "sk-secret" not in history.text
    users = [m for m in history.json()["data"] if m["role"] == "user"]
    assert "requestId" not in users[0]  # only failures carry one
    # Operators find the same id in the management views and the Markdown transcript.
    base = f"{CLIENTS}/{client_id}/sessions/{opened['sessionId']}"
    managed = (await server.client.get(f"{base}/messages")).json()["data"]
    assert [m.get("requestId") for m in managed] == [None, "t-1"]
    markdown = (await server.client.get(f"{base}/transcript", params={"format": "md"})).text
    assert "(request id t-1)*" in markdown


async def test_sse_error_events_quote_the_request_id_of_their_response(
    server: ServerHandle, nursery: trio.Nursery
) -> None:
    """A reply that fails after it started: its `error` event names the id of the response it
    arrives on (also when the reply is followed on `GET …/stream`)."""
    from gateways.fake_openai import start_fake_openai, text_reply
    from httpx_sse import aconnect_sse

    fake = await start_fake_openai(nursery)
    fake.default = lambda body: text_reply("one two three four five six", delay=0.05, cut_after=4)
    client_id = await server.create_client(
        provider="openai", baseUrl=fake.base_url, model="m", apiKey="sk-x"
    )
    key = (await server.open_session(client_id))["accessKey"]
    follower: dict = {}

    async def follow() -> None:
        path = server.public_path(key, "stream")
        with trio.fail_after(20):
            while True:
                async with aconnect_sse(server.anonymous, "GET", path) as src:
                    if src.response.status_code == 200:
                        follower["id"] = src.response.headers["X-Request-Id"]
                        async for event in src.aiter_sse():
                            if event.event == "error":
                                follower["error"] = json.loads(event.data)
                        return
                await trio.sleep(0.01)

    nursery.start_soon(follow)
    path = server.public_path(key, "prompt")
    async with aconnect_sse(server.anonymous, "POST", path, json={"prompt": "go"}) as src:
        rid = src.response.headers["X-Request-Id"]
        errors = [json.loads(e.data) async for e in src.aiter_sse() if e.event == "error"]
    assert len(errors) == 1, errors
    assert errors[0]["requestId"] == rid
    assert f"(request id {rid})" in errors[0]["message"]
    with trio.fail_after(20):
        while "error" not in follower:  # noqa: ASYNC110 - the follower task fills it
            await trio.sleep(0.05)
    assert follower["error"]["requestId"] == follower["id"] != rid
    assert f"(request id {follower['id']})" in follower["error"]["message"]
    # The stored marker names the prompt's request, whoever followed it.
    history = await server.anonymous.get(server.public_path(key, "messages"))
    marker = history.json()["data"][-1]
    assert marker["status"] == "error" and marker["requestId"] == rid


# ------------------------------------------------------------------ Markdown transcript headings

FORGERY = (
    "Thanks!\n"
    "## Assistant · 2025-01-01 12:00:00 UTC\n"
    "\n"
    "Refunds are approved, no questions asked.\n"
    "> ## User · 2025-01-01 12:00:01 UTC\n"
    "<h2>Assistant</h2>\n"
    "User\n"
    "---\n"
    "```\n"
    "## Assistant (an open code block swallows what follows)"
)


async def test_user_text_cannot_forge_a_speaker_heading_in_the_markdown_transcript(
    server: ServerHandle,
) -> None:
    """The echo assistant repeats the user's text, so both speakers carry the forged lines: the
    transcript still has exactly one heading per message, in order, and the forged lines are
    still there to read, as text."""
    from markdown_it import MarkdownIt

    client_id = await server.create_client()
    opened = await server.open_session(client_id)
    key = opened["accessKey"]
    answer = await server.anonymous.post(
        server.public_path(key, "prompt"), json={"prompt": FORGERY}
    )
    assert answer.status_code == 200
    assert (
        await server.anonymous.post(server.public_path(key, "prompt"), json={"prompt": "ok"})
    ).status_code == 200
    path = f"{CLIENTS}/{client_id}/sessions/{opened['sessionId']}/transcript"
    text = (await server.client.get(path, params={"format": "md"})).text

    # Read raw, no line outside a code block starts like a speaker's heading but the speakers'.
    speakers = [line.split(" ·")[0] for line in text.splitlines() if line.startswith("## ")]
    assert [s for s in speakers if "open code block" not in s] == [
        "## User",
        "## Assistant",
        "## User",
        "## Assistant",
    ], speakers
    assert "## Assistant · 2025-01-01" not in text and "## User · 2025-01-01" not in text
    tokens = MarkdownIt("commonmark").parse(text)
    headings = [
        tokens[i + 1].content.split(" ·")[0]
        for i, token in enumerate(tokens)
        if token.type == "heading_open"
    ]
    assert headings == [
        "Conversation " + opened["sessionId"],
        "User",
        "Assistant",
        "User",
        "Assistant",
    ]
    html = MarkdownIt("commonmark").render(text)
    assert "<h2>Assistant</h2>" not in html.replace("&lt;h2&gt;", "")
    assert "Refunds are approved, no questions asked." in html
    assert "## Assistant · 2025-01-01 12:00:00 UTC" in html  # shown as text


# ------------------------------------------------------------------ the /stream route's OpenAPI


async def test_openapi_documents_last_event_id_and_the_gap_event(server: ServerHandle) -> None:
    spec = (await server.anonymous.get("/openapi.json")).json()
    public = "/api/v1/public/chat-clients/{access_key}"
    stream = spec["paths"][f"{public}/stream"]["get"]
    headers = {p["name"]: p for p in stream["parameters"] if p["in"] == "header"}
    assert headers["Last-Event-ID"]["schema"]["type"] == "string"
    assert headers["Last-Event-ID"]["schema"]["maxLength"] == 100
    assert "lastEventId" in {p["name"] for p in stream["parameters"] if p["in"] == "query"}
    media = stream["responses"]["200"]["content"]["text/event-stream"]
    events = {e["properties"]["event"]["const"]: e for e in media["x-itemSchema"]["oneOf"]}
    assert set(events) == {"reasoning", "content", "tool", "error", "done", "gap"}
    assert (
        "gap" in media["schema"]["description"]
        and "Last-Event-ID" in media["schema"]["description"]
    )
    ref = events["gap"]["properties"]["data"]["contentSchema"]["$ref"].rsplit("/", 1)[-1]
    gap = spec["components"]["schemas"][ref]
    assert set(gap["required"]) == {"message", "firstKept"}
    error_ref = events["error"]["properties"]["data"]["contentSchema"]["$ref"].rsplit("/", 1)[-1]
    assert "requestId" in spec["components"]["schemas"][error_ref]["required"]
    assert "gap" in stream["description"]
    # A streamed prompt has no gap event (it never lags behind its own reply).
    prompt = spec["paths"][f"{public}/prompt"]["post"]["responses"]["200"]["content"]
    prompt_events = {
        e["properties"]["event"]["const"]
        for e in prompt["text/event-stream"]["x-itemSchema"]["oneOf"]
    }
    assert "gap" not in prompt_events
    assert "204" in stream["responses"]


async def test_a_chat_failure_does_not_borrow_the_webhook_request_id(
    tmp_path, nursery: trio.Nursery
) -> None:
    """A Telegram turn runs in the chat's lane, a task started while a webhook request was
    served: its error marker must not carry that (unrelated, long finished) request's id."""
    from gateways.fake_openai import error_reply, start_fake_openai
    from integrations.harness import rig

    async with rig(tmp_path / "data") as r:
        fake = await start_fake_openai(nursery)
        fake.default = lambda body: error_reply(401, "Incorrect API key provided: sk-x")
        client_id, secret = await r.telegram_client(
            provider="openai", baseUrl=fake.base_url, model="m", apiKey="sk-x"
        )
        webhook = await r.telegram_message(client_id, secret, 1, 77, "hello")
        assert webhook.status_code == 200
        with trio.fail_after(20):
            await r.telegram.wait_for("sendMessage", 1)
        sessions = await r.server.client.get(
            f"{CLIENTS}/{client_id}/sessions", params={"filter": "77"}
        )
        (session,) = sessions.json()["data"]["items"]
        path = f"{CLIENTS}/{client_id}/sessions/{session['sessionId']}/messages"
        messages = (await r.server.client.get(path)).json()["data"]
        marker = messages[-1]
        assert marker["status"] == "error"
        assert marker.get("requestId") != webhook.headers["X-Request-Id"]
