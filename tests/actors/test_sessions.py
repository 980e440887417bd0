"""Session rules (API.md) through the runtime facade: tags, expiry, renewal, retention, turns."""

from __future__ import annotations

import pytest
import trio

from chinwag import Chinwag, open_runtime
from chinwag.actors.limits import RENEWAL_WINDOW
from chinwag.errors import (
    Conflict,
    InvalidInput,
    LimitReached,
    NotFound,
    SessionExpired,
    Unauthorized,
)
from chinwag.gateways.base import ContentDelta

from .conftest import make_client

DAY = 24 * 3600


@pytest.mark.parametrize(
    ("expires", "ok"), [(599, False), (600, True), (7_776_000, True), (7_776_001, False)]
)
async def test_expires_bounds(mock_clock, cw: Chinwag, expires: int, ok: bool) -> None:
    client_id = await make_client(cw)
    if ok:
        opened = await cw.open_session(client_id, expires=expires)
        assert opened.session.expires_at - opened.session.created_at == pytest.approx(expires)
    else:
        with pytest.raises(InvalidInput, match="expires must be between 600 and 7776000 seconds"):
            await cw.open_session(client_id, expires=expires)
        assert cw.list_sessions(client_id)[0] == []


async def test_default_expiry_is_one_hour_and_ids_are_uuid7(cw: Chinwag) -> None:
    client_id = await make_client(cw)
    opened = await cw.open_session(client_id)
    assert opened.session.expires_at - opened.session.created_at == pytest.approx(3600)
    assert opened.session.id[14] == "7"
    assert opened.access_key.startswith("wky_")
    assert opened.talk_url.endswith(f"/chat/{opened.access_key}")


async def test_tag_returns_same_session_renewed_with_context_replaced(
    mock_clock, cw: Chinwag
) -> None:
    client_id = await make_client(cw)
    first = await cw.open_session(
        client_id, tag="user-1", expires=600, extra_context="a", metadata={"plan": "free"}
    )
    await trio.sleep(300)
    second = await cw.open_session(
        client_id, tag="user-1", expires=7200, extra_context="b", metadata={"plan": "pro"}
    )
    assert second.session.id == first.session.id
    assert second.access_key == first.access_key
    stored = cw.get_session(client_id, first.session.id)
    assert stored.expires_at == pytest.approx(cw.core.clock.now() + 7200, abs=1)
    assert stored.extra_context == "b"
    assert stored.metadata == {"plan": "pro"}
    other = await cw.open_session(client_id, tag="user-2")
    assert other.session.id != first.session.id


