"""Readable text from HTML with the standard library's parser (no DOM, no scripts)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose text is never content.
_SKIP = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object"}
# Elements that start a new line of text.
_BLOCK = {
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tr", "td", "th", "ul",
}  # fmt: skip


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.skip_depth = 0
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        elif tag in _SKIP:
            self.skip_depth += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The visible text of an HTML document: title first, one line per block, spaces squeezed."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    lines = []
    for line in "".join(collector.parts).splitlines():
        squeezed = re.sub(r"\s+", " ", line).strip()
        if squeezed:
            lines.append(squeezed)
    title = re.sub(r"\s+", " ", "".join(collector.title)).strip()
    if title:
        lines.insert(0, f"# {title}")
    return "\n".join(lines)
