"""The echo assistant and the turn's text collection stay linear for huge prompts."""

from __future__ import annotations

from chinwag.actors.session import SessionActor, TurnOutcome
from chinwag.gateways.base import ContentDelta, ReasoningDelta, Turn, UsageReport
from chinwag.gateways.echo import PIECE_WORDS, WORD_BY_WORD, EchoAssistant


async def _events(prompt: str, delay: float | None = None) -> list:
    assistant = EchoAssistant(word_delay=delay)
    turn = Turn(messages=[{"role": "user", "content": prompt}])
    return [event async for event in assistant.stream(turn)]


async def test_short_replies_stream_word_by_word() -> None:
    events = await _events("three little words")
    texts = [e.text for e in events if isinstance(e, ContentDelta)]
    assert texts == ["You", " said:", " three", " little", " words"]
    assert isinstance(events[-1], UsageReport)


async def test_a_million_word_prompt_is_echoed_exactly_in_few_events() -> None:
    words = [f"w{i}" for i in range(1_000_000)]
    prompt = " ".join(words)
    events = await _events(prompt)
    deltas = [e for e in events if isinstance(e, ContentDelta)]
    assert "".join(e.text for e in deltas) == "You said: " + prompt
    # Word by word at first, then pieces: about a million words / PIECE_WORDS events.
    assert len(deltas) <= WORD_BY_WORD + (1_000_002 - WORD_BY_WORD) // PIECE_WORDS + 1


def test_turn_outcome_joins_pieces_once() -> None:
    outcome = TurnOutcome()
    for index in range(10_000):
        SessionActor._collect(ContentDelta(f"{index} "), outcome)
        SessionActor._collect(ReasoningDelta("r"), outcome)
    assert outcome.content == "".join(f"{i} " for i in range(10_000))
    assert outcome.content_parts == [outcome.content]  # joined once, kept joined
    assert outcome.reasoning == "r" * 10_000
    SessionActor._collect(ContentDelta("end"), outcome)
    assert outcome.content.endswith("9999 end")
