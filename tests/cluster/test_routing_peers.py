"""What a node knows of the others (chinwag/cluster/peers.py), on a MockClock.

The owner cache never outlives the renew interval nor the owner's known lease, forgets a node
seen dead, and stays bounded; a relay waiting on a node lasts while the node is seen renewing
and ends at its last known lease end plus the margin once it stops (the frozen-owner bound).
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from chinwag.clock import WallClock
from chinwag.cluster.peers import OwnerCache, Peers
from chinwag.storage.ownership import NodeRecord

LEASE = 3.0
RENEW = 1.0


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock()


def _record(clock: WallClock, lease: float = LEASE) -> NodeRecord:
    return NodeRecord(url="http://127.0.0.1:1", lease_until=clock.now() + lease, started_at=0)


async def test_an_owner_is_remembered_for_the_renew_interval_at_most(
    mock_clock: trio.testing.MockClock,
) -> None:
    clock = WallClock()
    peers = Peers(clock, RENEW)
    peers.seen("a", _record(clock))
    peers.place("s1", "a")
    assert peers.owners.get("s1") == "a"
    mock_clock.jump(RENEW * 0.9)
    assert peers.owners.get("s1") == "a"
    mock_clock.jump(RENEW * 0.2)
    assert peers.owners.get("s1") is None
    assert len(peers.owners) == 0


async def test_an_owner_is_never_remembered_past_its_known_lease(
    mock_clock: trio.testing.MockClock,
) -> None:
    clock = WallClock()
    peers = Peers(clock, renew_seconds=5.0)
    peers.seen("a", _record(clock, lease=2.0))
    peers.place("s1", "a")
    mock_clock.jump(1.9)
    assert peers.owners.get("s1") == "a"
    mock_clock.jump(0.2)
    assert peers.owners.get("s1") is None  # its lease ended before the 5 s


async def test_a_node_seen_dead_or_gone_loses_its_sessions(
    mock_clock: trio.testing.MockClock,
) -> None:
    clock = WallClock()
    peers = Peers(clock, RENEW)
    peers.seen("a", _record(clock))
    peers.seen("b", _record(clock))
    for session, node in (("s1", "a"), ("s2", "a"), ("s3", "b")):
        peers.place(session, node)
    peers.seen("a", NodeRecord(url="x", lease_until=clock.now() - 1, started_at=0))
    assert peers.owners.get("s1") is None and peers.owners.get("s2") is None
    assert peers.owners.get("s3") == "b"
    assert peers.url("a") is None
    peers.place("s1", "a")  # a dead node is never placed
    assert peers.owners.get("s1") is None
    peers.refresh([], own_id="me")  # b's row is gone from the store
    assert peers.owners.get("s3") is None
    assert peers.url("b") is None


async def test_the_owner_cache_is_bounded(mock_clock: trio.testing.MockClock) -> None:
    clock = WallClock()
    cache = OwnerCache(clock, ttl=10.0, max_entries=3)
    for index in range(5):
        cache.put(f"s{index}", "a", clock.now() + 10)
    assert len(cache) == 3
    assert cache.get("s0") is None and cache.get("s1") is None
    assert cache.get("s4") == "a"


async def test_a_relay_waits_while_its_owner_renews_and_ends_after_its_lease(
    mock_clock: trio.testing.MockClock,
) -> None:
    clock = WallClock()
    peers = Peers(clock, RENEW)
    peers.seen("a", _record(clock))
    ended: list[float] = []

    async def relay() -> None:
        with peers.waiting_on("a") as scope:
            await trio.sleep_forever()
        assert scope.cancelled_caught
        ended.append(trio.current_time())

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(relay)
        await trio.testing.wait_all_tasks_blocked()
        for _ in range(20):  # the owner renews every second for 20 s: the relay waits
            mock_clock.jump(RENEW)
            peers.seen("a", _record(clock))
            await trio.testing.wait_all_tasks_blocked()
            assert not ended
        last_lease_end = trio.current_time() + LEASE
        while not ended:  # it stops renewing (frozen): the wait ends at its lease + margin
            mock_clock.jump(0.1)
            await trio.testing.wait_all_tasks_blocked()
    assert ended[0] - started > 20
    assert last_lease_end + RENEW <= ended[0] <= last_lease_end + RENEW + 0.1 + 1e-6
