"""Resumable replies over real HTTP: event ids on streamed prompts, GET …/stream attaching from
the start or after Last-Event-ID to a reply a slow model is still writing."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import trio
from httpx_sse import aconnect_sse
from support.server import ServerHandle

WORDS = [f"w{n:02d} " for n in range(24)]


async def _slow_chat(server: ServerHandle, nursery: trio.Nursery, delay: float = 0.05) -> Any:
    from gateways.fake_openai import start_fake_openai, text_reply

    fake = await start_fake_openai(nursery)
    fake.default = lambda body: text_reply("".join(WORDS).strip(), delay=delay)
    client_id = await server.create_client(
        provider="openai", baseUrl=fake.base_url, model="m", apiKey="sk-x"
    )
    return await server.open_session(client_id)


async def _read(server: ServerHandle, method: str, path: str, into: list, **kwargs: Any) -> int:
    """Append (id, event, data) of an SSE response to `into`; returns the status."""
    async with aconnect_sse(server.anonymous, method, path, **kwargs) as source:
        if source.response.status_code != 200:
            return source.response.status_code
        async for event in source.aiter_sse():
            into.append((event.id, event.event, json.loads(event.data)))
    return 200


def _text(events: list) -> str:
    return "".join(data["text"] for _, kind, data in events if kind == "content")


class Events(list):
    """Received SSE events; `until` waits (bounded) for a condition on them."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = trio.Event()

    def append(self, item: Any) -> None:
        super().append(item)
        self._changed.set()
        self._changed = trio.Event()

    async def until(self, condition: Any) -> None:
        with trio.fail_after(10):
            while not condition(self):
                await self._changed.wait()


async def _wait_for(events: Events, count: int) -> None:
    await events.until(lambda got: sum(1 for e in got if e[1] == "content") >= count)


async def test_prompt_events_carry_sequential_ids(server: ServerHandle, nursery) -> None:
    opened = await _slow_chat(server, nursery, delay=0)
    events: list = []
    path = server.public_path(opened["accessKey"], "prompt")
    assert await _read(server, "POST", path, events, json={"prompt": "go"}) == 200
    assert events[-1][1] == "done"
    reply_ids = {e[0].rpartition(".")[0] for e in events}
    assert len(reply_ids) == 1 and all(reply_ids)
    numbers = [int(e[0].rpartition(".")[2]) for e in events]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1
    assert _text(events) == "".join(WORDS).strip()


async def test_nothing_running_is_204(server: ServerHandle, nursery) -> None:
    opened = await _slow_chat(server, nursery, delay=0)
    stream = server.public_path(opened["accessKey"], "stream")
    assert (await server.anonymous.get(stream)).status_code == 204
    await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"), json={"prompt": "x"}
    )
    assert (await server.anonymous.get(stream)).status_code == 204
    bad = await server.anonymous.get(stream, headers={"Last-Event-ID": "x" * 101})
    assert bad.status_code == 400
    assert (await server.anonymous.get(server.public_path("wky_nope", "stream"))).status_code == 401


async def test_attach_mid_reply_from_start_and_after_last_event_id(
    server: ServerHandle, nursery
) -> None:
    opened = await _slow_chat(server, nursery)
    key = opened["accessKey"]
    original = Events()
    done = trio.Event()

    async def prompt() -> None:
        await _read(
            server, "POST", server.public_path(key, "prompt"), original, json={"prompt": "go"}
        )
        done.set()

    nursery.start_soon(prompt)
    await _wait_for(original, 5)
    assert not done.is_set(), "the slow model finished too early for this test"

    # A reloaded page: everything from the start, then live until done.
    from_start: list = []
    # A reconnecting page that saw the first 3 events: exactly what followed them.
    seen = original[:3]
    resumed: list = []
    async with trio.open_nursery() as readers:
        readers.start_soon(_read, server, "GET", server.public_path(key, "stream"), from_start)
        headers = {"Last-Event-ID": seen[-1][0]}
        readers.start_soon(
            partial(
                _read, server, "GET", server.public_path(key, "stream"), resumed, headers=headers
            )
        )
    await done.wait()

    full = "".join(WORDS).strip()
    assert from_start == original  # same ids, same events, same order, ending with done
    assert from_start[-1][1] == "done"
    assert seen + resumed == original
    assert _text(seen) + _text(resumed) == full
    assert from_start[-1][2]["result"]["completionText"] == full


async def test_a_missed_done_is_replayed_only_to_its_listener(
    server: ServerHandle, nursery
) -> None:
    opened = await _slow_chat(server, nursery, delay=0)
    key = opened["accessKey"]
    events: list = []
    await _read(server, "POST", server.public_path(key, "prompt"), events, json={"prompt": "go"})
    stream = server.public_path(key, "stream")
    # Lost the connection before the last two events: they are replayed, ids unchanged.
    rest: list = []
    status = await _read(server, "GET", stream, rest, headers={"Last-Event-ID": events[-3][0]})
    assert status == 200 and rest == events[-2:]
    # Saw everything, or names another reply, or names nothing: nothing to attach to.
    for headers in ({"Last-Event-ID": events[-1][0]}, {"Last-Event-ID": "abc.1"}, {}):
        assert (await server.anonymous.get(stream, headers=headers)).status_code == 204


async def test_stop_ends_every_listener_with_done(server: ServerHandle, nursery) -> None:
    opened = await _slow_chat(server, nursery, delay=0.1)
    key = opened["accessKey"]
    original = Events()
    follower = Events()
    nursery.start_soon(
        lambda: _read(
            server, "POST", server.public_path(key, "prompt"), original, json={"prompt": "go"}
        )
    )
    await _wait_for(original, 2)
    async with trio.open_nursery() as readers:
        readers.start_soon(_read, server, "GET", server.public_path(key, "stream"), follower)
        await _wait_for(follower, 2)
        stopped = await server.anonymous.post(server.public_path(key, "stop"))
        assert stopped.json()["data"]["stopped"] is True
    assert follower[-1][1] == "done"
    assert follower[-1][2]["result"]["status"] == "stopped"
    await original.until(lambda got: got and got[-1][1] == "done")
    assert follower == original
