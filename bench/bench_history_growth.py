"""Turn time in a fresh session vs in a session holding 10,000 stored messages.

Target (issue 9 §5): median turn at 10,000 stored messages <= 1.25x the median in a fresh
session. Both go through `open_runtime` with the echo gateway (durable LMDB writes included),
measured in one run with interleaved rounds so machine noise hits both sides alike. The big
history is written through the repository in batches (a turn-by-turn build would take minutes).
With a third argument the echo gateway gets that `contextWindowTokens`, so each turn reads the
newest messages that fit it (a cost that grows with the window, not with the history).
Run: .venv/bin/python bench/bench_history_growth.py [stored_messages] [turns] [window_tokens]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import msgspec
import trio

from chinwag import Chinwag, open_runtime
from chinwag.actors.session import GetSession, new_id
from chinwag.config import Settings
from chinwag.records import Message, Usage

FRESH_TURNS = 10  # a "fresh" session is replaced after this many turns (<= 20 messages)
BATCH = 1_000


async def fill(cw: Chinwag, session_id: str, count: int) -> None:
    """Store `count` alternating user/assistant messages, then point the session at them."""
    repo = cw.repo
    session = repo.session(session_id)
    assert session is not None
    now = cw.core.clock.now()
    stored_bytes = 0
    for first in range(0, count, BATCH):
        messages = []
        for seq in range(first, min(first + BATCH, count)):
            user = seq % 2 == 0
            text = f"question number {seq // 2}" if user else f"You said: question {seq // 2}"
            messages.append(
                Message(
                    id=new_id(),
                    seq=seq,
                    role="user" if user else "assistant",
                    content=text,
                    created_at=now,
                    usage=None if user else Usage(input_tokens=5, output_tokens=5, total_tokens=10),
                    in_reply_to=None if user else seq - 1,
                )
            )
        ops, size = repo.put_messages_sized(session_id, messages)
        stored_bytes += size
        await repo.commit(ops)
    updated = msgspec.structs.replace(
        session, next_seq=count, message_count=count, history_bytes=stored_bytes
    )
    await repo.commit(repo.put_session(updated, previous=session))


async def new_session(cw: Chinwag, client_id: str) -> str:
    opened = await cw.open_session(client_id)
    await cw.sessions.ask(opened.session.id, GetSession())  # activation is not a turn
    return opened.session.id


async def timed_turn(cw: Chinwag, session_id: str, text: str) -> float:
    start = time.perf_counter()
    result = await cw.prompt(session_id, text)
    elapsed = time.perf_counter() - start
    assert result.completion_text == f"You said: {text}", result.completion_text
    return elapsed


async def main(stored: int, turns: int, window: int | None) -> None:
    settings = Settings(data_dir=tempfile.mkdtemp(prefix="chinwag-history-"))
    parameters: dict[str, object] = {"provider": "echo"}
    if window:
        parameters["contextWindowTokens"] = window
        print(f"echo gateway with contextWindowTokens={window}")
    async with open_runtime(settings) as cw:
        gateway = await cw.create_gateway("echo", parameters)
        client = await cw.create_client({"name": "bench", "aiGatewayId": gateway.id})
        big = (await cw.open_session(client.id)).session.id
        started = time.perf_counter()
        await fill(cw, big, stored)
        print(f"stored {stored} messages in {time.perf_counter() - started:.1f} s")
        await cw.sessions.ask(big, GetSession())
        fresh = await new_session(cw, client.id)
        fresh_turns = 0
        for warm in range(20):  # code paths, caches, LMDB pages
            await timed_turn(cw, big, f"warm-up {warm}")
            await timed_turn(cw, fresh, f"warm-up {warm}")
        fresh = await new_session(cw, client.id)
        fresh_times: list[float] = []
        big_times: list[float] = []
        for turn in range(turns):
            if fresh_turns == FRESH_TURNS:
                fresh, fresh_turns = await new_session(cw, client.id), 0
            text = f"how are you, turn {turn}?"
            if turn % 2:  # alternate which side goes first
                big_times.append(await timed_turn(cw, big, text))
                fresh_times.append(await timed_turn(cw, fresh, text))
            else:
                fresh_times.append(await timed_turn(cw, fresh, text))
                big_times.append(await timed_turn(cw, big, text))
            fresh_turns += 1
        history = cw.repo.session(big)
        assert history is not None and history.message_count >= stored
    fresh_ms = statistics.median(fresh_times) * 1000
    big_ms = statistics.median(big_times) * 1000
    print(f"fresh session:             median turn {fresh_ms:.2f} ms ({turns} turns)")
    print(f"{stored:,} stored messages: median turn {big_ms:.2f} ms ({turns} turns)")
    ratio = big_ms / fresh_ms
    print(f"ratio {ratio:.2f}x (target <= 1.25x): {'PASS' if ratio <= 1.25 else 'FAIL'}")


if __name__ == "__main__":
    stored_arg = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    turns_arg = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    window_arg = int(sys.argv[3]) if len(sys.argv) > 3 else None
    trio.run(main, stored_arg, turns_arg, window_arg)
