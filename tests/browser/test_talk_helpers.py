"""The talk page's server-side helpers: language choice, catalog, CSP and template escaping."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chinwag.http import i18n, talk


@pytest.mark.parametrize(
    ("configured", "accept", "expected"),
    [
        ("pt-BR", "es-ES,es;q=0.9", "pt-BR"),
        (None, "es-ES,es;q=0.9,en;q=0.5", "es"),
        (None, "fr-FR,pt-PT;q=0.8,en;q=0.7", "pt-BR"),
        (None, "de-DE, en;q=0.2, es;q=0.4", "es"),
        (None, "fr-FR", "en"),
        (None, None, "en"),
        (None, "es;q=0, en-GB", "en"),
        (None, "pt;q=abc, es", "es"),
    ],
)
def test_language_is_the_client_setting_then_the_browser_then_english(
    configured: str | None, accept: str | None, expected: str
) -> None:
    assert i18n.choose(configured, accept) == expected


def test_language_hint_from_the_page_ranks_below_the_client_setting() -> None:
    assert i18n.choose_with_source("es", "pt-BR", "pt-BR") == ("es", "client")
    assert i18n.choose_with_source(None, "fr", "pt-BR") == ("pt-BR", "hint")
    assert i18n.choose_with_source(None, "es-MX", None) == ("es", "browser")
    assert i18n.choose_with_source(None, "fr", "xx") == ("en", "default")


def test_every_language_translates_every_string() -> None:
    catalog = i18n.catalog()
    assert set(catalog) == {"en", "pt-BR", "es"}
    english = catalog["en"]
    for code, strings in catalog.items():
        assert set(strings) == set(english), code
        for key, text in strings.items():
            assert text.strip(), (code, key)
            assert re.findall(r"{\w+}", text) == re.findall(r"{\w+}", english[key]), (code, key)
    # pt-BR and es are real translations, not copies of English.
    for key in ("hello", "placeholder", "clear", "expiredTitle", "limitReached"):
        assert catalog["pt-BR"][key] != english[key]
        assert catalog["es"][key] != english[key]


def test_every_string_the_page_script_uses_exists() -> None:
    script = (Path(talk.STATIC_DIR) / "talk.js").read_text()
    used = set(re.findall(r"\bS\.(\w+)", script)) | set(re.findall(r'\bt\("(\w+)"', script))
    assert used, "the script reads no strings?"
    assert used <= set(i18n.catalog()["en"]), used - set(i18n.catalog()["en"])
    template = (Path(talk.STATIC_DIR).parent / "templates" / "talk.html").read_text()
    assert set(re.findall(r'strings\["(\w+)"\]', template)) <= set(i18n.catalog()["en"])


@pytest.mark.parametrize(
    ("origins", "expected"),
    [
        ([], "*"),
        (["https://shop.example"], "'self' https://shop.example"),
        (
            ["https://a.example/", "http://localhost:3000"],
            "'self' https://a.example http://localhost:3000",
        ),
        (["https://*.example.com"], "'self' https://*.example.com"),
        (["https://evil.example; script-src *"], "'self'"),
        (["bad origin"], "'self'"),
    ],
)
def test_frame_ancestors(origins: list[str], expected: str) -> None:
    assert talk.frame_ancestors(origins) == expected


def test_custom_css_cannot_close_its_style_element() -> None:
    css = "a > b { content: '</style><script>alert(1)</script>' } </STYLE >"
    rendered = str(talk.css_text(css))
    assert "</style" not in rendered.lower()
    assert "a > b" in rendered  # not HTML-escaped: entities are not decoded inside <style>


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("#0f766e", True),
        ("#abc", True),
        ("rgb(10, 20, 30)", True),
        ("hsl(200 50% 40%)", True),
        ("teal", True),
        ("red; } body { display: none", False),
        ("url(javascript:alert(1))", False),
        ("", False),
        (None, False),
    ],
)
def test_primary_color_accepts_plain_colours_only(value: str | None, accepted: bool) -> None:
    assert (talk.primary_color(value) is not None) is accepted


def test_vendored_libraries_are_present_with_licenses() -> None:
    vendor = Path(talk.STATIC_DIR) / "vendor"
    for name in ("marked.min.js", "purify.min.js", "marked.LICENSE", "dompurify.LICENSE"):
        assert (vendor / name).stat().st_size > 500, name
    catalog = json.loads((Path(talk.STATIC_DIR) / "i18n.json").read_text())
    assert catalog["pt-BR"]["send"] == "Enviar"
