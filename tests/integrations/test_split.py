from hypothesis import given
from hypothesis import strategies as st

from chinwag.integrations.split import split_paragraphs, split_text, utf16_len


def test_short_text_is_one_message() -> None:
    assert split_text("Hello there.") == ["Hello there."]


def test_empty_text_is_no_message() -> None:
    assert split_text("   \n ") == []


def test_6000_characters_become_two_messages_under_4096() -> None:
    sentence = "This sentence is exactly fifty characters long ok. "
    text = (sentence * 120).strip()
    assert len(text) > 5900
    parts = split_text(text)
    assert len(parts) == 2
    assert all(len(part) < 4096 for part in parts)
    assert all(part.endswith(".") for part in parts)  # cut at a sentence end
    assert " ".join(parts) == text


def test_paragraph_boundary_is_preferred() -> None:
    first = "a" * 2500
    second = "b " * 1000
    parts = split_text(first + "\n\n" + second, limit=3000)
    assert parts[0] == first


def test_word_without_spaces_is_cut_hard() -> None:
    parts = split_text("x" * 9000)
    assert [len(p) for p in parts] == [4000, 4000, 1000]


def test_emoji_count_double() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units
    parts = split_text(text)
    assert all(utf16_len(p) <= 4000 for p in parts)
    assert "".join(parts) == text


def test_split_paragraphs_gives_one_message_per_paragraph() -> None:
    assert split_paragraphs("One.\n\nTwo.\n \nThree.") == ["One.", "Two.", "Three."]


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=20, max_value=500))
def test_parts_fit_and_keep_all_non_space_text(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(0 < utf16_len(p) <= limit for p in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())
