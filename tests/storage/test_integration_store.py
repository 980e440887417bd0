"""The integrations' durable state goes through storage's own API.

Like `Repository`, the store reads synchronously, which today only the local (LMDB) engine
offers; the PostgreSQL runtime (issue 11) moves both to the async reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from chinwag.integrations.inbox import InboxItem
from chinwag.integrations.outbox import OutboxReply
from chinwag.integrations.parse import IncomingMessage
from chinwag.storage.engine import Put, StorageEngine
from chinwag.storage.errors import ConditionFailed
from chinwag.storage.integration_store import INBOX, IntegrationStore
from chinwag.storage.keys import MAX_KEY_BYTES

from .contract import make_backend


@pytest.fixture(params=["lmdb"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageEngine]:
    for backend in make_backend(request.param, tmp_path, request):
        yield backend.open(("inbox", "outbox"))


def _item(update_key: str, seq: int) -> InboxItem:
    message = IncomingMessage(channel="telegram", update_key=update_key, chat_id="7", text="hi")
    return InboxItem(client_id="c", message=message, seq=seq, received_at=1.0)


async def test_items_and_replies_round_trip_and_commit_together(engine: StorageEngine) -> None:
    store = IntegrationStore(engine, InboxItem, OutboxReply)
    key = store.inbox_key("c", "telegram", "1:1")
    await store.commit(store.put_item(key, _item("1:1", 1)))
    assert store.has_item(key) and store.item(key) == _item("1:1", 1)
    reply = OutboxReply(client_id="c", channel="telegram", chat_id="7", inbox_keys=[], parts=["a"])
    done = msgspec.structs.replace(_item("1:1", 1), state="done")
    await store.commit([*store.put_reply(key, reply), *store.put_item(key, done)])
    assert store.reply(key) == reply and store.item(key).state == "done"
    assert (store.count_items(), store.count_replies()) == (1, 1)
    await store.commit([*store.delete_items([key]), *store.delete_replies([key])])
    assert (store.count_items(), store.count_replies()) == (0, 0)


async def test_a_long_platform_id_is_hashed_into_a_bounded_key(engine: StorageEngine) -> None:
    store = IntegrationStore(engine, InboxItem, OutboxReply)
    key = store.inbox_key("c", "zapi", "x" * 5000)
    assert len(key) <= MAX_KEY_BYTES
    assert key == store.inbox_key("c", "zapi", "x" * 5000) != store.inbox_key("c", "zapi", "y")


async def test_an_undecodable_item_goes_to_on_error_and_the_scan_goes_on(
    engine: StorageEngine,
) -> None:
    store = IntegrationStore(engine, InboxItem, OutboxReply)
    good = store.inbox_key("c", "telegram", "2")
    await store.commit(store.put_item(good, _item("2", 2)))
    await engine.write(Put(INBOX, b"c\x00telegram\x001", b"\xc1 not msgpack"))
    failed: list[bytes] = []
    assert [k for k, _ in store.items(lambda key, _error: failed.append(key))] == [good]
    assert failed == [b"c\x00telegram\x001"]
    with pytest.raises(msgspec.DecodeError):
        list(store.items())


async def test_an_item_is_stored_once_and_replaced_only_over_the_version_read(
    engine: StorageEngine,
) -> None:
    """Cluster mode's inbox writes: copies of one update stored once; a take-over claims an
    item only if nobody changed it since it was read."""
    store = IntegrationStore(engine, InboxItem, OutboxReply)
    key = store.inbox_key("c", "telegram", "1:1")
    await store.commit(store.put_item_once(key, _item("1:1", 1)))
    with pytest.raises(ConditionFailed):
        await store.commit(store.put_item_once(key, _item("1:1", 2)))
    assert store.item(key) == _item("1:1", 1)

    [(read_key, version, item)] = list(store.versioned_items())
    assert (read_key, item) == (key, _item("1:1", 1))
    mine = msgspec.structs.replace(item, node="node-a")
    await store.commit(store.replace_item(key, version, mine))
    theirs = msgspec.structs.replace(item, node="node-b")
    with pytest.raises(ConditionFailed):  # the version read is stale now
        await store.commit(store.replace_item(key, version, theirs))
    assert store.item(key) == mine
