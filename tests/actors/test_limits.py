"""The chat client's limits, at their exact boundaries."""

from __future__ import annotations

import pytest
import trio

from chinwag.errors import InvalidInput, LimitReached, RateLimited
from chinwag.facade import Chinwag

from .conftest import make_client


async def test_max_messages_blocks_until_cleared_and_never_trims(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw, limits={"maxMessages": 4})
    opened = await cw.open_session(client_id)
    await cw.prompt(opened.session.id, "one")
    assert not cw.limit_state(opened.session.id)["blocked"]
    await cw.prompt(opened.session.id, "two")  # 4 messages held: the limit is reached
    assert cw.limit_state(opened.session.id)["blockedBy"] == "maxMessages"
    with pytest.raises(LimitReached, match="within its limit of 4 \\(maxMessages\\)"):
        await cw.prompt(opened.session.id, "three")
    assert len(cw.messages(opened.session.id)) == 4  # nothing trimmed, nothing added
    await cw.clear_session(opened.session.id)
    assert (await cw.prompt(opened.session.id, "three")).completion_text == "You said: three"


async def test_max_messages_needs_room_for_the_reply(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw, limits={"maxMessages": 3})
    opened = await cw.open_session(client_id)
    await cw.prompt(opened.session.id, "one")
    with pytest.raises(LimitReached):
        await cw.prompt(opened.session.id, "two")
    assert len(cw.messages(opened.session.id)) == 2


async def test_max_conversation_tokens(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    opened = await cw.open_session(client_id)
    first = await cw.prompt(opened.session.id, "count my tokens please")
    used = first.usage.total_tokens
    await cw.update_client(client_id, {"limitingParameters": {"maxConversationTokens": used + 1}})
    await cw.prompt(opened.session.id, "one more")  # used < limit before this turn
    with pytest.raises(LimitReached, match="maxConversationTokens"):
        await cw.prompt(opened.session.id, "over")
    await cw.clear_session(opened.session.id)
    await cw.prompt(opened.session.id, "fresh conversation")


async def test_user_input_max_tokens_boundary(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw, limits={"userInputMaxTokens": 5})
    opened = await cw.open_session(client_id)
    await cw.prompt(opened.session.id, "x" * 20)  # 20 chars = 5 tokens: allowed
    with pytest.raises(LimitReached, match="at most 5 tokens per message"):
        await cw.prompt(opened.session.id, "x" * 21)  # 6 tokens
    assert len(cw.messages(opened.session.id)) == 2


async def test_messages_per_hour_with_retry_after(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw, limits={"messagesPerHour": 2})
    opened = await cw.open_session(client_id, expires=7200)
    await cw.prompt(opened.session.id, "one")
    await trio.sleep(600)
    await cw.prompt(opened.session.id, "two")
    with pytest.raises(RateLimited) as caught:
        await cw.prompt(opened.session.id, "three")
    assert caught.value.retry_after == pytest.approx(3000, abs=2)
    await trio.sleep(3001)
    await cw.prompt(opened.session.id, "three")


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"maxMessages": 0}, "limitingParameters.maxMessages must be between 2 and 1000000000"),
        ({"maxMessages": 1}, "between 2 and 1000000000 \\(a user message and its reply\\)"),
        ({"maxMessages": 2**63}, "limitingParameters.maxMessages must be between 2 and"),
        ({"maxMessages": "ten"}, "limitingParameters.maxMessages"),
        ({"messagesPerHour": -1}, "limitingParameters.messagesPerHour must be between 1 and"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_invalid_limits_are_refused(mock_clock, cw: Chinwag, limits, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        await make_client(cw, limits=limits)
    assert cw.list_clients() == []


@pytest.mark.parametrize(
    "origins",
    [["https://a.com\r\nX-Injected: 1"], ["not an origin"], ["https://a.com; script-src *"]],
)
async def test_frame_origins_must_be_origins(mock_clock, cw: Chinwag, origins) -> None:
    with pytest.raises(InvalidInput, match=r"allowedFrameOrigins\[0\] must be an origin"):
        await make_client(cw, allowedFrameOrigins=origins)
    client_id = await make_client(
        cw, allowedFrameOrigins=["https://shop.example.com:8443", "'self'"]
    )
    with pytest.raises(InvalidInput, match="allowedFrameOrigins"):
        await cw.update_client(client_id, {"clientParameters": {"allowedFrameOrigins": origins}})
    assert cw.get_client(client_id).client_parameters.allowed_frame_origins[1] == "'self'"


async def test_metadata_that_cannot_be_stored_is_refused(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    with pytest.raises(InvalidInput, match="64 bits"):
        await cw.open_session(client_id, metadata={"n": 10**30})
    with pytest.raises(InvalidInput, match="at most 16 KiB"):
        await cw.open_session(client_id, metadata={"blob": "x" * 70_000})
    assert cw.list_sessions(client_id)[0] == []
