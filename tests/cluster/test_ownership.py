"""Ownership with fencing: two runtimes (nodes) on one PostgreSQL database in one Trio run.

Time is a MockClock that only moves when the test jumps it, so lease expiry is exact: a node
whose renewals stop (`node.paused`, the in-process stand-in for SIGSTOP) is dead once its lease
runs out, another node takes its sessions over with a higher epoch, and the paused node's next
write is refused by the store (the fence) instead of being stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from chinwag.cluster.ownership import Fenced, NotOwner
from chinwag.config import Settings
from chinwag.errors import ServiceUnavailable
from chinwag.facade import Chinwag
from chinwag.storage import ownership
from chinwag.wiring import open_runtime

LEASE = 10.0
RENEW = 5.0


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    """Virtual time that stands still until the test jumps it (no autojump: database round
    trips happen in threads, and idle time must not expire leases behind the test's back)."""
    return trio.testing.MockClock()


@asynccontextmanager
async def node(
    database_url: str, tmp_path: Path, name: str, **overrides: Any
) -> AsyncIterator[Chinwag]:
    values: dict[str, Any] = {
        "passivate_after_seconds": 3600,
        "node_lease_seconds": LEASE,
        "node_renew_seconds": RENEW,
        **overrides,
    }
    settings = Settings(
        data_dir=str(tmp_path / name),
        database_url=database_url,
        bind=f"127.0.0.1:{9000 + len(name)}",
        **values,
    )
    async with open_runtime(settings) as runtime:
        yield runtime


async def _session(cw: Chinwag) -> str:
    gateway = await cw.create_gateway("g", {"provider": "echo", "streamDelaySeconds": 0})
    client = await cw.create_client(
        {"name": "c", "aiGatewayId": gateway.id, "clientParameters": {}, "limitingParameters": {}}
    )
    opened = await cw.open_session(client.id)
    return opened.session.id


async def _owner(cw: Chinwag, session_id: str) -> ownership.OwnerRecord:
    raw = await ownership.read_owner(cw.engine, session_id)
    assert raw is not None
    return ownership.decode_owner(raw)


async def _settle(clock: trio.testing.MockClock, seconds: float) -> None:
    """Move time, then let the woken timers (lease renewals) finish their writes."""
    clock.jump(seconds)
    await trio.lowlevel.checkpoint()
    await trio.testing.wait_all_tasks_blocked(0.2)


async def test_a_frozen_node_is_taken_over_and_its_late_write_refused(
    mock_clock: trio.testing.MockClock, database_url: str, tmp_path: Path
) -> None:
    async with node(database_url, tmp_path, "a") as a, node(database_url, tmp_path, "bb") as b:
        session_id = await _session(a)
        first = await a.prompt(session_id, "one")
        assert first.status == "complete"
        assert await _owner(a, session_id) == ownership.OwnerRecord(node=a.node.id, epoch=1)
        assert (await a.health())["nodes"] == 2

        # A live owner keeps its session: the other node is refused, retryably.
        with pytest.raises(NotOwner) as refused:
            await b.prompt(session_id, "not yet")
        assert refused.value.status == 503 and refused.value.retry_after

        # A freezes (stops renewing). Before its lease runs out nothing moves ...
        a.node.paused = True
        await _settle(mock_clock, LEASE - 2)
        with pytest.raises(NotOwner):
            await b.prompt(session_id, "still not")
        # ... after it, B takes the session over with the next epoch and answers.
        await _settle(mock_clock, 3)
        second = await b.prompt(session_id, "two")
        assert second.status == "complete"
        assert await _owner(b, session_id) == ownership.OwnerRecord(node=b.node.id, epoch=2)
        assert b.node.counters.ownership_takeovers == 1
        assert (await b.health())["nodes"] == 1  # A is no longer live

        # A wakes and still has the session in memory: its write is refused, nothing stored.
        a.node.paused = False
        with pytest.raises(Fenced) as fenced:
            await a.prompt(session_id, "three from the frozen node")
        assert isinstance(fenced.value, ServiceUnavailable) and fenced.value.retry_after
        assert a.node.counters.fencing_refusals == 1
        # Its actor stopped: the next attempt finds B the live owner.
        with pytest.raises(NotOwner):
            await a.prompt(session_id, "four")

        transcript = [m.content for m in b.messages(session_id)]
        assert transcript == ["one", "You said: one", "two", "You said: two"]
        assert await _owner(a, session_id) == ownership.OwnerRecord(node=b.node.id, epoch=2)
        stats = b.stats().cluster
        assert stats["ownership_claims"] == 1
        assert stats["ownership_takeovers"] == 1
        assert a.stats().cluster["fencing_refusals"] == 1


async def test_a_renewing_node_keeps_its_sessions(
    mock_clock: trio.testing.MockClock, database_url: str, tmp_path: Path
) -> None:
    """Time passes well beyond one lease, but the owner renews: nobody takes its session."""
    async with node(database_url, tmp_path, "a") as a, node(database_url, tmp_path, "bb") as b:
        session_id = await _session(a)
        await a.prompt(session_id, "one")
        for _ in range(6):
            await _settle(mock_clock, RENEW)
        with pytest.raises(NotOwner):
            await b.prompt(session_id, "mine?")
        assert (await a.prompt(session_id, "still mine")).status == "complete"
        assert b.node.counters.ownership_takeovers == 0
        assert a.node.counters.fencing_refusals == 0


async def test_a_passivated_session_is_released_and_claimed_at_once(
    mock_clock: trio.testing.MockClock, database_url: str, tmp_path: Path
) -> None:
    """An idle session leaves memory and hands its owner row back: another node claims it
    without waiting for any lease (a claim, not a takeover)."""
    async with (
        node(database_url, tmp_path, "a", passivate_after_seconds=3) as a,
        node(database_url, tmp_path, "bb") as b,
    ):
        session_id = await _session(a)
        await a.prompt(session_id, "one")
        await _settle(mock_clock, 4)  # A's actor passivates; both leases are still valid
        released = await _owner(a, session_id)
        assert released.released and released.node == a.node.id
        assert (await b.prompt(session_id, "two")).status == "complete"
        assert await _owner(b, session_id) == ownership.OwnerRecord(node=b.node.id, epoch=2)
        assert b.node.counters.ownership_claims == 1
        assert b.node.counters.ownership_takeovers == 0


async def test_concurrent_first_activations_on_two_nodes_yield_one_owner(
    mock_clock: trio.testing.MockClock, database_url: str, tmp_path: Path
) -> None:
    """Prompts for one fresh session hit both nodes at once: exactly one node serves them all;
    the other's callers get the retryable refusal, and nothing of theirs is stored."""
    async with node(database_url, tmp_path, "a") as a, node(database_url, tmp_path, "bb") as b:
        session_id = await _session(a)
        outcomes: dict[str, list[str]] = {"a": [], "bb": []}

        async def send(cw: Chinwag, name: str, index: int) -> None:
            try:
                await cw.prompt(session_id, f"{name}-{index}")
                outcomes[name].append("ok")
            except NotOwner:
                outcomes[name].append("elsewhere")

        async with trio.open_nursery() as nursery:
            for index in range(3):
                nursery.start_soon(send, a, "a", index)
                nursery.start_soon(send, b, "bb", index)
        owner = await _owner(a, session_id)
        winner = "a" if owner.node == a.node.id else "bb"
        loser = "bb" if winner == "a" else "a"
        assert outcomes[winner] == ["ok"] * 3
        assert outcomes[loser] == ["elsewhere"] * 3
        stored = [m.content for m in a.messages(session_id) if m.role == "user"]
        assert sorted(stored) == [f"{winner}-{i}" for i in range(3)]
        assert owner.epoch == 1
