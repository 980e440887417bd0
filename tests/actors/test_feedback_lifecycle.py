"""Feedback through the runtime facade with a mock clock: read-only after expiry, gone after
purge, never left behind by a conversation it rated."""

from __future__ import annotations

import pytest
import trio

from chinwag.errors import Conflict, InvalidInput, NotFound
from chinwag.facade import Chinwag

from .conftest import make_client

DAY = 24 * 3600


async def test_feedback_is_purged_with_the_expired_session(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    opened = await cw.open_session(client_id, expires=DAY)
    sid = opened.session.id
    result = await cw.prompt(sid, "rate this")
    answer = result.created_messages[-1]
    record = await cw.set_feedback(sid, answer.id, "up", "  nice  ")
    assert record is not None and record.comment == "nice" and record.seq == answer.seq
    assert record.created_at == pytest.approx(cw.core.clock.now(), abs=5)
    assert list(cw.feedback_by_message(sid)) == [answer.id]

    await trio.sleep(DAY + 60)  # expired: kept read-only for the retention
    with pytest.raises(Conflict):
        await cw.set_feedback(sid, answer.id, "down")
    items, _ = cw.list_feedback(client_id)
    assert [(i.message_id, i.rating) for i in items] == [(answer.id, "up")]

    await trio.sleep(7 * DAY + 120)  # retention over: purged with its history and feedback
    assert cw.list_feedback(client_id) == ([], None)
    assert cw.repo.session_feedback(sid) == []


async def test_feedback_rules(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    sid = (await cw.open_session(client_id, expires=DAY)).session.id
    user, answer = (await cw.prompt(sid, "hello")).created_messages
    with pytest.raises(InvalidInput):
        await cw.set_feedback(sid, user.id, "up")
    with pytest.raises(InvalidInput):
        await cw.set_feedback(sid, answer.id, "sideways")
    with pytest.raises(InvalidInput):
        await cw.set_feedback(sid, answer.id, "up", "x" * 1001)
    with pytest.raises(NotFound):
        await cw.set_feedback(sid, "nope", "up")
    assert await cw.set_feedback(sid, answer.id, None) is None  # removing nothing is fine
    await cw.set_feedback(sid, answer.id, "down")
    await cw.set_feedback(sid, answer.id, "up")
    items, cursor = cw.list_feedback(client_id, rating="up")
    assert [(i.rating, cursor) for i in items] == [("up", None)]
    assert cw.list_feedback(client_id, rating="down") == ([], None)
    await cw.delete_client(client_id)
    assert cw.repo.client_feedback(client_id, limit=10) == []
