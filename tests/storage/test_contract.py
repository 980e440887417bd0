"""The storage contract on LMDB and PostgreSQL alike: reads, batches, conditions, restarts."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from chinwag.storage.engine import (
    Check,
    CompareAndSet,
    ConditionFailed,
    Delete,
    DeletePrefix,
    Put,
    PutIfAbsent,
    StorageEngine,
)
from chinwag.storage.errors import StorageClosed, StorageError

from .contract import ENGINES, Backend, hold_writer, make_backend

KEYS = [b"a", b"a\x00", b"a\xff", b"ab", b"abc", b"abd", b"b", b"b\xff\xff", b"ba", b"c"]


@pytest.fixture(params=ENGINES)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path, request)


@pytest.fixture
def engine(backend: Backend) -> StorageEngine:
    return backend.open()


async def fill(engine: StorageEngine) -> None:
    await engine.write(*(Put("messages", k, b"v:" + k) for k in KEYS))


async def test_get_put_overwrite_and_missing(engine: StorageEngine) -> None:
    assert await engine.aget("messages", b"k") is None
    await engine.write(Put("messages", b"k", b"one"))
    assert await engine.aget("messages", b"k") == b"one"
    await engine.write(Put("messages", b"k", b"two"))
    assert await engine.aget("messages", b"k") == b"two"
    assert await engine.aget("sessions", b"k") is None  # tables are separate namespaces
    assert await engine.aget("messages", b"") is None
    assert await engine.aget("messages", b"x" * 600) is None


async def test_scan_forward_backward_prefix_bounds_and_limit(engine: StorageEngine) -> None:
    await fill(engine)
    assert [k for k, _ in await engine.ascan("messages")] == sorted(KEYS)
    assert [k for k, _ in await engine.ascan("messages", reverse=True)] == sorted(KEYS)[::-1]
    assert await engine.ascan("messages", limit=0) == []
    assert await engine.ascan("sessions", reverse=True) == []
    prefixes = [b"", b"a", b"ab", b"b\xff", b"\xff", b"zz"]
    starts = [None, b"", b"a\x00", b"abd", b"b\xff", b"d"]
    ends = [None, b"a", b"abd", b"b\xff\xff", b"c"]
    for prefix in prefixes:
        for start in starts:
            for end in ends:
                want = [
                    k
                    for k in sorted(KEYS)
                    if k.startswith(prefix)
                    and (start is None or k >= start)
                    and (end is None or k < end)
                ]
                got = await engine.ascan("messages", prefix=prefix, start=start, end=end)
                assert [k for k, _ in got] == want, (prefix, start, end)
                assert all(v == b"v:" + k for k, v in got)
                back = await engine.ascan(
                    "messages", prefix=prefix, start=start, end=end, reverse=True, limit=2
                )
                assert [k for k, _ in back] == want[::-1][:2], (prefix, start, end)


async def test_count_whole_table_and_prefix(engine: StorageEngine) -> None:
    assert await engine.acount("messages") == 0
    await fill(engine)
    assert await engine.acount("messages") == len(KEYS)
    assert await engine.acount("messages", b"a") == 6
    assert await engine.acount("messages", b"b\xff") == 1
    assert await engine.acount("messages", b"x") == 0


async def test_binary_keys_sort_as_unsigned_bytes(engine: StorageEngine) -> None:
    keys = [bytes([b]) for b in range(256)] + [b"\x00\x00", b"\x7f\xff", b"\x80", b"\xff\x00"]
    await engine.write(*(Put("keys", k, k[::-1]) for k in keys))
    got = await engine.ascan("keys")
    assert [k for k, _ in got] == sorted(set(keys))
    assert all(v == k[::-1] for k, v in got)
    assert await engine.aget("keys", b"\x00") == b"\x00"
    assert [k for k, _ in await engine.ascan("keys", prefix=b"\xff")] == [b"\xff", b"\xff\x00"]
    assert [k for k, _ in await engine.ascan("keys", prefix=b"\x00")] == [b"\x00", b"\x00\x00"]


async def test_large_values_and_the_key_size_limit(engine: StorageEngine) -> None:
    big = bytes(range(256)) * (8 * 4096)  # 8 MiB of every byte value
    longest = b"k" * 511
    await engine.write(Put("messages", b"big", big), Put("messages", longest, b"511"))
    assert await engine.aget("messages", b"big") == big
    assert await engine.aget("messages", longest) == b"511"
    with pytest.raises(StorageError, match="messages"):
        await engine.write(Put("messages", b"k" * 512, b"too long"))
    assert await engine.acount("messages") == 2


async def test_delete_and_delete_prefix(engine: StorageEngine) -> None:
    await fill(engine)
    await engine.write(Delete("messages", b"abc"), Delete("messages", b"not-there"))
    assert await engine.aget("messages", b"abc") is None
    await engine.write(DeletePrefix("messages", b"a"))
    assert [k for k, _ in await engine.ascan("messages")] == [b"b", b"ba", b"b\xff\xff", b"c"]
    await engine.write(DeletePrefix("messages", b"b\xff"))
    assert [k for k, _ in await engine.ascan("messages")] == [b"b", b"ba", b"c"]
    await engine.write(Put("sessions", b"s", b"1"), DeletePrefix("messages", b""))
    assert await engine.acount("messages") == 0
    assert await engine.aget("sessions", b"s") == b"1"


async def test_a_failing_call_writes_nothing(engine: StorageEngine) -> None:
    await engine.write(Put("messages", b"keep", b"1"))
    with pytest.raises(StorageError, match="messages"):
        await engine.write(
            Put("messages", b"x1", b"1"), Delete("messages", b"keep"), Put("messages", b"", b"2")
        )
    assert await engine.aget("messages", b"x1") is None
    assert await engine.aget("messages", b"keep") == b"1"


async def test_bad_ops_are_refused(engine: StorageEngine) -> None:
    with pytest.raises(StorageError, match="unknown table 'nope'"):
        await engine.write(Put("messages", b"k", b"v"), Put("nope", b"k", b"v"))
    with pytest.raises(StorageError, match="must be bytes"):
        await engine.write(Put("messages", "k", b"v"))  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="must be bytes or None"):
        await engine.write(Check("messages", b"k", "v"))  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="not a write operation"):
        await engine.write(("messages", b"k"))  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="unknown table"):
        await engine.aget("nope", b"k")
    assert await engine.acount("messages") == 0


async def test_put_if_absent_race_has_exactly_one_winner(engine: StorageEngine) -> None:
    winners: list[int] = []
    losers: list[ConditionFailed] = []

    async def claim(n: int) -> None:
        op = PutIfAbsent("sessions", b"owner", f"node-{n}".encode())
        try:
            await engine.write(op, Put("messages", f"by-{n}".encode(), b"1"))
        except ConditionFailed as exc:
            assert exc.condition == op  # it names the condition that failed
            losers.append(exc)
        else:
            winners.append(n)

    async with trio.open_nursery() as nursery:
        for n in range(64):
            nursery.start_soon(claim, n)
    assert len(winners) == 1
    assert len(losers) == 63
    assert await engine.aget("sessions", b"owner") == f"node-{winners[0]}".encode()
    # The losers' other ops were not applied either.
    assert [k for k, _ in await engine.ascan("messages")] == [f"by-{winners[0]}".encode()]
    assert "PutIfAbsent on table 'sessions' key " + b"owner".hex() in str(losers[0])
    assert "the key exists" in str(losers[0])
    assert losers[0].status == 409


async def test_compare_and_set_and_check(engine: StorageEngine) -> None:
    await engine.write(CompareAndSet("sessions", b"s", None, b"epoch-1"))
    assert await engine.aget("sessions", b"s") == b"epoch-1"
    with pytest.raises(ConditionFailed, match="the stored value differs"):
        await engine.write(CompareAndSet("sessions", b"s", b"epoch-0", b"epoch-9"))
    with pytest.raises(ConditionFailed, match="the key exists"):
        await engine.write(CompareAndSet("sessions", b"s", None, b"epoch-9"))
    with pytest.raises(ConditionFailed, match="the key is absent"):
        await engine.write(Check("sessions", b"other", b"x"), Put("messages", b"m", b"1"))
    assert await engine.aget("messages", b"m") is None
    await engine.write(CompareAndSet("sessions", b"s", b"epoch-1", b"epoch-2"))
    await engine.write(Check("sessions", b"s", b"epoch-2"), Put("messages", b"turn", b"1"))
    await engine.write(Check("sessions", b"nobody", None), Put("messages", b"turn2", b"1"))
    assert await engine.aget("sessions", b"s") == b"epoch-2"
    assert await engine.aget("sessions", b"nobody") is None  # a Check writes nothing
    assert await engine.aget("messages", b"turn2") == b"1"
    # All conditions of a call see the state before its writes.
    await engine.write(Put("keys", b"fresh", b"1"), Check("keys", b"fresh", None))
    await engine.write(Delete("keys", b"fresh"), Check("keys", b"fresh", b"1"))
    assert await engine.aget("keys", b"fresh") is None


async def test_cas_increments_from_many_tasks_lose_no_update(engine: StorageEngine) -> None:
    await engine.write(Put("keys", b"counter", b"0"))

    async def increment() -> None:
        while True:
            current = await engine.aget("keys", b"counter")
            assert current is not None
            try:
                await engine.write(
                    CompareAndSet("keys", b"counter", current, str(int(current) + 1).encode())
                )
                return
            except ConditionFailed:
                await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for _ in range(40):
            nursery.start_soon(increment)
    assert await engine.aget("keys", b"counter") == b"40"


async def test_a_failed_condition_fails_only_its_own_call_in_a_batch(
    engine: StorageEngine,
) -> None:
    await engine.write(Put("sessions", b"taken", b"x"))
    outcomes: dict[int, str] = {}

    async def writer(n: int) -> None:
        ops = [Put("messages", f"side{n}".encode(), b"1")]
        if n % 3 == 1:
            ops.append(PutIfAbsent("sessions", b"taken", b"y"))  # always fails
        elif n % 3 == 2:
            ops.append(PutIfAbsent("sessions", b"contested", f"{n}".encode()))  # one wins
        try:
            await engine.write(*ops)
        except ConditionFailed:
            outcomes[n] = "refused"
        else:
            outcomes[n] = "ok"

    release = hold_writer(engine)
    async with trio.open_nursery() as nursery:
        for n in range(30):
            nursery.start_soon(writer, n)
        await trio.testing.wait_all_tasks_blocked()
        release.set()  # all 30 calls are queued: they share one transaction
    contested_winners = [n for n in range(30) if n % 3 == 2 and outcomes[n] == "ok"]
    assert len(contested_winners) == 1
    assert await engine.aget("sessions", b"contested") == f"{contested_winners[0]}".encode()
    for n in range(30):
        side = await engine.aget("messages", f"side{n}".encode())
        if n % 3 == 0:
            assert outcomes[n] == "ok"
        if n % 3 == 1:
            assert outcomes[n] == "refused"
        assert side == (b"1" if outcomes[n] == "ok" else None), n
    assert await engine.aget("sessions", b"taken") == b"x"


async def test_a_bad_call_does_not_fail_conditional_neighbours(engine: StorageEngine) -> None:
    outcomes: dict[int, str] = {}

    async def writer(n: int) -> None:
        # Call 3's own condition holds but its Put is refused (empty key): it alone fails.
        claim = b"once-bad" if n == 3 else b"once"
        key = b"" if n == 3 else f"k{n}".encode()
        try:
            await engine.write(
                PutIfAbsent("sessions", claim, f"{n}".encode()), Put("messages", key, b"v")
            )
        except ConditionFailed:
            outcomes[n] = "refused"
        except StorageError:
            outcomes[n] = "error"
        else:
            outcomes[n] = "ok"

    release = hold_writer(engine)
    async with trio.open_nursery() as nursery:
        for n in range(8):
            nursery.start_soon(writer, n)
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    assert outcomes[3] == "error"
    assert sorted(outcomes.values()).count("ok") == 1
    winner = next(n for n, o in outcomes.items() if o == "ok")
    assert await engine.aget("sessions", b"once") == f"{winner}".encode()
    assert await engine.acount("messages") == 1
    assert await engine.aget("sessions", b"once-bad") is None


async def test_durable_after_reopen(backend: Backend) -> None:
    first = backend.open()
    await first.write(Put("messages", b"kept", b"1"), PutIfAbsent("sessions", b"s", b"e1"))
    done = threading.Event()
    first.write_threadsafe([Put("messages", b"queued", b"2")], lambda _e: done.set())
    first.close()
    assert done.is_set()  # close committed what was queued
    first.close()  # idempotent
    with pytest.raises(StorageClosed):
        await first.write(Put("messages", b"late", b"1"))
    with pytest.raises(StorageClosed):
        await first.aget("messages", b"kept")
    second = backend.open()
    assert await second.aget("messages", b"kept") == b"1"
    assert await second.aget("messages", b"queued") == b"2"
    with pytest.raises(ConditionFailed):
        await second.write(PutIfAbsent("sessions", b"s", b"e2"))


async def test_write_threadsafe_reports_condition_failure(engine: StorageEngine) -> None:
    await engine.write(Put("keys", b"k", b"1"))
    done = threading.Event()
    errors: list[BaseException | None] = []

    def on_done(error: BaseException | None) -> None:
        errors.append(error)
        done.set()

    engine.write_threadsafe([PutIfAbsent("keys", b"k", b"2")], on_done)
    assert done.wait(10)
    assert isinstance(errors[0], ConditionFailed)
    assert await engine.aget("keys", b"k") == b"1"


def model_apply(model: dict[tuple[str, bytes], bytes], ops: list) -> bool:
    """The contract as a dict: all conditions against the state before the call, then writes."""
    for op in ops:
        if isinstance(op, PutIfAbsent) and (op.table, op.key) in model:
            return False
        if isinstance(op, Check | CompareAndSet) and model.get((op.table, op.key)) != op.expected:
            return False
    for op in ops:
        if isinstance(op, Put | PutIfAbsent | CompareAndSet):
            model[(op.table, op.key)] = op.value
        elif isinstance(op, Delete):
            model.pop((op.table, op.key), None)
        elif isinstance(op, DeletePrefix):
            for row in [r for r in model if r[0] == op.table and r[1].startswith(op.prefix)]:
                del model[row]
    return True


async def test_random_calls_match_a_model(engine: StorageEngine) -> None:
    rng = random.Random(20261130)
    keys = [b"a", b"ab", b"b", b"\x00", b"\xff"]
    values = [None, b"", b"1", b"2"]
    model: dict[tuple[str, bytes], bytes] = {}

    def random_op() -> object:
        table, key = rng.choice(["keys", "sessions"]), rng.choice(keys)
        value = rng.choice(values[1:])
        return rng.choice(
            [
                Put(table, key, value),
                Delete(table, key),
                DeletePrefix(table, rng.choice([b"a", b"\xff", b""])),
                Check(table, key, rng.choice(values)),
                PutIfAbsent(table, key, value),
                CompareAndSet(table, key, rng.choice(values), value),
            ]
        )

    applied = refused = 0
    for _ in range(150):
        ops = [random_op() for _ in range(rng.randint(1, 4))]
        expect_ok = model_apply(model, ops)
        try:
            await engine.write(*ops)  # type: ignore[arg-type]
        except ConditionFailed:
            assert not expect_ok, ops
            refused += 1
        else:
            assert expect_ok, ops
            applied += 1
        for table in ("keys", "sessions"):
            want = sorted((k, v) for (t, k), v in model.items() if t == table)
            assert await engine.ascan(table) == want, ops
    assert applied > 30 and refused > 30  # both paths were exercised