async def test_hundred_concurrent_tag_calls_yield_one_session(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    results = []

    async def open_one() -> None:
        results.append(await cw.open_session(client_id, tag="shared"))

    async with trio.open_nursery() as nursery:
        for _ in range(100):
            nursery.start_soon(open_one)
    assert len({r.session.id for r in results}) == 1
    assert len({r.access_key for r in results}) == 1
    sessions, _ = cw.list_sessions(client_id)
    assert len(sessions) == 1


async def test_expired_session_refuses_and_tag_call_creates_a_new_one(
    mock_clock, cw: Chinwag
) -> None:
    client_id = await make_client(cw)
    opened = await cw.open_session(client_id, tag="t", expires=600)
    await cw.prompt(opened.session.id, "before")  # 10 minutes left: renewed to now + 20 min
    await trio.sleep(RENEWAL_WINDOW - 1)
    assert cw.resolve_access_key(opened.access_key).id == opened.session.id
    await trio.sleep(2)
    with pytest.raises(SessionExpired):
        await cw.prompt(opened.session.id, "after")
    with pytest.raises(SessionExpired):
        cw.resolve_access_key(opened.access_key)
    # Read-only during retention: the history is still there.
    assert cw.resolve_access_key(opened.access_key, allow_expired=True).id == opened.session.id
    assert cw.messages(opened.session.id)[0].content == "before"
    with pytest.raises(Conflict, match="read-only"):
        await cw.clear_session(opened.session.id)
    renewed = await cw.open_session(client_id, tag="t", expires=600)
    assert renewed.session.id != opened.session.id
    assert renewed.access_key != opened.access_key


async def test_user_message_renews_only_inside_the_last_twenty_minutes(
    mock_clock, cw: Chinwag
) -> None:
    client_id = await make_client(cw)
    opened = await cw.open_session(client_id, expires=3600)
    original = opened.session.expires_at
    await trio.sleep(3600 - 25 * 60)  # 25 minutes left: no renewal
    await cw.prompt(opened.session.id, "hi")
    assert cw.get_session(client_id, opened.session.id).expires_at == original
    await trio.sleep(10 * 60)  # 15 minutes left: renewed to now + 20 minutes
    await cw.prompt(opened.session.id, "hi again")
    now = cw.core.clock.now()
    assert cw.get_session(client_id, opened.session.id).expires_at == pytest.approx(
        now + RENEWAL_WINDOW, abs=1
    )


async def test_ninety_days_then_retention_then_purge(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    opened = await cw.open_session(client_id, expires=7_776_000, tag="long")
    await cw.prompt(opened.session.id, "remember me")
    await trio.sleep(90 * DAY - 60)
    assert cw.resolve_access_key(opened.access_key).id == opened.session.id
    await trio.sleep(120)
    with pytest.raises(SessionExpired):
        cw.resolve_access_key(opened.access_key)
    await trio.sleep(7 * DAY - 120)  # retention (7 days) not over yet
    assert cw.get_session(client_id, opened.session.id).message_count == 2
    await trio.sleep(240)
    with pytest.raises(NotFound):
        cw.get_session(client_id, opened.session.id)
    assert cw.messages(opened.session.id) == []
    with pytest.raises(Unauthorized):
        cw.resolve_access_key(opened.access_key)
    assert cw.core.metrics.sessions_purged == 1


async def test_idle_session_actor_passivates_and_reactivates_with_history(
    mock_clock, cw: Chinwag
) -> None:
    client_id = await make_client(cw)
    opened = await cw.open_session(client_id, expires=DAY)
    await cw.prompt(opened.session.id, "one")
    assert cw.sessions.is_active(opened.session.id)
    await trio.sleep(299)
    assert cw.sessions.is_active(opened.session.id)
    await trio.sleep(2)
    assert not cw.sessions.is_active(opened.session.id)
    assert cw.sessions.passivations >= 1
    await cw.prompt(opened.session.id, "two")
    assert [m.content for m in cw.messages(opened.session.id)] == [
        "one",
        "You said: one",
        "two",
        "You said: two",
    ]


async def test_one_turn_at_a_time_in_order_and_bounded_queue(mock_clock, cw: Chinwag) -> None:
    from chinwag.errors import RateLimited

    client_id = await make_client(cw, delay=1.0)
    opened = await cw.open_session(client_id)
    outcomes: dict[str, object] = {}

    async def send(text: str) -> None:
        try:
            outcomes[text] = (await cw.prompt(opened.session.id, text)).completion_text
        except RateLimited as exc:
            outcomes[text] = exc

    async with trio.open_nursery() as nursery:
        for text in ("a", "b", "c", "d"):
            nursery.start_soon(send, text)
            await trio.sleep(0.01)
    # One running plus max_queued_prompts=2 waiting; the fourth is refused with 429.
    assert outcomes["a"] == "You said: a"
    assert outcomes["b"] == "You said: b"
    assert outcomes["c"] == "You said: c"
    assert isinstance(outcomes["d"], RateLimited)
    roles = [(m.role, m.content) for m in cw.messages(opened.session.id)]
    assert roles == [
        ("user", "a"),
        ("assistant", "You said: a"),
        ("user", "b"),
        ("assistant", "You said: b"),
        ("user", "c"),
        ("assistant", "You said: c"),
    ]


async def test_stop_keeps_the_partial_reply(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw, delay=1.0)
    opened = await cw.open_session(client_id)
    seen = []
    async for item in cw.prompt_stream(opened.session.id, "one two three four five six"):
        if isinstance(item, ContentDelta):
            seen.append(item.text)
            if len(seen) == 2:
                assert await cw.stop(opened.session.id)
        else:
            final = item
    assert final.result.status == "stopped"
    stored = cw.messages(opened.session.id)
    assert stored[-1].status == "stopped"
    assert stored[-1].content == "".join(seen) == "You said:"
    assert not await cw.stop(opened.session.id)
    # No usage came from the model before the stop: the spent tokens are estimated, not zero.
    assert stored[-1].usage is not None and stored[-1].usage.output_tokens == 3
    assert cw.get_session(client_id, opened.session.id).conversation_usage.total_tokens > 3


async def test_uncommitted_prompt_is_answered_but_not_stored(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    opened = await cw.open_session(client_id)
    result = await cw.prompt(opened.session.id, "ephemeral", commit=False)
    assert result.completion_text == "You said: ephemeral"
    assert result.created_messages == []
    assert cw.messages(opened.session.id) == []
    assert cw.get_session(client_id, opened.session.id).usage.total_tokens > 0


async def test_clear_keeps_session_and_key_delete_kills_key(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    opened = await cw.open_session(client_id)
    await cw.prompt(opened.session.id, "hello")
    await cw.clear_session(opened.session.id)
    assert cw.messages(opened.session.id) == []
    assert cw.resolve_access_key(opened.access_key).id == opened.session.id
    await cw.prompt(opened.session.id, "again")
    assert [m.seq for m in cw.messages(opened.session.id)] == [2, 3]
    await cw.delete_session(client_id, opened.session.id)
    with pytest.raises(Unauthorized):
        cw.resolve_access_key(opened.access_key)
    assert cw.messages(opened.session.id) == []


async def test_everything_survives_a_restart_on_the_same_directory(mock_clock, settings) -> None:
    async with open_runtime(settings) as first:
        client_id = await make_client(first)
        opened = await first.open_session(client_id, tag="keep", metadata={"k": 1})
        await first.prompt(opened.session.id, "persist me")
    async with open_runtime(settings) as second:
        again = await second.open_session(client_id, tag="keep", metadata={"k": 1})
        assert again.session.id == opened.session.id
        assert again.access_key == opened.access_key
        assert [m.content for m in second.messages(opened.session.id)] == [
            "persist me",
            "You said: persist me",
        ]


async def test_idempotent_retry_is_answered_from_the_stored_turn(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    opened = await cw.open_session(client_id)
    first = await cw.prompt(opened.session.id, "pay invoice 7", idempotency_key="req-1")
    again = await cw.prompt(opened.session.id, "pay invoice 7", idempotency_key="req-1")
    assert again.completion_text == first.completion_text
    assert [m.id for m in again.created_messages] == [m.id for m in first.created_messages]
    assert len(cw.messages(opened.session.id)) == 2
    assert cw.core.metrics.turns_started == 1
    await cw.prompt(opened.session.id, "pay invoice 7", idempotency_key="req-2")
    assert len(cw.messages(opened.session.id)) == 4
    with pytest.raises(Conflict, match="already used for a different prompt"):
        await cw.prompt(opened.session.id, "pay invoice 8", idempotency_key="req-1")
    # Even once a limit blocks new turns, a retry still gets its stored answer.
    await cw.update_client(client_id, {"limitingParameters": {"maxMessages": 4}})
    assert (
        await cw.prompt(opened.session.id, "pay invoice 7", idempotency_key="req-2")
    ).status == "complete"
    with pytest.raises(LimitReached):
        await cw.prompt(opened.session.id, "new one", idempotency_key="req-3")


async def test_stored_but_unanswered_prompt_is_answered_once_on_retry(mock_clock, settings) -> None:
    """A crash between storing the user message and storing the reply: the retry answers the
    stored message instead of storing it a second time."""
    async with open_runtime(settings) as first:
        client_id = await make_client(first, delay=5.0)  # a slow reply
        opened = await first.open_session(client_id)
        with trio.move_on_after(2):
            await first.prompt(opened.session.id, "are you there?", idempotency_key="u-9")
        # Simulate the crash: the reply was never stored, only the user message.
        assert [m.role for m in first.messages(opened.session.id)] == ["user"]
        first.core.closing = True  # do not store the cancelled reply at shutdown
        first.sessions.deactivate(opened.session.id)
    async with open_runtime(settings) as second:
        await second.update_gateway(
            second.get_client(client_id).ai_gateway_id, {"parameters": {"streamDelaySeconds": 0}}
        )
        result = await second.prompt(opened.session.id, "are you there?", idempotency_key="u-9")
        assert result.completion_text == "You said: are you there?"
        stored = second.messages(opened.session.id)
        assert [(m.role, m.status) for m in stored][-2:] == [
            ("user", "complete"),
            ("assistant", "complete"),
        ]
        assert [m.content for m in stored if m.role == "user"] == ["are you there?"]


async def test_list_filters_by_tag_session_id_and_external_id(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    tagged = await cw.open_session(client_id, tag="crm-7")
    await cw.open_session(client_id)
    phone = await cw.open_channel_session(client_id, "zapi", "5511999990000", 3 * 3600)
    assert [s.id for s in cw.list_sessions(client_id, filter="crm-7")[0]] == [tagged.session.id]
    assert [s.id for s in cw.list_sessions(client_id, filter=tagged.session.id)[0]] == [
        tagged.session.id
    ]
    assert [s.id for s in cw.list_sessions(client_id, filter="5511999990000")[0]] == [phone.id]
    assert cw.list_sessions(client_id, filter="nobody")[0] == []
    page, cursor = cw.list_sessions(client_id, limit=2)
    rest, end = cw.list_sessions(client_id, limit=2, cursor=cursor)
    assert len(page) == 2 and len(rest) == 1 and end is None


async def test_copies_of_one_keyed_prompt_do_not_fill_the_queue(mock_clock, cw: Chinwag) -> None:
    """A client retrying one prompt on several connections (same Idempotency-Key) while the
    queue is full: the copies wait for that prompt's answer instead of getting 429."""
    from chinwag.errors import RateLimited

    client_id = await make_client(cw, delay=1.0)
    opened = await cw.open_session(client_id)
    outcomes: dict[str, object] = {}

    async def send(label: str, text: str, key: str | None) -> None:
        try:
            result = await cw.prompt(opened.session.id, text, idempotency_key=key)
            outcomes[label] = result.completion_text
        except RateLimited as exc:
            outcomes[label] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send, "running", "a", None)
        await trio.sleep(0.01)
        for copy in range(4):  # max_queued_prompts=2: two would fill the queue
            nursery.start_soon(send, f"copy{copy}", "b", "k-b")
            await trio.sleep(0.01)
        nursery.start_soon(send, "other", "c", "k-c")  # a different prompt is still refused
        await trio.sleep(0.01)
    assert outcomes["running"] == "You said: a"
    for copy in range(4):
        assert outcomes[f"copy{copy}"] == "You said: b", outcomes
    assert isinstance(outcomes["other"], RateLimited)
    roles = [(m.role, m.content) for m in cw.messages(opened.session.id)]
    assert roles == [
        ("user", "a"),
        ("assistant", "You said: a"),
        ("user", "b"),
        ("assistant", "You said: b"),
    ]
