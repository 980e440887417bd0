"""Telegram and Z-API updates across real nodes: `chinwag serve` processes on one PostgreSQL,
the fake Telegram and Z-API servers (and a fake model) served by this test's own Trio loop.

- Copies of one update POSTed to two nodes at once, and again later (the platform retrying):
  exactly one copy is stored (the others are answered "duplicate"), exactly one reply reaches
  the platform, and the chat's transcript holds the message and its answer once.
- The chat's owner SIGKILLed right after it acknowledged an update (its model call running):
  another node takes the pending update over and exactly one reply is sent; a copy sent to a
  survivor meanwhile is a duplicate, and a new update sent to a survivor while the dead
  owner's lease still runs is answered too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import trio

from tests.gateways.fake_openai import start_fake_openai, text_reply
from tests.integrations.fakes import FakeTelegram, FakeZapi, running_fakes
from tests.integrations.harness import SECRET_HEADER
from tests.integrations.payloads import telegram_update, zapi_callback

from .processes import NodeProcess, running_nodes
from .remote import create_client, manage, metric

WAIT = 30


@asynccontextmanager
async def fakes_and_nodes(
    tmp_path: Path, database_url: str, count: int
) -> AsyncIterator[tuple[FakeTelegram, FakeZapi, list[NodeProcess]]]:
    async with running_fakes() as (telegram, zapi):
        urls = {"telegram_api_url": telegram.base_url, "zapi_api_url": zapi.base_url}
        async with running_nodes(database_url, tmp_path, count, **urls) as nodes:
            yield telegram, zapi, nodes


async def _integrate(node: NodeProcess, client_id: str, body: dict[str, Any]) -> str:
    async with manage(node) as http:
        response = await http.put(f"/api/v1/web-chat-client/{client_id}/integrations", json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]["webhookUrl"]


async def telegram_chat(node: NodeProcess, telegram: FakeTelegram, **gateway: Any) -> tuple:
    """A client with a Telegram integration: (client id, webhook path, secret token)."""
    client_id = await create_client(node, **gateway)
    settings = {"telegramIntegration": {"botToken": "123456:TEST-token"}}
    await _integrate(node, client_id, {"integrationType": "Telegram", "integrations": settings})
    [call] = [c for c in telegram.of("setWebhook") if c.body["url"].endswith(client_id)]
    return client_id, f"/api/v1/webhooks/telegram/{client_id}", call.body["secret_token"]


async def zapi_chat(node: NodeProcess) -> tuple[str, str]:
    """A client with a Z-API integration: (client id, webhook path)."""
    client_id = await create_client(node, provider="echo")
    settings = {
        "zapiIntegration": {
            "instanceId": "INST1",
            "instanceToken": "INSTTOKEN",
            "clientToken": "client-token-1",
        }
    }
    url = await _integrate(node, client_id, {"integrationType": "Zapi", "integrations": settings})
    return client_id, "/api/v1/webhooks/" + url.split("/api/v1/webhooks/", 1)[1]


async def deliver(node: NodeProcess, path: str, body: Any, headers: dict[str, str]) -> str:
    """POST a webhook to `node`; returns the envelope's message ("duplicate" for a copy)."""
    async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
        response = await http.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["message"] or ""


async def deliver_everywhere(
    nodes: list[NodeProcess], path: str, body: Any, headers: dict[str, str], copies: int = 3
) -> list[str]:
    """`copies` copies of one update to every node of `nodes`, all at the same time."""
    messages: list[str] = []

    async def one(node: NodeProcess) -> None:
        messages.append(await deliver(node, path, body, headers))

    async with trio.open_nursery() as nursery:
        for _ in range(copies):
            for node in nodes:
                nursery.start_soon(one, node)
    return messages


async def transcript(node: NodeProcess, client_id: str) -> list[tuple[str, str]]:
    """(role, content) of the client's only session (a chat's session)."""
    async with manage(node) as http:
        listed = (await http.get(f"/api/v1/web-chat-client/{client_id}/sessions")).json()
        [session] = listed["data"]["items"]
        path = f"/api/v1/web-chat-client/{client_id}/sessions/{session['sessionId']}/messages"
        data = (await http.get(path)).json()["data"]
    messages = data["messages"] if isinstance(data, dict) else data
    return [(m["role"], m["content"]) for m in messages]


def telegram_replies(telegram: FakeTelegram, chat_id: int) -> list[str]:
    return [c.body["text"] for c in telegram.of("sendMessage") if c.body["chat_id"] == chat_id]


