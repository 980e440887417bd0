"""Per-session bounds of a turn over real HTTP: the history size bound and userInputMaxTokens
counting the per-prompt instructions (issue 9 §2, API.md Revision 2 "Bounds")."""

from __future__ import annotations

import time
from pathlib import Path

from support.server import ServerHandle, running_server

from chinwag.actors.session import new_id
from chinwag.records import Message
from chinwag.storage.engine import LmdbEngine
from chinwag.storage.keys import TABLES
from chinwag.storage.repository import Repository


def stored_size(text: str, seq: int, tmp_path: Path) -> int:
    """The bytes a user message with `text` takes once stored (what the bound counts)."""
    engine = LmdbEngine.open(tmp_path / "sizing", TABLES)
    try:
        message = Message(id=new_id(), seq=seq, role="user", content=text, created_at=time.time())
        return Repository(engine).put_messages_sized(new_id(), [message])[1]
    finally:
        engine.close()


async def _prompt(server: ServerHandle, key: str, text: str, **body):
    return await server.anonymous.post(
        server.public_path(key, "prompt"), json={"prompt": text, **body}
    )


async def test_history_size_bound_at_the_boundary(tmp_path: Path) -> None:
    text = "x" * 100
    bound = stored_size(text, 0, tmp_path)  # the first message fills the history exactly
    async with running_server(tmp_path / "data", max_history_bytes=bound) as server:
        client_id = await server.create_client()
        fits = await server.open_session(client_id)
        over = await server.open_session(client_id)

        # One byte more than the bound, alone: clearing cannot help, so it is not "full" (403)
        # but "this message is too large" (413); nothing is stored, for JSON and SSE alike.
        for accept in ("application/json", "text/event-stream"):
            response = await server.anonymous.post(
                server.public_path(over["accessKey"], "prompt"),
                json={"prompt": text + "x"},
                headers={"Accept": accept},
            )
            assert response.status_code == 413, response.text
            message = response.json()["message"]
            assert "message is too large" in message and "clear" not in message
            assert "CHINWAG_MAX_HISTORY_BYTES" in message
        messages = await server.anonymous.get(server.public_path(over["accessKey"], "messages"))
        assert messages.json()["data"] == []

        # Exactly the bound: accepted (its answer is stored too, so the history is now over).
        response = await _prompt(server, fits["accessKey"], text)
        assert response.status_code == 200, response.text
        path = f"/api/v1/web-chat-client/{client_id}/sessions/{fits['sessionId']}"
        size = (await server.client.get(path)).json()["data"]["historyBytes"]
        assert size > bound
        info = await server.anonymous.get(server.public_path(fits["accessKey"], "session"))
        assert info.json()["data"]["limits"]["blockedBy"] == "maxHistoryBytes"

        # Full until cleared, like maxMessages.
        response = await _prompt(server, fits["accessKey"], "y")
        assert response.status_code == 403
        assert "conversation is full" in response.json()["message"]
        cleared = await server.anonymous.delete(server.public_path(fits["accessKey"], "messages"))
        assert cleared.status_code == 200
        assert (await server.client.get(path)).json()["data"]["historyBytes"] == 0
        response = await _prompt(server, fits["accessKey"], text)
        assert response.status_code == 200, response.text


async def test_instructions_count_toward_user_input_max_tokens(server: ServerHandle) -> None:
    client_id = await server.create_client(limiting_parameters={"userInputMaxTokens": 10})
    key = (await server.open_session(client_id))["accessKey"]
    # "hi" is 1 token; 36 characters of instructions are 9: exactly the limit.
    response = await _prompt(server, key, "hi", instructions="i" * 36)
    assert response.status_code == 200, response.text
    # One character more makes the instructions 10 tokens: over the limit.
    response = await _prompt(server, key, "hi", instructions="i" * 37)
    assert response.status_code == 403, response.text
    assert "userInputMaxTokens" in response.json()["message"]
    # The same prompt without instructions is fine: the instructions made the difference.
    assert (await _prompt(server, key, "hi")).status_code == 200
    messages = (await server.anonymous.get(server.public_path(key, "messages"))).json()["data"]
    assert len(messages) == 4  # the refused prompt stored nothing
