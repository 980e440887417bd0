"""What a turn sends to the model from a long history (issue 9 §5): the newest messages that fit
the context budget, read from the newest backwards; never the whole history."""

from __future__ import annotations

import msgspec

from chinwag.actors.history import amodel_history, history_budget, model_history
from chinwag.actors.session import new_id
from chinwag.config import Settings
from chinwag.facade import Chinwag
from chinwag.gateways.prompt_budget import prompt_tokens
from chinwag.records import Gateway, GatewayParameters, Message
from tests.gateways.fake_openai import start_fake_openai

STORED = 3_000


def _message(seq: int, text: str, **fields) -> Message:
    role = "user" if seq % 2 == 0 else "assistant"
    return Message(id=new_id(), seq=seq, role=role, content=text, created_at=0.0, **fields)


def _gateway(**parameters) -> Gateway:
    return Gateway(
        id=new_id(),
        name="g",
        parameters=GatewayParameters(**parameters),
        created_at=0.0,
        updated_at=0.0,
    )


def test_budget_comes_from_the_window_the_settings_or_echo() -> None:
    settings = Settings(default_context_window_tokens=32_000)
    openai = {"provider": "openai", "base_url": "http://model", "model": "m"}
    assert history_budget(_gateway(**openai), settings, 0) == 32_000
    windowed = _gateway(**openai, context_window_tokens=8_000, max_completion_tokens=1_000)
    assert history_budget(windowed, settings, 500) == 6_500  # answer room and context left out
    assert history_budget(_gateway(provider="echo"), settings, 0) == 0  # echo reads one message
    assert history_budget(_gateway(provider="echo", context_window_tokens=100), settings, 0) == 100


def test_history_keeps_the_turn_and_the_newest_messages_that_fit() -> None:
    stored = [_message(seq, f"message {seq:03d} " + "w" * 36) for seq in range(200)]
    marker = msgspec.structs.replace(_message(200, "", status="error"), role="assistant")
    question = msgspec.structs.replace(_message(201, "the question"), role="user")
    stored += [marker, question]  # an error marker is never sent
    read: list[int] = []

    def newest_first():
        for message in reversed(stored):
            read.append(message.seq)
            yield message

    sent = model_history(newest_first(), budget=200)
    assert sent[-1] == {"role": "user", "content": "the question"}
    assert prompt_tokens(sent) <= 200 + prompt_tokens(sent[-1:])
    assert [m["content"][:11] for m in sent[:-1]] == [
        f"message {seq:03d}" for seq in range(200 - len(sent) + 1, 200)
    ]
    assert len(read) <= len(sent) + 2  # it stopped reading at the first message that did not fit

    # Over budget, the turn itself is still sent (the server decides), and nothing else.
    assert model_history(iter(reversed(stored)), budget=0) == [sent[-1]]
    # An uncommitted prompt is the turn: stored messages follow it while they fit.
    extra = [{"role": "user", "content": "not stored"}]
    uncommitted = model_history(iter(reversed(stored[:200])), budget=60, extra=extra)
    assert uncommitted[-1] == extra[0] and 1 < len(uncommitted) < 10


async def test_async_history_picks_the_same_and_stops_at_the_batch_that_fills_it() -> None:
    """The turn's read on the Trio thread (Repository.amessages_backward batches): the same
    messages as the sync form, and no batch read after the one that spent the budget."""
    stored = [_message(seq, f"message {seq:03d} " + "w" * 36) for seq in range(400)]
    batches_read = 0

    async def batches(size: int = 32):
        nonlocal batches_read
        newest_first = stored[::-1]
        for start in range(0, len(newest_first), size):
            batches_read += 1
            yield newest_first[start : start + size]

    sent = await amodel_history(batches(), budget=200)
    assert sent == model_history(iter(stored[::-1]), budget=200)
    assert 2 < len(sent) < 32 and batches_read == 1
    batches_read = 0
    everything = await amodel_history(batches(), budget=10**9)
    assert len(everything) == 400 and batches_read == 13


async def test_the_model_gets_only_what_fits_from_a_long_history(
    mock_clock, cw: Chinwag, nursery
) -> None:
    fake = await start_fake_openai(nursery)
    gateway = await cw.create_gateway(
        "fake",
        {
            "provider": "openai",
            "baseUrl": fake.base_url,
            "model": "m",
            "contextWindowTokens": 1_000,
            "maxCompletionTokens": 200,
        },
    )
    client = await cw.create_client({"name": "c", "aiGatewayId": gateway.id})
    session = (await cw.open_session(client.id, expires=7 * 24 * 3600)).session
    ops, size = cw.repo.put_messages_sized(
        session.id,
        [
            _message(seq, f"old message {seq}", in_reply_to=seq - 1 if seq % 2 else None)
            for seq in range(STORED)
        ],
    )
    updated = msgspec.structs.replace(
        session, next_seq=STORED, message_count=STORED, history_bytes=size
    )
    # Written behind the session actor's back: stop it so the next ask reads storage afresh.
    cw.sessions.deactivate(session.id)
    await cw.repo.commit([*cw.repo.put_session(updated, previous=session), *ops])

    result = await cw.prompt(session.id, "and now?")
    assert result.completion_text == "You said: and now?"
    sent = fake.requests[-1].body["messages"]
    assert sent[-1] == {"role": "user", "content": "and now?"}
    assert prompt_tokens(sent) <= 800
    assert 20 < len(sent) < 200  # the newest messages that fit, not 3,000
    assert sent[-2] == {"role": "assistant", "content": f"old message {STORED - 1}"}
    contents = [m["content"] for m in sent[:-1]]
    first = int(contents[0].rsplit(" ", 1)[1])
    assert contents == [f"old message {seq}" for seq in range(first, STORED)]
