"""Exactly-once across a hard crash: a real chinwag process is SIGKILLed and restarted.

The child runs `chinwag.http.server.run_server` (the same code as `chinwag serve`) on a data
directory; the parent plays Telegram (fake Bot API) and kills the child at the worst moments:
after the webhook was acknowledged but before the reply, and between two parts of a reply.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import trio
from support.server import reserve_port

from .crash_child import API_KEY
from .fakes import Failure, FakeTelegram, running_fakes
from .payloads import telegram_update

CHILD = str(Path(__file__).with_name("crash_child.py"))
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class Child:
    """One chinwag server process on the shared listening socket."""

    def __init__(self, data_dir: Path, fd: int, telegram: FakeTelegram, base_url: str) -> None:
        self.args = [sys.executable, CHILD, str(data_dir), str(fd), telegram.base_url, base_url]
        self.fd = fd
        self.base_url = base_url
        self.log = data_dir.parent / "child.log"
        self.process: trio.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await trio.lowlevel.open_process(
                self.args,
                pass_fds=(self.fd,),
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=str(Path(__file__).parents[2]),
            )
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            with trio.fail_after(60):
                while True:
                    try:
                        if (await http.get("/healthz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    await trio.sleep(0.05)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no finally blocks, no flush, no graceful shutdown
        await self.process.wait()


@asynccontextmanager
async def crashable(tmp_path: Path) -> AsyncIterator[tuple[Child, FakeTelegram, httpx.AsyncClient]]:
    port, fd = reserve_port()
    base_url = f"http://127.0.0.1:{port}"
    async with running_fakes() as (telegram, _zapi):
        child = Child(tmp_path / "data", fd, telegram, base_url)
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        ) as http:
            try:
                yield child, telegram, http
            finally:
                if child.process is not None and child.process.returncode is None:
                    await child.kill()


async def telegram_client(
    http: httpx.AsyncClient, telegram: FakeTelegram, **gateway
) -> tuple[str, str]:
    response = await http.post(
        "/api/v1/ai-gateways",
        json={"name": "echo", "parameters": {"provider": "echo", **gateway}},
    )
    assert response.status_code == 201, response.text
    response = await http.post(
        "/api/v1/web-chat-client",
        json={
            "name": "bot",
            "aiGatewayId": response.json()["data"]["id"],
            "clientParameters": {},
            "limitingParameters": {},
        },
    )
    assert response.status_code == 201, response.text
    client_id = response.json()["data"]["id"]
    response = await http.put(
        f"/api/v1/web-chat-client/{client_id}/integrations",
        json={
            "integrationType": "Telegram",
            "integrations": {"telegramIntegration": {"botToken": "42:crash"}},
        },
    )
    assert response.status_code == 200, response.text
    return client_id, telegram.of("setWebhook")[-1].body["secret_token"]


async def post_update(
    http: httpx.AsyncClient, client_id: str, secret: str, update_id: int, text: str
) -> None:
    response = await http.post(
        f"/api/v1/webhooks/telegram/{client_id}",
        json=telegram_update(update_id, 31337, text),
        headers={SECRET_HEADER: secret},
    )
    assert response.status_code == 200, response.text


async def kill_during_turn_then_restart(tmp_path: Path) -> tuple[list[str], dict]:
    """Kill the server while the model works on an acknowledged update; restart; send another.

    Returns the texts Telegram received and the session as the management API shows it.
    """
    async with crashable(tmp_path) as (child, telegram, http):
        await child.start()
        # The echo model takes about a second per word, so the reply is far from done at the kill.
        client_id, secret = await telegram_client(http, telegram, streamDelaySeconds=1.0)
        await post_update(http, client_id, secret, 1, "please answer")
        with trio.fail_after(30):
            await telegram.wait_for("sendChatAction", 1)  # the model is working
        await child.kill()
        assert telegram.of("sendMessage") == []

        await child.start()
        with trio.fail_after(60):
            await telegram.wait_for("sendMessage", 1)
        await post_update(http, client_id, secret, 2, "next")
        with trio.fail_after(60):
            await telegram.wait_for("sendMessage", 2)
        sessions = await http.get(f"/api/v1/web-chat-client/{client_id}/sessions")
        [session] = sessions.json()["data"]["items"]
        return [c.body["text"] for c in telegram.of("sendMessage")], session


async def test_killed_after_ack_before_reply_replies_once_after_restart(tmp_path: Path) -> None:
    texts, _session = await kill_during_turn_then_restart(tmp_path)
    assert texts == ["You said: please answer", "You said: next"]


async def test_turn_cut_by_crash_is_not_stored_twice(tmp_path: Path) -> None:
    texts, session = await kill_during_turn_then_restart(tmp_path)
    assert texts == ["You said: please answer", "You said: next"]
    # "please answer" was stored by the killed process; it is answered, not stored again
    # (the turn's idempotency key finds it).
    assert session["messageCount"] == 4


async def test_killed_between_reply_parts_resumes_without_resending(tmp_path: Path) -> None:
    async with crashable(tmp_path) as (child, telegram, http):
        await child.start()
        client_id, secret = await telegram_client(http, telegram)
        # The first part is delivered; the second request hangs until the process dies.
        telegram.fail_next("sendMessage", Failure(0, {}, hang=True), after=1)
        long_text = ("The quick brown fox jumps over the lazy dog. " * 140).strip()
        await post_update(http, client_id, secret, 1, long_text)
        with trio.fail_after(30):
            await telegram.wait_until(lambda: len(telegram.refused) == 1)
        await child.kill()
        [first] = telegram.of("sendMessage")

        await child.start()
        with trio.fail_after(60):
            await telegram.wait_for("sendMessage", 2)
        texts = [c.body["text"] for c in telegram.of("sendMessage")]
        assert texts[0] == first.body["text"]
        assert texts[1] == telegram.refused[0].body["text"]  # the lost part, sent again
        assert " ".join(texts).split() == f"You said: {long_text}".split()
        # The model was not asked again: one user and one assistant message.
        sessions = await http.get(f"/api/v1/web-chat-client/{client_id}/sessions")
        [session] = sessions.json()["data"]["items"]
        assert session["channel"] == "telegram"
        assert session["messageCount"] == 2


async def test_answer_stored_before_crash_is_sent_without_asking_again(tmp_path: Path) -> None:
    """In-process simulation of the narrowest window: the model's answer was committed to the
    conversation, then the process died before recording the reply in the outbox."""
    from chinwag.integrations.answer import turn_key
    from chinwag.integrations.inbox import InboxItem
    from chinwag.integrations.parse import IncomingMessage

    from .harness import rig

    async with rig(tmp_path / "data") as r:
        client_id, _secret = await r.telegram_client()
        service = r.server.service
        manager = service.integrations
        message = IncomingMessage(
            channel="telegram", update_key="123456:1", chat_id="77", text="hello"
        )
        item = InboxItem(
            client_id=client_id, message=message, seq=1, received_at=manager.inbox._now()
        )
        store = manager.store
        await store.commit(store.put_item(store.inbox_key(client_id, "telegram", "123456:1"), item))
        session = await service.open_channel_session(client_id, "telegram", "77", 10800.0)
        # The crashed process's turn, with the key the lane gives this one-message batch.
        await service.prompt(
            session.id, "hello", idempotency_key=turn_key("telegram", "123456:1", 1)
        )

        assert await manager.recover() == 1
        with trio.fail_after(20):
            await r.telegram.wait_for("sendMessage", 1)
        assert r.replies(77) == ["You said: hello"]
        assert len(service.messages(session.id)) == 2  # the model was not asked again
        with trio.fail_after(20):
            while manager.inbox.pending():  # noqa: ASYNC110 - storage state has no event
                await trio.sleep(0.01)


async def test_graceful_shutdown_finishes_the_reply_in_progress(tmp_path: Path) -> None:

    from .harness import rig

    async with rig(tmp_path / "data") as r:
        client_id, secret = await r.telegram_client(streamDelaySeconds=0.3)
        assert (
            await r.telegram_message(client_id, secret, 1, 61, "almost done")
        ).status_code == 200
        with trio.fail_after(20):
            await r.telegram.wait_for("sendChatAction", 1)
        # Leaving the block stops the server and the runtime while the reply is being written.
    assert r.replies(61) == ["You said: almost done"]

    async with rig(tmp_path / "data") as again:
        assert again.server.service.integrations.inbox.pending() == []
