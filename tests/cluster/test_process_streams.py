"""SSE across real nodes: two `chinwag serve` processes on one PostgreSQL and a fake model
server (in this test's process) that holds its stream mid-reply until the test releases it.

- A prompt streamed through the node that does not own the session: the client gets the first
  token through the relay while the model is still held (so before the model finished).
- `GET …/stream` at the non-owner while the owner streams: replayed from the start, or from just
  after `Last-Event-ID`, then followed live to `done`, with the owner's event ids.
"""

from __future__ import annotations

from pathlib import Path

import trio

from tests.gateways.fake_openai import start_fake_openai, text_reply

from .processes import running_nodes
from .remote import Events, create_client, metric, open_session, public, read_sse

TEXT = "alpha beta gamma delta epsilon zeta eta theta"


async def test_sse_and_resume_through_a_non_owner_node(
    tmp_path: Path, database_url: str, nursery: trio.Nursery
) -> None:
    fake = await start_fake_openai(nursery)
    reply = text_reply(TEXT)
    reply.hold_after = 3  # the role chunk, "alpha", " beta"; then held until released
    fake.script.append(reply)
    async with running_nodes(database_url, tmp_path, 2) as (owner, other):
        client_id = await create_client(owner, provider="openai", baseUrl=fake.base_url, model="m")
        key = (await open_session(owner, client_id))["accessKey"]

        streamed = Events()
        async with trio.open_nursery() as readers:
            readers.start_soon(
                lambda: read_sse(
                    other,
                    "POST",
                    public(key, "prompt"),
                    streamed,
                    json={"prompt": "go"},
                    headers={"Accept": "text/event-stream"},
                )
            )
            await streamed.until(lambda got: any(kind == "content" for _, kind, _d in got))
            # Tokens through the relay while the model has not finished (it cannot: held).
            assert not reply.release.is_set()
            assert streamed.text() in ("alpha", "alpha beta")
            await streamed.until(lambda got: got.text() == "alpha beta")
            assert await metric(other, "chinwag_forwarded_requests_total") == 1

            # Attach at the non-owner while the owner streams: from the start, and after the
            # event that carried "alpha" (a page whose connection was cut there).
            seen = [e for e in streamed if e[1] == "content"][:1]
            from_start, resumed, empty = Events(), Events(), Events()
            readers.start_soon(read_sse, other, "GET", public(key, "stream"), from_start)
            readers.start_soon(
                lambda: read_sse(
                    other,
                    "GET",
                    public(key, "stream"),
                    resumed,
                    headers={"Last-Event-ID": seen[0][0]},
                )
            )
            await from_start.until(lambda got: got.text() == "alpha beta")
            await resumed.until(lambda got: got.text() == " beta")
            reply.release.set()
            await streamed.until(Events.ended)
            await from_start.until(Events.ended)
            await resumed.until(Events.ended)

        assert streamed[-1][1] == "done", streamed[-3:]
        assert streamed[-1][2]["result"]["completionText"] == TEXT
        assert streamed.text() == TEXT
        # The owner's event ids, unchanged through the relay: one reply, increasing numbers.
        ids = [ident for ident, _kind, _data in streamed]
        assert all(ids) and len({i.rpartition(".")[0] for i in ids}) == 1
        numbers = [int(i.rpartition(".")[2]) for i in ids]
        assert numbers == sorted(set(numbers))
        assert list(from_start) == list(streamed)
        position = list(streamed).index(seen[0])
        assert list(resumed) == list(streamed)[position + 1 :]
        assert seen[0][2]["text"] + resumed.text() == TEXT

        # Nothing running any more: 204 at either node, as on a single node.
        await read_sse(other, "GET", public(key, "stream"), empty)
        assert empty.status == 204 and not empty
        assert await metric(other, "chinwag_forwarded_requests_total") >= 3
        assert len(fake.requests) == 1  # one model call: the reply was not made twice
