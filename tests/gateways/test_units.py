"""Pure pieces of the OpenAI assistant: think-tag splitting, prompt budget, retry timing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chinwag.gateways.prompt_budget import fit_messages, prompt_budget, prompt_tokens
from chinwag.gateways.retry_after import parse_retry_after
from chinwag.gateways.think_tags import ThinkSplitter
from chinwag.retry import RetryPolicy


def split_all(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    reasoning, content = [], []
    for piece in [*pieces, None]:
        thought, said = splitter.feed(piece) if piece is not None else splitter.flush()
        reasoning.append(thought)
        content.append(said)
    return "".join(reasoning), "".join(content)


def test_think_block_in_one_piece():
    assert split_all(["<think>hmm</think>Answer"]) == ("hmm", "Answer")


def test_no_tags_is_all_content():
    assert split_all(["a < b", " and <thin", "g>"]) == ("", "a < b and <thing>")


def test_unclosed_think_is_all_reasoning():
    assert split_all(["<think>still thinking"]) == ("still thinking", "")


@given(
    st.text(alphabet="ab<>/thinkx ", max_size=40),
    st.text(alphabet="ab<>x ", max_size=40),
    st.lists(st.integers(min_value=0, max_value=120), max_size=8),
)
def test_any_split_gives_the_same_result(thought, answer, cuts):
    whole = f"<think>{thought.replace('</think>', '')}</think>{answer}"
    points = sorted({c % (len(whole) + 1) for c in cuts})
    pieces = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)], strict=True)]
    assert split_all(pieces) == split_all([whole])


def test_fit_messages_keeps_system_and_last_user():
    system = {"role": "system", "content": "s" * 40}
    old = [{"role": "user", "content": "u" * 400}, {"role": "assistant", "content": "a" * 400}]
    last = {"role": "user", "content": "now"}
    messages = [system, *old, *old, last]
    fitted = fit_messages(messages, 150)
    assert fitted[0] is system and fitted[-1] is last
    assert fitted == [system, old[1], last]
    assert prompt_tokens(fitted) <= 150
    # Nothing droppable left: returned as is, the server decides.
    assert fit_messages([system, last], 1) == [system, last]


def test_fit_messages_drops_tool_results_with_their_call():
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}],
    }
    result = {"role": "tool", "tool_call_id": "1", "content": "r" * 400}
    messages = [
        {"role": "user", "content": "q"},
        call,
        result,
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "now"},
    ]
    fitted = fit_messages(messages, 20)
    assert all(m.get("role") != "tool" for m in fitted)


def test_budget_reserves_room_for_the_answer():
    assert prompt_budget(8000, 1000) == 7000
    assert prompt_budget(8000, None) == 8000
    assert prompt_budget(1000, 5000) == 1000


def test_backoff_grows_with_jitter_and_honours_retry_after():
    policy = RetryPolicy(first_delay=0.5, max_delay=8.0, max_retry_after=20.0)
    assert policy.delay(1, None, rand=0.0) == 0.25
    assert policy.delay(1, None, rand=1.0) == 0.5
    assert policy.delay(3, None, rand=1.0) == 2.0
    assert policy.delay(10, None, rand=1.0) == 8.0
    assert policy.delay(1, 3.0) == 3.0
    assert policy.delay(1, 999.0) == 20.0


def test_parse_retry_after():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
