"""A retried prompt gets the answer to its own message, across a SIGKILL (issue 9 §1).

A real `python -m chinwag.cli serve` process talks to a fake OpenAI server (echo answers,
recorded requests). Prompt k1 is stored and the model is asked, then the process is SIGKILLed
before the answer. After a restart, prompt k2 is answered, then k1 is retried twice: both
retries must get the same stored answer, generated from the history up to k1 ("You said:
<k1>"), and the model must never have been sent a history cut in the middle of an exchange.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx
import trio
from gateways.fake_openai import FakeOpenAI, Reply, echo_reply, start_fake_openai
from support.serve_process import ServeProcess

API_KEY = "retry-crash-test-key"
FIRST = "first question"
SECOND = "second question"


def last_user_text(body: dict[str, Any]) -> str:
    return body["messages"][-1]["content"]


def conversation(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, content) of what the model was sent, without the system message."""
    return [(m["role"], m["content"]) for m in body["messages"] if m["role"] != "system"]


async def test_retried_prompt_gets_its_own_answer_after_sigkill(tmp_path: Path, nursery) -> None:
    hang = trio.Event()

    def responder(body: dict[str, Any]) -> Reply:
        if last_user_text(body) == FIRST and not hang.is_set():
            hang.set()
            return Reply(chunks=[], first_delay=3600)  # still "thinking" when the kill lands
        return echo_reply(body)

    fake: FakeOpenAI = await start_fake_openai(nursery, responder=responder)
    child = ServeProcess(tmp_path / "data", API_KEY)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    try:
        await child.start()
        async with httpx.AsyncClient(base_url=child.base_url, headers=headers, timeout=30) as http:
            response = await http.post(
                "/api/v1/ai-gateways",
                json={
                    "name": "fake",
                    "parameters": {"provider": "openai", "baseUrl": fake.base_url, "model": "m"},
                },
            )
            assert response.status_code == 201, response.text
            response = await http.post(
                "/api/v1/web-chat-client",
                json={"name": "c", "aiGatewayId": response.json()["data"]["id"]},
            )
            assert response.status_code == 201, response.text
            client_id = response.json()["data"]["id"]
            response = await http.post(f"/api/v1/web-chat-client/{client_id}/sessions", json={})
            access_key = response.json()["data"]["accessKey"]
            prompt_path = f"/api/v1/public/chat-clients/{access_key}/prompt"

            async def first_prompt() -> None:
                # The server dies under it (TransportError): a real client would retry.
                with trio.move_on_after(60), contextlib.suppress(httpx.TransportError):
                    await http.post(
                        prompt_path, json={"prompt": FIRST}, headers={"Idempotency-Key": "k1"}
                    )

            nursery.start_soon(first_prompt)
            with trio.fail_after(30):
                await hang.wait()  # the model was asked, so the user message is stored
            await child.kill()

        await child.start()  # restart on the same data directory
        async with httpx.AsyncClient(base_url=child.base_url, timeout=30) as public:
            response = await public.post(
                prompt_path, json={"prompt": SECOND}, headers={"Idempotency-Key": "k2"}
            )
            assert response.status_code == 200, response.text
            assert response.json()["data"]["completionText"] == f"You said: {SECOND}"

            retries = []
            for _ in range(2):
                response = await public.post(
                    prompt_path, json={"prompt": FIRST}, headers={"Idempotency-Key": "k1"}
                )
                assert response.status_code == 200, response.text
                retries.append(response.json()["data"])
            messages = (
                await public.get(f"/api/v1/public/chat-clients/{access_key}/messages")
            ).json()["data"]
    finally:
        await child.stop()

    # Both retries: exactly the stored answer to k1, generated from the history up to k1.
    assert [r["completionText"] for r in retries] == [f"You said: {FIRST}"] * 2
    first_user, first_answer = retries[0]["createdMessages"]
    assert retries[1]["createdMessages"] == retries[0]["createdMessages"]
    assert first_user["content"] == FIRST
    assert first_answer["inReplyTo"] == first_user["seq"]

    # The stored history is made of complete exchanges, each answer linked to its message.
    assert [(m["role"], m["content"], m.get("inReplyTo")) for m in messages] == [
        ("user", FIRST, None),
        ("assistant", f"You said: {FIRST}", messages[0]["seq"]),
        ("user", SECOND, None),
        ("assistant", f"You said: {SECOND}", messages[2]["seq"]),
    ]
    assert [m["seq"] for m in messages] == sorted(m["seq"] for m in messages)

    # What the model saw: k1 alone (killed), k1 alone again (answered first after the restart),
    # then k2 after the complete k1 exchange; the retries asked the model nothing.
    sent = [conversation(r.body) for r in fake.requests]
    assert sent == [
        [("user", FIRST)],
        [("user", FIRST)],
        [("user", FIRST), ("assistant", f"You said: {FIRST}"), ("user", SECOND)],
    ]
