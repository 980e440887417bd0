"""A prompt retried with its Idempotency-Key after the model failed: the new answer takes the
error marker's place, so the stored history keeps one answer per user message (markers never
pile up against maxMessages or the history size)."""

from __future__ import annotations

from gateways.fake_openai import error_reply, start_fake_openai
from support.server import ServerHandle

from chinwag.storage.keys import id_bytes


async def test_retries_of_a_failed_prompt_leave_one_answer(server: ServerHandle, nursery) -> None:
    fake = await start_fake_openai(nursery)
    fake.script += [error_reply(400, "model says no"), error_reply(400, "model says no again")]
    client_id = await server.create_client(
        provider="openai", baseUrl=fake.base_url, model="m", limiting_parameters={"maxMessages": 4}
    )
    opened = await server.open_session(client_id)
    prompt = server.public_path(opened["accessKey"], "prompt")
    headers = {"Idempotency-Key": "retry-me-1"}

    for _ in range(2):
        failed = await server.anonymous.post(prompt, json={"prompt": "hello"}, headers=headers)
        assert failed.status_code == 502, failed.text
    # A rating of the error marker does not pass to the answer that replaces it.
    shown = await server.anonymous.get(server.public_path(opened["accessKey"], "messages"))
    marker = shown.json()["data"][-1]
    assert marker["status"] == "error"
    rated = await server.anonymous.post(
        server.public_path(opened["accessKey"], f"messages/{marker['id']}/feedback"),
        json={"rating": "down"},
    )
    assert rated.status_code == 200, rated.text
    answered = await server.anonymous.post(prompt, json={"prompt": "hello"}, headers=headers)
    assert answered.status_code == 200, answered.text
    assert answered.json()["data"]["completionText"] == "You said: hello"

    messages = (
        await server.anonymous.get(server.public_path(opened["accessKey"], "messages"))
    ).json()["data"]
    shape = [(m["seq"], m["role"], m["status"], m.get("inReplyTo")) for m in messages]
    assert shape == [(0, "user", "complete", None), (1, "assistant", "complete", 0)]

    view = (
        await server.client.get(
            f"/api/v1/web-chat-client/{client_id}/sessions/{opened['sessionId']}"
        )
    ).json()["data"]
    assert messages[-1]["feedback"] is None
    listing = await server.client.get(f"/api/v1/web-chat-client/{client_id}/feedback")
    assert listing.json()["data"]["items"] == []
    assert view["messageCount"] == 2
    stored_bytes = view["historyBytes"]
    rows = server.service.engine.scan("messages", prefix=id_bytes(opened["sessionId"]))
    assert stored_bytes == sum(len(value) for _key, value in rows)  # the marker's bytes went too

    # A further retry gets the stored answer; maxMessages 4 still leaves room for one exchange.
    again = await server.anonymous.post(prompt, json={"prompt": "hello"}, headers=headers)
    assert again.json()["data"]["completionText"] == "You said: hello"
    nxt = await server.anonymous.post(prompt, json={"prompt": "next"})
    assert nxt.status_code == 200, nxt.text
    view = (
        await server.client.get(
            f"/api/v1/web-chat-client/{client_id}/sessions/{opened['sessionId']}"
        )
    ).json()["data"]
    assert view["messageCount"] == 4
    assert view["historyBytes"] > stored_bytes
    assert len(fake.requests) == 4  # two failures, the retry answered, the next prompt
