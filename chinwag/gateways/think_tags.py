"""Split `<think>...</think>` blocks out of streamed content.

Some OpenAI-compatible servers (DeepSeek-R1 distills on vLLM/Ollama/llama.cpp) put the model's
reasoning inline in `content`, wrapped in think tags, instead of a separate `reasoning_content`
field. Tags may arrive split across chunks ("<thi", "nk>"), so a tail that could be the start of
a tag is held back until the next chunk decides it.
"""

from __future__ import annotations

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper beginning of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ThinkSplitter:
    """Feed content pieces; get back (reasoning, content) text for each."""

    def __init__(self) -> None:
        self.in_think = False
        self.pending = ""

    def feed(self, text: str) -> tuple[str, str]:
        """Return the reasoning and content this piece settles (either may be empty)."""
        if "<" not in text and not self.pending:
            # The common case: no tag anywhere near, nothing to scan.
            return (text, "") if self.in_think else ("", text)
        buffer = self.pending + text
        self.pending = ""
        reasoning: list[str] = []
        content: list[str] = []
        while buffer:
            tag = CLOSE_TAG if self.in_think else OPEN_TAG
            out = reasoning if self.in_think else content
            at = buffer.find(tag)
            if at >= 0:
                out.append(buffer[:at])
                buffer = buffer[at + len(tag) :]
                self.in_think = not self.in_think
                continue
            keep = _partial_tag_suffix(buffer, tag)
            out.append(buffer[: len(buffer) - keep])
            self.pending = buffer[len(buffer) - keep :]
            break
        return "".join(reasoning), "".join(content)

    def flush(self) -> tuple[str, str]:
        """At the end of the stream, release a held-back tail that never became a tag."""
        tail, self.pending = self.pending, ""
        return (tail, "") if self.in_think else ("", tail)
