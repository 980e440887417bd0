"""The reply log on its own: numbering, followers that attach late or resume, the bound."""

from __future__ import annotations

import pytest
import trio

from chinwag.actors.reply_log import ReplyGap, ReplyLog, event_id, parse_event_id
from chinwag.gateways.base import ContentDelta


async def _drain(log: ReplyLog, start: int = 1) -> list:
    return [pair async for pair in log.follow(start)]


async def test_followers_get_every_entry_once_in_order() -> None:
    log = ReplyLog()
    got: list = []

    async def follow() -> None:
        got.extend(await _drain(log))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow)
        await trio.testing.wait_all_tasks_blocked()
        for n in range(5):
            assert log.append(ContentDelta(f"t{n}")) == n + 1
            if n % 2:
                await trio.testing.wait_all_tasks_blocked()
        log.finish("end")
    assert [number for number, _ in got] == [1, 2, 3, 4, 5, 6]
    assert got[-1][1] == "end"
    assert [item.text for _, item in got[:-1]] == [f"t{n}" for n in range(5)]
    # A late follower resumes after an id of this reply; another reply's id means "from the start".
    assert log.start_after(event_id(log.reply_id, 4)) == 5
    assert [n for n, _ in await _drain(log, log.start_after(event_id(log.reply_id, 4)))] == [5, 6]
    assert log.start_after("other.4") == 1
    assert log.is_done_for(7) and not log.is_done_for(6)
    with pytest.raises(RuntimeError):
        log.append(ContentDelta("late"))


def test_event_ids_parse_strictly() -> None:
    assert parse_event_id("abc.12") == ("abc", 12)
    for bad in (None, "", "abc", "abc.", ".3", "abc.x", "a" * 65 + ".1", "abc.1234567890123"):
        assert parse_event_id(bad) is None, bad


async def test_the_bound_drops_the_oldest_and_says_so() -> None:
    log = ReplyLog(max_entries=3, max_chars=10_000)
    for n in range(5):
        log.append(ContentDelta(f"{n}"))
    log.finish("end")
    pairs = await _drain(log)
    assert isinstance(pairs[0][1], ReplyGap) and pairs[0][1].first_kept == 4
    assert [n for n, _ in pairs[1:]] == [4, 5, 6]
    chars = ReplyLog(max_entries=100, max_chars=10)
    for _ in range(4):
        chars.append(ContentDelta("abcd"))
    chars.finish("end")
    kept = await _drain(chars)
    assert kept[0][1] == ReplyGap(3)  # 10 characters keep the last two deltas (+ the end)
    assert [n for n, _ in kept[1:]] == [3, 4, 5]
