"""Background loops never stop the server: an undecodable record written through the engine is
logged, counted in /metrics and skipped, and the server keeps serving. Real server, real LMDB."""

from __future__ import annotations

import re
import time

import trio
from support.server import ServerHandle, running_server

from chinwag.storage import keys
from chinwag.storage.engine import Put

BROKEN_SESSION = "0193a000-0000-7000-8000-0000000000b1"
GARBAGE = b"\xc1\xc1 not msgpack"


async def _failures(server: ServerHandle, loop: str) -> float:
    text = (await server.anonymous.get("/metrics")).text
    match = re.search(rf'^chinwag_background_failures_total\{{loop="{loop}"\}} (\S+)$', text, re.M)
    assert match, text[-2000:]
    return float(match.group(1))


async def _wait_for_failures(server: ServerHandle, loop: str, at_least: float) -> float:
    with trio.fail_after(10):
        while (count := await _failures(server, loop)) < at_least:  # noqa: ASYNC110 - polled over HTTP
            await trio.sleep(0.05)
    return count


async def _still_serves(server: ServerHandle) -> None:
    assert (await server.anonymous.get("/healthz")).status_code == 200
    client_id = await server.create_client()
    opened = await server.open_session(client_id)
    reply = await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"), json={"prompt": "still there?"}
    )
    assert reply.status_code == 200 and "still there?" in reply.json()["data"]["completionText"]


async def test_undecodable_session_due_for_purge_does_not_stop_the_server(
    server: ServerHandle, caplog
) -> None:
    runtime = server.service
    assert await _failures(server, "sweeper") == 0
    due = time.time() - 5
    await runtime.repo.commit(
        [
            Put("sessions", keys.id_bytes(BROKEN_SESSION), GARBAGE),
            Put("purge", keys.time_key(due, BROKEN_SESSION), b""),
        ]
    )
    runtime.sweeper.expiry_changed(0)  # wake the sweeper now
    assert await _wait_for_failures(server, "sweeper", 1) == 1
    assert BROKEN_SESSION in caplog.text  # the log names the item
    await _still_serves(server)

    # Not retried in a tight loop: its purge entry moved an hour on, the count stays at one.
    next_due = runtime.repo.next_due("purge")
    assert next_due is not None and next_due > time.time() + 3000
    runtime.sweeper.expiry_changed(0)
    await trio.sleep(0.5)
    assert await _failures(server, "sweeper") == 1


async def test_undecodable_chat_app_items_are_skipped_at_recovery_and_purge(data_dir) -> None:
    async with running_server(data_dir) as server:
        engine = server.service.engine
        await engine.write(
            Put("inbox", b"client\x00telegram\x00broken-1", GARBAGE),
            Put("outbox", b"client\x00telegram\x00broken-2", GARBAGE),
        )
    # The next start recovers (and purges) the stored items: both loops meet the bad records.
    async with running_server(data_dir) as server:
        assert await _wait_for_failures(server, "integration_recovery", 2) == 2
        assert await _wait_for_failures(server, "integration_purge", 2) == 2
        await _still_serves(server)
