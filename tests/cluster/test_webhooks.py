"""Webhooks across nodes: two real servers on one PostgreSQL database and one fake Telegram.

Copies of one update delivered to both nodes are stored once and answered once; a later update
of the chat sent to the other node is answered by the chat's owner; a pending update left by a
dead node is taken over and answered by a live one; an update stored on a node that does not
hold the chat's session is handed to the node that does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio
import uuid_utils
from support.server import running_server

from chinwag.integrations.inbox import InboxItem
from chinwag.integrations.parse import IncomingMessage
from tests.integrations.fakes import running_fakes
from tests.integrations.harness import Rig

WAIT = 30


@asynccontextmanager
async def two_nodes(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Rig, Rig]]:
    async with running_fakes() as (telegram, zapi):
        common = {
            "database_url": database_url,
            "telegram_api_url": telegram.base_url,
            "zapi_api_url": zapi.base_url,
        }
        async with (
            running_server(tmp_path / "a", **common) as a,
            running_server(tmp_path / "b", **common) as b,
        ):
            yield Rig(a, telegram, zapi), Rig(b, telegram, zapi)


async def test_duplicates_on_two_nodes_get_one_reply_from_the_chat_owner(
    tmp_path: Path, database_url: str
) -> None:
    async with two_nodes(tmp_path, database_url) as (a, b):
        client_id, secret = await a.telegram_client()
        statuses: list[int] = []

        async def deliver(rig: Rig, update_id: int, text: str) -> None:
            response = await rig.telegram_message(client_id, secret, update_id, 11, text)
            statuses.append(response.status_code)

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(deliver, a, 70, "together")
                nursery.start_soon(deliver, b, 70, "together")
        assert statuses == [200] * 6
        with trio.fail_after(WAIT):
            await a.telegram.wait_for("sendMessage", 1)
        # The next update of the chat arrives at both nodes; whichever stores it, the node that
        # owns the chat's session answers it.
        await deliver(b, 71, "after")
        await deliver(a, 71, "after")
        assert statuses == [200] * 8  # a relayed copy arrives whole (it once had no body)
        with trio.fail_after(WAIT):
            await a.telegram.wait_for("sendMessage", 2)
        await a.settled()
        await trio.sleep(0.5)  # a duplicate reply, if any, would arrive now
        assert a.replies(11) == ["You said: together", "You said: after"]
        assert a.inbox_count() == 2
        sessions = await a.server.service.engine.ascan("channels")
        assert len(sessions) == 1
        # One of the two copies of "after" reached the node not owning the chat: relayed.
        relayed = sum(n.server.service.stats().cluster["forwarded_requests"] for n in (a, b))
        assert relayed >= 1


async def test_pending_updates_of_a_dead_node_are_taken_over(
    tmp_path: Path, database_url: str
) -> None:
    async with two_nodes(tmp_path, database_url) as (a, b):
        client_id, _secret = await a.telegram_client()
        # An update stored by a node that then died (its id has no live lease) and never answered.
        dead_node = str(uuid_utils.uuid7())
        message = IncomingMessage(
            channel="telegram", update_key="123456:900", chat_id="77", text="left behind"
        )
        item = InboxItem(
            client_id=client_id, message=message, seq=1, received_at=0.0, node=dead_node
        )
        store = a.server.service.integrations.store
        key = store.inbox_key(client_id, "telegram", message.update_key)
        await store.commit(store.put_item(key, item))

        taken = [await n.server.service.integrations.take_over_orphans() for n in (a, b)]
        assert sorted(taken) == [0, 1]  # exactly one node takes it
        with trio.fail_after(WAIT):
            await a.telegram.wait_for("sendMessage", 1)
        await a.settled()
        assert a.replies(77) == ["You said: left behind"]
        assert [await n.server.service.integrations.take_over_orphans() for n in (a, b)] == [0, 0]


async def test_an_update_stored_where_the_chat_is_not_held_is_answered_by_its_owner(
    tmp_path: Path, database_url: str
) -> None:
    """A copy stored on a node that does not hold the chat's session (its relay to the owner
    failed, or two updates of a new chat reached two nodes at once) is handed to the owner."""
    async with two_nodes(tmp_path, database_url) as (a, b):
        client_id, secret = await a.telegram_client()
        await a.telegram_message(client_id, secret, 90, 13, "first")  # a holds the chat now
        with trio.fail_after(WAIT):
            await a.telegram.wait_for("sendMessage", 1)
        message = IncomingMessage(
            channel="telegram", update_key="123456:91", chat_id="13", text="second"
        )
        assert await b.server.service.integrations.accept(client_id, message)
        store = b.server.service.integrations.store
        key = store.inbox_key(client_id, "telegram", message.update_key)
        with trio.fail_after(WAIT):
            while not store.item(key).handed_over:  # noqa: ASYNC110 - no event to wait on
                await trio.sleep(0.01)
        assert store.item(key).node == a.server.service.node.id
        assert await a.server.service.integrations.take_over_orphans() == 0  # picked up
        with trio.fail_after(WAIT):
            await a.telegram.wait_for("sendMessage", 2)
        await a.settled()
        assert a.replies(13) == ["You said: first", "You said: second"]
        assert not store.item(key).handed_over and store.item(key).state == "done"
