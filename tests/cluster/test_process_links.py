""" "Continue on Telegram" across real nodes: the web session lives on one node, the link code is
made on another and the chat's `/start <code>` reaches a third (all on one PostgreSQL).

The chat must be attached to the web session and told so exactly once, and a second chat using
the same code must get the "invalid or used" notice (before the fix the third node's registry
asked the web session's actor, which lives elsewhere: NotOwner, no reply at all).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import trio

from chinwag.integrations.commands import TEXTS
from tests.integrations.harness import SECRET_HEADER
from tests.integrations.payloads import telegram_update

from .remote import open_session, public
from .test_process_webhooks import WAIT, deliver, fakes_and_nodes, telegram_chat, telegram_replies


async def test_start_code_on_another_node_attaches_the_chat_once(
    tmp_path: Path, database_url: str
) -> None:
    async with fakes_and_nodes(tmp_path, database_url, 3) as (telegram, _zapi, nodes):
        client_id, path, secret = await telegram_chat(nodes[0], telegram, provider="echo")
        headers = {SECRET_HEADER: secret}
        key = (await open_session(nodes[0], client_id))["accessKey"]
        async with httpx.AsyncClient(timeout=30) as http:
            prompted = await http.post(
                nodes[0].base_url + public(key, "prompt"), json={"prompt": "web first"}
            )
            assert prompted.status_code == 200, prompted.text  # node 0 holds the session now
            made = await http.post(
                nodes[1].base_url + public(key, "links"), json={"channel": "telegram"}
            )
            assert made.status_code in (200, 201), made.text
        code = made.json()["data"]["code"]

        assert (
            await deliver(nodes[2], path, telegram_update(90, 31, f"/start {code}"), headers) == ""
        )
        with trio.fail_after(WAIT):
            await telegram.wait_until(lambda: telegram_replies(telegram, 31) != [])
        assert telegram_replies(telegram, 31) == [TEXTS["en"]["linked"]]

        # The chat now continues the web conversation, wherever its next update arrives.
        await deliver(nodes[2], path, telegram_update(91, 31, "from telegram"), headers)
        with trio.fail_after(WAIT):
            await telegram.wait_until(lambda: len(telegram_replies(telegram, 31)) >= 2)
        async with httpx.AsyncClient(timeout=30) as http:
            listed = await http.get(nodes[1].base_url + public(key, "messages"))
        contents = [m["content"] for m in listed.json()["data"]]
        assert contents == [
            "web first",
            "You said: web first",
            "from telegram",
            "You said: from telegram",
        ]

        # Another chat with the used code: told it is invalid or used, once.
        assert (
            await deliver(nodes[2], path, telegram_update(92, 32, f"/start {code}"), headers) == ""
        )
        with trio.fail_after(WAIT):
            await telegram.wait_until(lambda: telegram_replies(telegram, 32) != [])
        assert telegram_replies(telegram, 32) == [TEXTS["en"]["link_invalid"]]
        assert telegram_replies(telegram, 31) == [TEXTS["en"]["linked"], "You said: from telegram"]
