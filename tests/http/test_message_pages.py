"""Message pages (API.md Revision 2 "Paging") and streamed transcripts, over real HTTP."""

from __future__ import annotations

import json

import pytest
from support.server import ServerHandle


async def _conversation(server: ServerHandle, turns: int) -> tuple[str, dict]:
    client_id = await server.create_client()
    opened = await server.open_session(client_id)
    for turn in range(turns):
        response = await server.anonymous.post(
            server.public_path(opened["accessKey"], "prompt"), json={"prompt": f"turn {turn}"}
        )
        assert response.status_code == 200, response.text
    return client_id, opened


def _seqs(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [m["seq"] for m in response.json()["data"]]


async def test_public_pages_walk_back_from_the_newest(server: ServerHandle) -> None:
    _client_id, opened = await _conversation(server, 7)
    path = server.public_path(opened["accessKey"], "messages")
    everything = (await server.anonymous.get(path)).json()["data"]
    assert [m["seq"] for m in everything] == list(range(14))  # default limit 100: all of them
    for message in everything:
        if message["role"] == "assistant":
            assert message["inReplyTo"] == message["seq"] - 1
            assert message["content"] == f"You said: turn {message['seq'] // 2}"
        else:
            assert message["inReplyTo"] is None

    assert _seqs(await server.anonymous.get(path, params={"limit": 5})) == [9, 10, 11, 12, 13]
    assert _seqs(await server.anonymous.get(path, params={"limit": 5, "before": 9})) == [
        4,
        5,
        6,
        7,
        8,
    ]
    assert _seqs(await server.anonymous.get(path, params={"limit": 5, "before": 4})) == [0, 1, 2, 3]
    assert _seqs(await server.anonymous.get(path, params={"limit": 5, "before": 0})) == []
    # A `before` past the end is just "the newest page".
    assert _seqs(await server.anonymous.get(path, params={"limit": 2, "before": 10**6})) == [12, 13]


async def test_management_pages_match_the_public_ones(server: ServerHandle) -> None:
    client_id, opened = await _conversation(server, 3)
    path = f"/api/v1/web-chat-client/{client_id}/sessions/{opened['sessionId']}/messages"
    public = server.public_path(opened["accessKey"], "messages")
    for params in ({}, {"limit": 2}, {"limit": 2, "before": 3}, {"limit": 500, "before": 6}):
        managed = await server.client.get(path, params=params)
        assert (
            managed.json()["data"]
            == (await server.anonymous.get(public, params=params)).json()["data"]
        )
    assert _seqs(await server.client.get(path, params={"limit": 4})) == [2, 3, 4, 5]
    # The session must belong to the client named in the path; the API key is required.
    other = await server.create_client()
    wrong = f"/api/v1/web-chat-client/{other}/sessions/{opened['sessionId']}/messages"
    assert (await server.client.get(wrong)).status_code == 404
    assert (await server.anonymous.get(path)).status_code == 401


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-3"}, "limit"),
        ({"before": "-1"}, "before"),
        ({"before": "1.5"}, "before"),
        ({"before": "seven"}, "before"),
        ({"before": "\u00b2"}, "before"),  # a digit to str.isdigit(), not to int()
        ({"before": str(1 << 63)}, "before"),
    ],
)
async def test_bad_page_parameters_are_400_naming_them(
    server: ServerHandle, params: dict, named: str
) -> None:
    client_id, opened = await _conversation(server, 1)
    for path, http in (
        (server.public_path(opened["accessKey"], "messages"), server.anonymous),
        (
            f"/api/v1/web-chat-client/{client_id}/sessions/{opened['sessionId']}/messages",
            server.client,
        ),
    ):
        response = await http.get(path, params=params)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["data"] is None and named in body["message"]


async def test_transcripts_stream_the_whole_history(server: ServerHandle) -> None:
    turns = 40  # 80 messages: several of the transcript's read pages
    client_id, opened = await _conversation(server, turns)
    base = f"/api/v1/web-chat-client/{client_id}/sessions/{opened['sessionId']}/transcript"
    async with server.client.stream("GET", base) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert "attachment" in response.headers["content-disposition"]
        assert "content-length" not in response.headers  # streamed, not materialised
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    body = json.loads(raw)
    assert body["message"] is None
    assert body["data"]["session"]["sessionId"] == opened["sessionId"]
    messages = body["data"]["messages"]
    assert [m["seq"] for m in messages] == list(range(2 * turns))
    assert [m["content"] for m in messages[-2:]] == [
        f"turn {turns - 1}",
        f"You said: turn {turns - 1}",
    ]

    markdown = await server.client.get(base, params={"format": "md"})
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    text = markdown.text
    assert f"- Messages: {2 * turns}" in text
    assert text.count("## User") == turns and text.count("## Assistant") == turns
    assert (
        text.index("turn 0\n") < text.index("You said: turn 0") < text.index(f"turn {turns - 1}\n")
    )


async def test_empty_history_transcript_is_valid_json(server: ServerHandle) -> None:
    client_id = await server.create_client()
    opened = await server.open_session(client_id)
    path = f"/api/v1/web-chat-client/{client_id}/sessions/{opened['sessionId']}/transcript"
    response = await server.client.get(path)
    assert response.status_code == 200
    assert response.json()["data"]["messages"] == []
