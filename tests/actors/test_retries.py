"""Retried prompts and the inReplyTo link, through the runtime facade (issue 9 §1)."""

from __future__ import annotations

import msgspec
import pytest
import trio

from chinwag.actors.limits import HOUR
from chinwag.actors.session import new_id
from chinwag.errors import ModelFailed
from chinwag.facade import Chinwag
from chinwag.records import Message
from chinwag.runtime import ActorCrashed
from tests.support.faults import CrashForTest

from .conftest import make_client


async def test_every_answer_names_the_message_it_answers(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    session_id = (await cw.open_session(client_id)).session.id
    await cw.prompt(session_id, "one")
    await cw.prompt(session_id, [{"type": "text", "text": "two"}])
    stored = cw.messages(session_id)
    assert [(m.role, m.in_reply_to) for m in stored] == [
        ("user", None),
        ("assistant", 0),
        ("user", None),
        ("assistant", 2),
    ]


async def test_a_key_is_found_however_far_back_its_turn_is(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    session_id = (await cw.open_session(client_id)).session.id
    first = await cw.prompt(session_id, "remember me", idempotency_key="far")
    for turn in range(40):  # 80 messages after it: beyond any "recent messages" window
        await cw.prompt(session_id, f"filler {turn}", idempotency_key=f"filler-{turn}")
    count = len(cw.messages(session_id))
    retried = await cw.prompt(session_id, "remember me", idempotency_key="far")
    assert retried.completion_text == "You said: remember me"
    assert retried.created_messages == first.created_messages
    assert retried.created_messages[1].in_reply_to == retried.created_messages[0].seq
    assert len(cw.messages(session_id)) == count  # nothing stored, the model was not asked


async def test_clearing_forgets_the_keys(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    session_id = (await cw.open_session(client_id)).session.id
    await cw.prompt(session_id, "hello", idempotency_key="k")
    await cw.clear_session(session_id)
    assert cw.repo.idempotency_entry(session_id, "k") is None
    again = await cw.prompt(session_id, "hello", idempotency_key="k")
    assert [m.seq for m in again.created_messages] == [2, 3]  # a new turn, not the old answer
    assert cw.repo.idempotency_entry(session_id, "k") == (2, 3)


async def test_deleting_the_session_drops_its_keys(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    session_id = (await cw.open_session(client_id)).session.id
    await cw.prompt(session_id, "hello", idempotency_key="k" * 200)  # long keys are hashed
    assert cw.repo.idempotency_entry(session_id, "k" * 200) == (0, 1)
    await cw.delete_session(client_id, session_id)
    assert cw.repo.idempotency_entry(session_id, "k" * 200) is None


async def _store_as_a_crash_left_it(cw: Chinwag, session_id: str, messages: list[Message]) -> None:
    """Write messages the way a process killed mid-turn leaves them (the actor is not live)."""
    cw.sessions.deactivate(session_id)
    repo = cw.repo
    session = repo.session(session_id)
    assert session is not None
    ops, size = repo.put_messages_sized(session_id, messages)
    for message in messages:
        if message.idempotency_key is not None:
            ops += repo.put_idempotency(session_id, message.idempotency_key, message.seq)
    updated = msgspec.structs.replace(
        session,
        next_seq=messages[-1].seq + 1,
        message_count=session.message_count + len(messages),
        history_bytes=session.history_bytes + size,
    )
    await repo.commit([*repo.put_session(updated, previous=session), *ops])


def _user(seq: int, text: str, key: str | None = None) -> Message:
    return Message(
        id=new_id(), seq=seq, role="user", content=text, created_at=0.0, idempotency_key=key
    )


async def test_unanswered_message_retried_is_answered_from_the_history_up_to_it(
    mock_clock, cw: Chinwag
) -> None:
    client_id = await make_client(cw)
    session_id = (await cw.open_session(client_id)).session.id
    await cw.prompt(session_id, "before")
    await _store_as_a_crash_left_it(cw, session_id, [_user(2, "lost in the crash", "k1")])
    for _ in range(2):
        retried = await cw.prompt(session_id, "lost in the crash", idempotency_key="k1")
        assert retried.completion_text == "You said: lost in the crash"
        user, answer = retried.created_messages
        assert (user.seq, answer.seq, answer.in_reply_to) == (2, 3, 2)
    assert len(cw.messages(session_id)) == 4


async def test_next_prompt_answers_the_unanswered_message_first(mock_clock, cw: Chinwag) -> None:
    """The documented rule: the model never sees a history ending in someone else's exchange."""
    client_id = await make_client(cw)
    session_id = (await cw.open_session(client_id)).session.id
    await _store_as_a_crash_left_it(cw, session_id, [_user(0, "unanswered", "k1")])
    result = await cw.prompt(session_id, "next question")
    assert result.completion_text == "You said: next question"
    stored = cw.messages(session_id)
    assert [(m.seq, m.role, m.content, m.in_reply_to) for m in stored] == [
        (0, "user", "unanswered", None),
        (1, "assistant", "You said: unanswered", 0),
        (2, "user", "next question", None),
        (3, "assistant", "You said: next question", 2),
    ]
    retried = await cw.prompt(session_id, "unanswered", idempotency_key="k1")
    assert [m.seq for m in retried.created_messages] == [0, 1]
    assert cw.get_session(client_id, session_id).message_count == 4


async def test_a_failed_answer_is_retried_only_while_it_is_the_newest(
    mock_clock, cw: Chinwag
) -> None:
    client_id = await make_client(cw)
    gateway_id = cw.get_client(client_id).ai_gateway_id
    session_id = (await cw.open_session(client_id)).session.id
    await cw.update_gateway(
        gateway_id,
        {"parameters": {"provider": "openai", "baseUrl": "http://127.0.0.1:9/v1", "model": "m"}},
    )
    for key in ("a", "b"):
        with pytest.raises(ModelFailed):
            await cw.prompt(session_id, f"question {key}", idempotency_key=key)
    await cw.update_gateway(gateway_id, {"parameters": {"provider": "echo"}})
    # "b" failed last: its retry is answered now, in its error marker's place.
    retried = await cw.prompt(session_id, "question b", idempotency_key="b")
    assert retried.completion_text == "You said: question b"
    assert retried.created_messages[1].in_reply_to == retried.created_messages[0].seq
    assert retried.created_messages[1].seq == retried.created_messages[0].seq + 1
    # "a" failed before "b" was asked: answering it now would break the history's order.
    with pytest.raises(ModelFailed, match="send it again as a new message"):
        await cw.prompt(session_id, "question a", idempotency_key="a")
    assert [(m.seq, m.role, m.status) for m in cw.messages(session_id)] == [
        (0, "user", "complete"),
        (1, "assistant", "error"),
        (2, "user", "complete"),
        (3, "assistant", "complete"),
    ]
    assert cw.repo.session(session_id).message_count == 4


async def test_recent_prompts_kept_only_for_messages_per_hour(mock_clock, cw: Chinwag) -> None:
    client_id = await make_client(cw)
    session_id = (await cw.open_session(client_id, expires=7 * 24 * 3600)).session.id
    for turn in range(5):
        await cw.prompt(session_id, f"unlimited {turn}")
    assert cw.repo.session(session_id).recent_prompts == []  # nothing to count

    await cw.update_client(client_id, {"limitingParameters": {"messagesPerHour": 3}})
    for turn in range(3):
        await cw.prompt(session_id, f"limited {turn}")
        mock_clock.jump(HOUR / 2 + 1)  # the oldest prompt leaves the window every two turns
    recent = cw.repo.session(session_id).recent_prompts
    assert 1 <= len(recent) <= 3
    for turn in range(10):
        await cw.prompt(session_id, f"later {turn}")
        mock_clock.jump(HOUR / 3 + 1)
        assert len(cw.repo.session(session_id).recent_prompts) <= 3


async def test_a_turn_running_through_an_actor_restart_is_stored_linked(
    mock_clock, cw: Chinwag
) -> None:
    client_id = await make_client(cw, delay=1.0)
    session_id = (await cw.open_session(client_id)).session.id
    results = []

    async def ask() -> None:
        results.append(await cw.prompt(session_id, "slow one two three"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)
        await trio.sleep(1.5)  # the reply is streaming
        with pytest.raises(ActorCrashed):
            await cw.sessions.ask(session_id, CrashForTest())
    assert cw.supervisor.restart_count == 1
    assert results[0].completion_text == "You said: slow one two three"
    stored = cw.messages(session_id)
    assert [(m.seq, m.role, m.in_reply_to) for m in stored] == [
        (0, "user", None),
        (1, "assistant", 0),
    ]
    assert cw.get_session(client_id, session_id).message_count == 2
    # The restarted actor is not left thinking a turn runs: the next prompt goes through.
    assert (await cw.prompt(session_id, "next")).completion_text == "You said: next"
