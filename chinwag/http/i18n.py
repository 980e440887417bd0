"""The talk page's strings in en, pt-BR and es, and the choice of language for a request.

One JSON catalog (static/i18n.json) serves both sides: the server renders the notice screens
(invalid link, expired session) from it, and the page receives its language's strings embedded
in its configuration, so there is no second request and no untranslated flash.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

SUPPORTED = ("en", "pt-BR", "es")
DEFAULT = "en"
CATALOG_PATH = Path(__file__).parent / "static" / "i18n.json"


@cache
def catalog() -> dict[str, dict[str, str]]:
    """Every language's strings, loaded once."""
    data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    return {code: data[code] for code in SUPPORTED}


def strings(language: str) -> dict[str, str]:
    """The strings of one supported language (English for anything else)."""
    return catalog().get(language, catalog()[DEFAULT])


def supported(tag: str | None) -> str | None:
    """The supported language matching a BCP 47 tag ("pt" and "pt-PT" read as pt-BR), or None."""
    if not tag:
        return None
    primary = tag.strip().split("-")[0].split("_")[0].lower()
    return {"en": "en", "pt": "pt-BR", "es": "es"}.get(primary)


def from_accept_language(header: str | None) -> str | None:
    """The best supported language of an Accept-Language header, honouring q-values."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = supported(tag)
        if language and quality > 0:
            ranked.append((-quality, index, language))
    return min(ranked)[2] if ranked else None


def choose(configured: str | None, accept_language: str | None) -> str:
    """The client's languageCode, else the browser's language, else English."""
    return choose_with_source(configured, accept_language)[0]


def choose_with_source(
    configured: str | None, accept_language: str | None, hint: str | None = None
) -> tuple[str, str]:
    """(language, where it came from): the client's languageCode ("client"), else the page's
    `?lang=` hint that talk.js sets from navigator.language ("hint"), else Accept-Language
    ("browser"), else English ("default")."""
    if language := supported(configured):
        return language, "client"
    if language := supported(hint):
        return language, "hint"
    if language := from_accept_language(accept_language):
        return language, "browser"
    return DEFAULT, "default"
