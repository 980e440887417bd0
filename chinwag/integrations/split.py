"""Split a reply into messages a chat app accepts, cutting where a reader would pause.

Telegram refuses messages over 4096 characters (counted in UTF-16 code units), so long answers
become several messages. Cutting mid-word or mid-sentence reads badly, so the cut prefers, in
order: a blank line (paragraph), a line break, the end of a sentence, a space, and only as a last
resort a hard cut.
"""

from __future__ import annotations

import re

TELEGRAM_LIMIT = 4000  # safely below Telegram's 4096, leaves room for UTF-16 rounding
ZAPI_LIMIT = 4000

_SENTENCE_END = re.compile(r"[.!?…。](?:[\"')\]]*)\s")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (emoji outside the BMP count twice)."""
    return len(text.encode("utf-16-le")) // 2


def _prefix_fitting(text: str, limit: int) -> int:
    """The number of code points of `text` whose UTF-16 length is at most `limit`."""
    if utf16_len(text) <= limit:
        return len(text)
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _cut_point(window: str) -> int:
    """Where to cut a window that is too long: the latest natural boundary in its second half."""
    floor = len(window) // 2
    for separator in ("\n\n", "\n"):
        at = window.rfind(separator, floor)
        if at > 0:
            return at + len(separator)
    ends = [m.end() for m in _SENTENCE_END.finditer(window, floor)]
    if ends:
        return ends[-1]
    at = window.rfind(" ", floor)
    if at > 0:
        return at + 1
    return len(window)


def split_text(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Chunks of `text`, each at most `limit` UTF-16 units, none empty, order kept."""
    if limit < 2:
        raise ValueError("limit must be at least 2")
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        fitting = _prefix_fitting(rest, limit)
        if fitting >= len(rest):
            chunks.append(rest)
            break
        cut = _cut_point(rest[:fitting])
        chunk = rest[:cut].rstrip()
        if not chunk:  # only whitespace before the cut: take the window as it is
            chunk, cut = rest[:fitting], fitting
        chunks.append(chunk)
        rest = rest[cut:].lstrip()
    return chunks


def split_paragraphs(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """One message per paragraph (for `splitAnswerIntoMessageChunks`), each within `limit`."""
    chunks: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        chunks.extend(split_text(paragraph, limit))
    return chunks
