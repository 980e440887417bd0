import pytest
import trio
import trio.testing

from chinwag.integrations.ratelimit import SendRateLimiter


async def test_one_chat_is_paced_one_per_second(autojump_clock: trio.testing.MockClock) -> None:
    limiter = SendRateLimiter(per_chat_rate=1.0, global_rate=30.0)
    start = trio.current_time()
    times = []
    for _ in range(4):
        await limiter.acquire("chat-1")
        times.append(trio.current_time() - start)
    assert times == [0.0, 1.0, 2.0, 3.0]


async def test_burst_over_global_rate_is_queued_not_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = SendRateLimiter(per_chat_rate=1.0, global_rate=30.0)
    start = trio.current_time()
    done: list[float] = []

    async def send(chat: str) -> None:
        await limiter.acquire(chat)
        done.append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        for index in range(90):
            nursery.start_soon(send, f"chat-{index}")
    assert len(done) == 90  # every send went out
    assert max(done) == pytest.approx(89 / 30)  # paced at 30/s
    # never more than 30 sends within any one-second window
    done.sort()
    assert all(done[i + 30] - done[i] >= 1.0 - 1e-9 for i in range(len(done) - 30))


async def test_chats_do_not_wait_for_each_other(autojump_clock: trio.testing.MockClock) -> None:
    limiter = SendRateLimiter()
    await limiter.acquire("a")
    before = trio.current_time()
    await limiter.acquire("b")
    assert trio.current_time() - before <= 1 / 30 + 1e-9  # only the global spacing
    await limiter.acquire("a")
    assert trio.current_time() - before == pytest.approx(1.0)  # chat a waits its second