async def test_copies_of_an_update_on_two_nodes_get_one_reply(
    tmp_path: Path, database_url: str
) -> None:
    async with fakes_and_nodes(tmp_path, database_url, 2) as (telegram, zapi, nodes):
        tg_client, tg_path, secret = await telegram_chat(nodes[0], telegram, provider="echo")
        tg_headers = {SECRET_HEADER: secret}
        za_client, za_path = await zapi_chat(nodes[0])

        # Telegram: 3 copies of one update to each node at once; one is stored and answered.
        first = telegram_update(70, 11, "together")
        answers = await deliver_everywhere(nodes, tg_path, first, tg_headers)
        assert sorted(answers).count("duplicate") == 5, answers
        # Z-API likewise (its messageId is the update's identity).
        za_first = zapi_callback("M70", "5511999990001", "juntos")
        answers = await deliver_everywhere(nodes, za_path, za_first, {})
        assert sorted(answers).count("duplicate") == 5, answers
        with trio.fail_after(WAIT):
            await telegram.wait_for("sendMessage", 1)
            await zapi.wait_for("send-text", 1)

        # Later, the platforms deliver the same updates again (their retries): duplicates.
        assert await deliver_everywhere(nodes, tg_path, first, tg_headers, 1) == ["duplicate"] * 2
        assert await deliver_everywhere(nodes, za_path, za_first, {}, 1) == ["duplicate"] * 2

        # The chat's next update reaches the node that did not answer the first one (and the
        # other one): answered once too. Its reply comes after any stray second reply to the
        # first update would have been sent by the same chat's lane.
        for node in nodes[::-1]:
            await deliver(node, tg_path, telegram_update(71, 11, "after"), tg_headers)
            await deliver(node, za_path, zapi_callback("M71", "5511999990001", "depois"), {})
        with trio.fail_after(WAIT):
            await telegram.wait_for("sendMessage", 2)
            await zapi.wait_for("send-text", 2)
        assert telegram_replies(telegram, 11) == ["You said: together", "You said: after"]
        assert zapi.texts("send-text", "message") == ["You said: juntos", "You said: depois"]
        assert await transcript(nodes[1], tg_client) == [
            ("user", "together"),
            ("assistant", "You said: together"),
            ("user", "after"),
            ("assistant", "You said: after"),
        ]
        assert await transcript(nodes[0], za_client) == [
            ("user", "juntos"),
            ("assistant", "You said: juntos"),
            ("user", "depois"),
            ("assistant", "You said: depois"),
        ]


async def test_owner_killed_after_acknowledging_an_update_one_reply_from_a_survivor(
    tmp_path: Path, database_url: str, nursery: trio.Nursery
) -> None:
    fake = await start_fake_openai(nursery)  # default: "You said: <text>", word by word
    async with fakes_and_nodes(tmp_path, database_url, 3) as (telegram, _zapi, nodes):
        owner, survivors = nodes[0], nodes[1:]
        client_id, path, secret = await telegram_chat(
            owner, telegram, provider="openai", baseUrl=fake.base_url, model="m"
        )
        headers = {SECRET_HEADER: secret}
        # The chat's first update, answered by the node that stored it: it owns the chat now.
        assert await deliver(owner, path, telegram_update(80, 12, "hello"), headers) == ""
        with trio.fail_after(WAIT):
            await telegram.wait_for("sendMessage", 1)

        held = text_reply("You said: second")
        held.hold_after = 2  # the owner's model call is running, nothing sent to the chat
        fake.script.append(held)
        second = telegram_update(81, 12, "second")
        assert await deliver(owner, path, second, headers) == ""  # acknowledged: stored
        with trio.fail_after(WAIT):
            await held.held.wait()
        owner.kill()
        held.release.set()  # the dead owner's stream; the model answers others as usual

        # A copy of the acknowledged update reaching a survivor is a duplicate; a new update
        # reaching a survivor while the dead owner's lease still runs is stored there (the
        # relay to the owner fails) and must be answered too (it is handed to the session's
        # node, the dead owner, whose items a survivor takes over once its lease ran out).
        assert await deliver(survivors[0], path, second, headers) == "duplicate"
        assert await deliver(survivors[1], path, telegram_update(82, 12, "third"), headers) == ""

        with trio.fail_after(WAIT):
            await telegram.wait_until(lambda: len(telegram.of("sendMessage")) >= 3)
        # Both items answered: their inbox items are done (a lane that finished its reply
        # commits that with the send), so a late second reply cannot be on its way.
        expected = ["You said: hello", "You said: second", "You said: third"]
        assert Counter(telegram_replies(telegram, 12)) == Counter(expected)
        # The dead owner's update was taken over (and the survivor's new one too, if it was
        # handed to the dead owner): by one node each, or the replies above would be doubled.
        recovered = [await metric(n, "chinwag_integration_items_recovered") for n in survivors]
        assert 1 <= sum(recovered) <= 2, recovered
        messages = await transcript(survivors[0], client_id)
        assert Counter(messages) == Counter(
            [("user", t) for t in ("hello", "second", "third")]
            + [("assistant", t) for t in expected]
        )
        assert len(messages) == 6
