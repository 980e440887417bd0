"""Session actors under supervision: restarted with their history, stopped past the limit."""

from __future__ import annotations

import pytest
import trio.testing

from chinwag.facade import Chinwag
from chinwag.runtime import ActorCrashed
from tests.support.faults import CrashForTest

from .conftest import make_client


async def test_crashed_session_actor_restarts_with_history_intact(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    opened = await cw.open_session(client_id)
    await cw.prompt(opened.session.id, "before the crash")
    with pytest.raises(ActorCrashed):
        await cw.sessions.ask(opened.session.id, CrashForTest())
    assert cw.supervisor.restart_count == 1
    result = await cw.prompt(opened.session.id, "after the crash")
    assert result.completion_text == "You said: after the crash"
    assert [m.content for m in cw.messages(opened.session.id)] == [
        "before the crash",
        "You said: before the crash",
        "after the crash",
        "You said: after the crash",
    ]
    assert cw.get_session(client_id, opened.session.id).message_count == 4


async def test_crash_past_restart_limit_stops_child_and_others_keep_working(
    mock_clock, cw: Chinwag
) -> None:
    client_id = await make_client(cw)
    doomed = await cw.open_session(client_id)
    healthy = await cw.open_session(client_id)
    await cw.prompt(healthy.session.id, "hello")
    limit = cw.settings.restart_limit
    for _ in range(limit + 1):
        with pytest.raises(ActorCrashed):
            await cw.sessions.ask(doomed.session.id, CrashForTest())
    await trio.testing.wait_all_tasks_blocked()
    assert [f.name for f in cw.supervisor.failures] == [f"session:{doomed.session.id}"]
    assert not cw.sessions.is_active(doomed.session.id)
    result = await cw.prompt(healthy.session.id, "still here")
    assert result.completion_text == "You said: still here"
    # The stopped session's data is intact; a later request activates it afresh.
    assert (await cw.prompt(doomed.session.id, "back")).completion_text == "You said: back"
