"""Feedback over real HTTP: rate assistant messages (public), list them (management), see them in
message views and transcripts, and watch them go with the conversation."""

from __future__ import annotations

from typing import Any

from support.server import ServerHandle


async def _chat(server: ServerHandle, turns: int = 1, client_id: str | None = None) -> dict:
    client_id = client_id or await server.create_client()
    opened = await server.open_session(client_id)
    key = opened["accessKey"]
    for n in range(turns):
        response = await server.anonymous.post(
            server.public_path(key, "prompt"), json={"prompt": f"question {n}"}
        )
        assert response.status_code == 200, response.text
    messages = (await server.anonymous.get(server.public_path(key, "messages"))).json()["data"]
    return {**opened, "clientId": client_id, "messages": messages}


def _ids(chat: dict, role: str) -> list[str]:
    return [m["id"] for m in chat["messages"] if m["role"] == role]


async def _rate(server: ServerHandle, key: str, message_id: str, body: Any) -> Any:
    return await server.anonymous.post(
        server.public_path(key, f"messages/{message_id}/feedback"), json=body
    )


async def _listing(server: ServerHandle, client_id: str, **query: Any) -> dict:
    response = await server.client.get(
        f"/api/v1/web-chat-client/{client_id}/feedback", params=query
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_rate_then_see_it_in_views_listing_and_transcripts(server: ServerHandle) -> None:
    chat = await _chat(server, turns=2)
    key, first, second = chat["accessKey"], *_ids(chat, "assistant")
    up = await _rate(server, key, first, {"rating": "up", "comment": "  spot on *really*  "})
    assert up.status_code == 200, up.text
    assert up.json()["data"]["feedback"]["rating"] == "up"
    down = await _rate(server, key, second, {"rating": "down"})
    assert down.status_code == 200, down.text

    # The talk page's reload sees its own ratings.
    messages = (await server.anonymous.get(server.public_path(key, "messages"))).json()["data"]
    by_id = {m["id"]: m for m in messages}
    assert by_id[first]["feedback"]["rating"] == "up"
    assert by_id[first]["feedback"]["comment"] == "spot on *really*"
    assert by_id[second]["feedback"]["rating"] == "down"
    assert all("feedback" not in m for m in messages if m["role"] == "user")

    listing = await _listing(server, chat["clientId"])
    assert [(i["messageId"], i["rating"]) for i in listing["items"]] == [
        (second, "down"),
        (first, "up"),
    ]
    assert listing["nextCursor"] is None
    assert set(listing["items"][0]) == {"sessionId", "messageId", "rating", "comment", "createdAt"}
    assert listing["items"][0]["sessionId"] == chat["sessionId"]
    only_up = await _listing(server, chat["clientId"], rating="up")
    assert [i["messageId"] for i in only_up["items"]] == [first]

    base = f"/api/v1/web-chat-client/{chat['clientId']}/sessions/{chat['sessionId']}/transcript"
    as_json = (await server.client.get(base)).json()["data"]["messages"]
    assert {m["id"]: m.get("feedback") for m in as_json}[second]["rating"] == "down"
    as_md = (await server.client.get(base, params={"format": "md"})).text
    assert "*Feedback: 👍 up: spot on \\*really\\**" in as_md
    assert "*Feedback: 👎 down*" in as_md


async def test_changing_and_removing_a_rating(server: ServerHandle) -> None:
    chat = await _chat(server)
    key, answer = chat["accessKey"], _ids(chat, "assistant")[0]
    assert (await _rate(server, key, answer, {"rating": "up"})).status_code == 200
    assert (
        await _rate(server, key, answer, {"rating": "down", "comment": "no"})
    ).status_code == 200
    items = (await _listing(server, chat["clientId"]))["items"]
    assert [(i["rating"], i["comment"]) for i in items] == [("down", "no")]  # replaced, not added
    removed = await _rate(server, key, answer, {"rating": None})
    assert removed.status_code == 200
    assert removed.json()["data"]["feedback"] is None
    assert (await _listing(server, chat["clientId"]))["items"] == []
    messages = (await server.anonymous.get(server.public_path(key, "messages"))).json()["data"]
    assert messages[-1]["feedback"] is None


async def test_bad_feedback_is_refused_and_changes_nothing(server: ServerHandle) -> None:
    chat = await _chat(server)
    other = await _chat(server, client_id=chat["clientId"])
    key = chat["accessKey"]
    answer, question = _ids(chat, "assistant")[0], _ids(chat, "user")[0]
    cases = [
        (question, {"rating": "up"}, 400, "assistant"),
        (_ids(other, "assistant")[0], {"rating": "up"}, 404, "not found"),
        ("0190a0a0-0000-7000-8000-000000000000", {"rating": "up"}, 404, "not found"),
        ("not-a-uuid", {"rating": "up"}, 404, "not found"),
        (answer, {"rating": "meh"}, 400, "rating"),
        (answer, {}, 400, "rating"),
        (answer, {"rating": "up", "comment": "x" * 1001}, 400, "comment"),
        (answer, {"rating": "up", "comment": 5}, 400, "comment"),
        (answer, {"rating": "up", "stars": 5}, 400, "stars"),
    ]
    for message_id, body, status, words in cases:
        response = await _rate(server, key, message_id, body)
        assert response.status_code == status, (body, response.text)
        envelope = response.json()
        assert envelope["data"] is None and words in envelope["message"].lower(), envelope
    exactly = await _rate(server, key, answer, {"rating": "up", "comment": "y" * 1000})
    assert exactly.status_code == 200
    wrong_key = await _rate(server, "wky_" + "a" * 40, answer, {"rating": "up"})
    assert wrong_key.status_code == 401
    items = (await _listing(server, chat["clientId"]))["items"]
    assert [(i["messageId"], len(i["comment"])) for i in items] == [(answer, 1000)]


async def test_listing_pages_newest_first_with_a_cursor(server: ServerHandle) -> None:
    chat = await _chat(server, turns=5)
    key = chat["accessKey"]
    answers = _ids(chat, "assistant")
    for n, answer in enumerate(answers):
        rating = "up" if n % 2 == 0 else "down"
        assert (await _rate(server, key, answer, {"rating": rating})).status_code == 200
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await _listing(server, chat["clientId"], **query)
        seen += [i["messageId"] for i in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == answers[::-1] and pages == 3
    ups = await _listing(server, chat["clientId"], rating="up", limit=2)
    rest = await _listing(server, chat["clientId"], rating="up", limit=2, cursor=ups["nextCursor"])
    assert [i["messageId"] for i in ups["items"] + rest["items"]] == answers[::-2]
    assert rest["nextCursor"] is None
    url = f"/api/v1/web-chat-client/{chat['clientId']}/feedback"
    for query in ({"limit": 0}, {"limit": 201}, {"rating": "sideways"}, {"cursor": "zz"}):
        bad = await server.client.get(url, params=query)
        assert bad.status_code == 400, (query, bad.text)
    assert (await server.anonymous.get(url)).status_code == 401
    unknown = "/api/v1/web-chat-client/0190a0a0-0000-7000-8000-000000000000/feedback"
    assert (await server.client.get(unknown)).status_code == 404


async def test_feedback_goes_with_the_conversation(server: ServerHandle) -> None:
    chat = await _chat(server)
    gone = await _chat(server, client_id=chat["clientId"])
    for c in (chat, gone):
        answer = _ids(c, "assistant")[0]
        assert (await _rate(server, c["accessKey"], answer, {"rating": "up"})).status_code == 200
    assert len((await _listing(server, chat["clientId"]))["items"]) == 2

    # Clearing (public) removes this conversation's feedback, not the other session's.
    cleared = await server.anonymous.delete(server.public_path(chat["accessKey"], "messages"))
    assert cleared.status_code == 200
    items = (await _listing(server, chat["clientId"]))["items"]
    assert [i["sessionId"] for i in items] == [gone["sessionId"]]
    # A rating for a cleared message is refused: the message is gone.
    stale = await _rate(server, chat["accessKey"], _ids(chat, "assistant")[0], {"rating": "up"})
    assert stale.status_code == 404

    # Deleting the session (management) removes its feedback too.
    path = f"/api/v1/web-chat-client/{chat['clientId']}/sessions/{gone['sessionId']}"
    assert (await server.client.delete(path)).status_code == 200
    assert (await _listing(server, chat["clientId"]))["items"] == []


async def test_feedback_is_durable_across_a_restart(data_dir) -> None:
    from support.server import running_server

    async with running_server(data_dir) as server:
        chat = await _chat(server)
        answer = _ids(chat, "assistant")[0]
        response = await _rate(
            server, chat["accessKey"], answer, {"rating": "down", "comment": "c"}
        )
        assert response.status_code == 200
        api_key = server.api_key
    async with running_server(data_dir, client_key=api_key) as server:
        items = (await _listing(server, chat["clientId"]))["items"]
        assert [(i["messageId"], i["rating"], i["comment"]) for i in items] == [
            (answer, "down", "c")
        ]
