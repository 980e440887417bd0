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


# ------------------------------------------------------------------ a prompt body read no further than its cap

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
    """9 MiB in an unknown field of a prompt without image parts: the answer comes once a little
    over 1 MiB (the cap for a prompt without images) has arrived, not after 9 MiB were read to
    find the unknown field."""
    client_id = await server.create_client(client_parameters={"inputModes": ["Image"]})
    key = (await server.open_session(client_id))["accessKey"]
    path = server.public_path(key, "prompt")
    body = b'{"prompt": "hello", "bogus": "' + b"a" * (9 * MiB) + b'"}'
    status, sent, answer = await _paced_upload(server, path, body)
    message = json.loads(answer)["message"]
    assert status == 413, answer
    assert "1 MiB" in message and "image" in message
    assert sent < 3 * MiB, f"{sent} bytes were sent before the answer"
    # A small body with an unknown field is still the 400 naming it; nothing was stored.
    small = await server.anonymous.post(path, json={"prompt": "hello", "bogus": 1})
    assert small.status_code == 400 and "bogus" in small.json()["message"]
    messages = await server.anonymous.get(server.public_path(key, "messages"))
    assert messages.json()["data"] == []
