"""No store read blocks the Trio thread during a prompt turn on PostgreSQL.

On PostgreSQL a synchronous read is a network round trip; made on the Trio thread it stalls every
other request of the process. The reads a prompt needs (access key, client, history,
idempotency entry) must go through the async reads (a pooled connection in a worker thread).
`PostgresEngine._sync_read` is wrapped for the test to record any call made on the Trio thread,
with the calling stack, so a regression names its caller.
"""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from support.server import ServerHandle, running_server

from chinwag.storage.postgres import PostgresEngine


def on_trio_thread() -> bool:
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def blocking_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stacks of the synchronous PostgreSQL reads made on the Trio thread."""
    seen: list[str] = []
    original = PostgresEngine._sync_read

    def recording(self: PostgresEngine, sql: str, params: object) -> object:
        if on_trio_thread():
            seen.append("".join(traceback.format_stack(limit=16)[:-1]))
        return original(self, sql, params)  # type: ignore[arg-type]

    monkeypatch.setattr(PostgresEngine, "_sync_read", recording)
    return seen


@pytest.fixture
async def pg(
    blocking_reads: list[str], data_dir: Path, database_url: str
) -> AsyncIterator[ServerHandle]:
    async with running_server(data_dir, database_url=database_url) as handle:
        yield handle


def report(seen: list[str]) -> str:
    """How many, and each distinct calling stack once (chinwag frames only)."""
    stacks: dict[str, int] = {}
    for stack in seen:
        frames = [line for line in stack.splitlines() if "/chinwag/" in line]
        caller = " <- ".join(f.split("/chinwag/")[-1] for f in reversed(frames))
        stacks[caller] = stacks.get(caller, 0) + 1
    lines = [f"{count}x {caller}" for caller, count in stacks.items()]
    return f"{len(seen)} blocking reads on the Trio thread:\n" + "\n".join(lines)


async def test_prompt_turns_do_not_block_trio(pg: ServerHandle, blocking_reads: list[str]):
    client_id = await pg.create_client()
    opened = await pg.open_session(client_id, tag="visitor")
    key = opened["accessKey"]
    blocking_reads.clear()  # management set-up is not a prompt turn

    path = pg.public_path(key, "prompt")
    for text in ("first", "second"):
        reply = await pg.anonymous.post(path, json={"prompt": text})
        assert reply.status_code == 200, reply.text
    # A retry with the same Idempotency-Key reads the stored turn back.
    for _ in range(2):
        reply = await pg.anonymous.post(
            path, json={"prompt": "once"}, headers={"Idempotency-Key": "k-1"}
        )
        assert reply.status_code == 200, reply.text
    async with pg.anonymous.stream(
        "POST", path, json={"prompt": "streamed"}, headers={"Accept": "text/event-stream"}
    ) as stream:
        assert stream.status_code == 200
        body = "".join([chunk async for chunk in stream.aiter_text()])
    assert "event: done" in body
    reply = await pg.anonymous.post(path, json={"prompt": "after"})
    assert reply.status_code == 200, reply.text
    assert not blocking_reads, report(blocking_reads)


async def test_public_session_requests_do_not_block_trio(
    pg: ServerHandle, blocking_reads: list[str]
):
    """What the talk page does besides prompting: session info, a page of the conversation
    (with its feedback), stop, clear."""
    client_id = await pg.create_client()
    key = (await pg.open_session(client_id))["accessKey"]
    reply = await pg.anonymous.post(pg.public_path(key, "prompt"), json={"prompt": "hello"})
    assert reply.status_code == 200, reply.text
    blocking_reads.clear()

    info = await pg.anonymous.get(pg.public_path(key, "session"))
    assert info.status_code == 200, info.text
    page = await pg.anonymous.get(pg.public_path(key, "messages"))
    assert page.status_code == 200, page.text
    assert len(page.json()["data"]) == 2
    stopped = await pg.anonymous.post(pg.public_path(key, "stop"))
    assert stopped.status_code == 200, stopped.text
    cleared = await pg.anonymous.delete(pg.public_path(key, "messages"))
    assert cleared.status_code == 200, cleared.text
    assert not blocking_reads, report(blocking_reads)


async def test_the_guard_sees_a_blocking_read(pg: ServerHandle, blocking_reads: list[str]):
    """The guard can fail: a synchronous read from the Trio thread is recorded."""
    before = report(blocking_reads)
    blocking_reads.clear()
    pg.service.engine.get("sessions", b"\x00" * 16)
    assert len(blocking_reads) == 1, before
