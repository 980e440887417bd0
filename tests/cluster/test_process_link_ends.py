""" "Continue on Telegram" when the chat's earlier session lives on another node than the web
session (real nodes on one PostgreSQL).

The chat first talks on node 1 (its session is made and held there), the web session is held by
node 0, and `/start <code>` arrives at node 2. The chat must be attached to the web session and
its earlier session ended (read-only from then on). Before the fix the update went to node 1 (the
chat's owner), whose registry activated the web session to read it (NotOwner: handed to node 0),
and node 0 then could not end the chat's session held by node 1 and silently left it open.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import trio

from chinwag.integrations.commands import TEXTS
from tests.integrations.harness import SECRET_HEADER
from tests.integrations.payloads import telegram_update

from .remote import manage, open_session, public
from .test_process_webhooks import WAIT, deliver, fakes_and_nodes, telegram_chat, telegram_replies


async def test_start_code_ends_the_chats_earlier_session_held_by_another_node(
    tmp_path: Path, database_url: str
) -> None:
    async with fakes_and_nodes(tmp_path, database_url, 3) as (telegram, _zapi, nodes):
        client_id, path, secret = await telegram_chat(nodes[0], telegram, provider="echo")
        headers = {SECRET_HEADER: secret}
        # The chat's own session, made and held by node 1.
        assert await deliver(nodes[1], path, telegram_update(80, 41, "hello"), headers) == ""
        with trio.fail_after(WAIT):
            await telegram.wait_until(lambda: telegram_replies(telegram, 41) != [])
        async with manage(nodes[1]) as http:
            listed = (await http.get(f"/api/v1/web-chat-client/{client_id}/sessions")).json()
        [earlier] = listed["data"]["items"]
        assert earlier["expired"] is False

        opened = await open_session(nodes[0], client_id)
        key, web_id = opened["accessKey"], opened["sessionId"]
        async with httpx.AsyncClient(timeout=30) as http:
            prompted = await http.post(
                nodes[0].base_url + public(key, "prompt"), json={"prompt": "web first"}
            )
            assert prompted.status_code == 200, prompted.text  # node 0 holds the web session
            made = await http.post(
                nodes[0].base_url + public(key, "links"), json={"channel": "telegram"}
            )
            assert made.status_code in (200, 201), made.text
        code = made.json()["data"]["code"]

        await deliver(nodes[2], path, telegram_update(81, 41, f"/start {code}"), headers)
        with trio.fail_after(WAIT):
            await telegram.wait_until(lambda: len(telegram_replies(telegram, 41)) >= 2)
        assert telegram_replies(telegram, 41)[1:] == [TEXTS["en"]["linked"]]

        async with manage(nodes[2]) as http:
            base = f"/api/v1/web-chat-client/{client_id}/sessions"
            ended = (await http.get(f"{base}/{earlier['sessionId']}")).json()["data"]
            web = (await http.get(f"{base}/{web_id}")).json()["data"]
        assert ended["expired"] is True, ended
        assert web["expired"] is False
        assert web["linkedChats"] == [{"channel": "telegram", "externalId": "41"}]
