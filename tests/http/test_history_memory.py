"""Parallel reads of a big history keep the server's memory bounded (issue 9 §2).

A 32 MiB history is written to a data directory, then a real `python -m chinwag.cli serve`
process serves it while 10 clients download its transcript (JSON and Markdown) and 10 read its
newest page, all at once. The server's anonymous RSS (heap; the LMDB map is file-backed and
shared) is sampled with psutil throughout. Materialising the history per request, as before,
grew it by ~720 MiB; pages and streamed transcripts keep it to ~25 MiB.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import msgspec
import psutil
import trio
from support.serve_process import ServeProcess

from chinwag.actors.session import new_id
from chinwag.config import Settings
from chinwag.records import Message
from chinwag.wiring import open_runtime

API_KEY = "history-memory-test-key"
MESSAGES = 2_000
MESSAGE_CHARS = 16 * 1024
MIB = 1024 * 1024
# Pages and transcript steps are bounded by message count, not by the history's length: 10
# readers stay well under this, while one materialised copy per request (the code before
# paging) grew the server by ~720 MiB on this history.
MAX_GROWTH = 48 * MIB


async def _big_history(data_dir: Path) -> tuple[str, str, str, int]:
    """(client id, session id, access key, stored bytes) of a session holding MESSAGES."""
    async with open_runtime(Settings(data_dir=str(data_dir))) as cw:
        gateway = await cw.create_gateway("echo", {"provider": "echo"})
        client = await cw.create_client({"name": "big", "aiGatewayId": gateway.id})
        opened = await cw.open_session(client.id)
        session = opened.session
        now = cw.core.clock.now()
        stored = 0
        for first in range(0, MESSAGES, 200):
            batch = [
                Message(
                    id=new_id(),
                    seq=seq,
                    role="user" if seq % 2 == 0 else "assistant",
                    content=f"{seq:06d} " + "x" * MESSAGE_CHARS,
                    created_at=now,
                    in_reply_to=None if seq % 2 == 0 else seq - 1,
                )
                for seq in range(first, first + 200)
            ]
            ops, size = cw.repo.put_messages_sized(session.id, batch)
            stored += size
            await cw.repo.commit(ops)
        updated = msgspec.structs.replace(
            session, next_seq=MESSAGES, message_count=MESSAGES, history_bytes=stored
        )
        await cw.repo.commit(cw.repo.put_session(updated, previous=session))
        return client.id, session.id, opened.access_key, stored


def _anonymous_rss(process: psutil.Process) -> int:
    info = process.memory_info()
    return info.rss - info.shared


async def test_ten_parallel_reads_of_a_big_history_stay_bounded(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    client_id, session_id, access_key, stored = await _big_history(data_dir)
    assert stored > 31 * MIB
    child = ServeProcess(data_dir, API_KEY)
    await child.start()
    try:
        process = psutil.Process(child.pid)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        transcript = f"/api/v1/web-chat-client/{client_id}/sessions/{session_id}/transcript"
        page = f"/api/v1/public/chat-clients/{access_key}/messages"
        async with httpx.AsyncClient(base_url=child.base_url, headers=headers, timeout=120) as http:
            # Warm up every route once, so code loading is not counted as growth.
            assert (await http.get(page, params={"limit": 1})).status_code == 200
            async with http.stream("GET", transcript, params={"format": "md"}) as response:
                async for _ in response.aiter_raw():
                    break
            await trio.sleep(0.5)
            baseline = _anonymous_rss(process)
            baseline_rss = process.memory_info().rss
            peak = baseline
            peak_rss = baseline_rss
            received: dict[str, int] = {}
            done = trio.Event()

            async def sample() -> None:
                nonlocal peak, peak_rss
                while not done.is_set():
                    peak = max(peak, _anonymous_rss(process))
                    peak_rss = max(peak_rss, process.memory_info().rss)
                    await trio.sleep(0.01)

            async def download(name: str, path: str, params: dict) -> None:
                total = 0
                chunks = []
                async with http.stream("GET", path, params=params) as response:
                    assert response.status_code == 200
                    async for chunk in response.aiter_raw():
                        total += len(chunk)
                        if name.startswith("json") and total < 4096:
                            chunks.append(chunk)
                received[name] = total
                if name.startswith("json"):
                    assert b"".join(chunks).startswith(b'{"message":null,"data":{"session":')

            async with trio.open_nursery() as sampler:
                sampler.start_soon(sample)
                async with trio.open_nursery() as readers:
                    for index in range(5):
                        readers.start_soon(download, f"json{index}", transcript, {})
                        readers.start_soon(download, f"md{index}", transcript, {"format": "md"})
                    for index in range(10):
                        readers.start_soon(download, f"page{index}", page, {})
                done.set()
            last_page = (await http.get(page, params={"limit": 2})).json()["data"]
    finally:
        await child.stop()

    growth = peak - baseline
    print(
        f"\nhistory {stored / MIB:.1f} MiB; 10 transcripts + 10 pages in parallel: server "
        f"anonymous RSS {baseline / MIB:.1f} -> {peak / MIB:.1f} MiB (+{growth / MIB:.1f} MiB), "
        f"RSS {baseline_rss / MIB:.1f} -> {peak_rss / MIB:.1f} MiB"
    )
    for index in range(5):
        assert received[f"json{index}"] > stored  # every transcript was read in full
        assert received[f"md{index}"] > MESSAGES * MESSAGE_CHARS
    assert [m["seq"] for m in last_page] == [MESSAGES - 2, MESSAGES - 1]
    assert json.dumps(last_page[1]["inReplyTo"]) == str(MESSAGES - 2)
    assert growth < MAX_GROWTH, f"the server grew by {growth / MIB:.1f} MiB"
