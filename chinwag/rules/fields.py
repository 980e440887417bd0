"""Constrained field types: each bound once, readable by msgspec (validation) and by the
OpenAPI document (JSON Schema). `extra` carries what error sentences say beyond the numbers:
`rule` (what a pattern means), `unit`, `note` (why the bound is what it is)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from chinwag.rules import bounds as b

# An http(s) URL with a host; no spaces or control characters. `$(?!\n)`: Python's `$` would
# also match before a final newline, ECMAScript's (JSON Schema's) never does.
HTTP_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+([/?#]\S*)?$(?!\n)"
ORIGIN_PATTERN = r"^(https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?|'self')$(?!\n)"
VISIBLE_PATTERN = r"\S"

HttpUrl = Annotated[
    str,
    Meta(
        max_length=b.MAX_URL_CHARS,
        pattern=HTTP_URL_PATTERN,
        extra={"rule": "an http(s) URL"},
        description="An http(s) URL.",
    ),
]
Name = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=b.MAX_NAME_CHARS,
        pattern=VISIBLE_PATTERN,
        extra={"rule": "text with at least one visible character"},
    ),
]
Identifier = Annotated[str, Meta(min_length=1, max_length=b.MAX_ID_CHARS)]
Secret = Annotated[str, Meta(max_length=b.MAX_SECRET_CHARS)]
Label = Annotated[str, Meta(max_length=b.MAX_LABEL_CHARS)]
CustomCode = Annotated[str, Meta(max_length=b.MAX_CUSTOM_CODE_CHARS)]
Origin = Annotated[
    str,
    Meta(
        pattern=ORIGIN_PATTERN,
        extra={"rule": "an origin such as https://example.com, https://*.example.com or 'self'"},
    ),
]
ImageOrigin = Annotated[
    str,
    Meta(
        pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$(?!\n)",
        extra={
            "rule": "an origin such as https://images.example.com (scheme, host and optional port)"
        },
    ),
]
LimitValue = Annotated[int, Meta(ge=1, le=b.MAX_LIMIT_VALUE)]
Expires = Annotated[
    int,
    Meta(
        ge=b.MIN_EXPIRES,
        le=b.MAX_EXPIRES,
        extra={"unit": "seconds", "note": "10 minutes to 90 days"},
        description="Seconds the session lives (and is renewed by on a tag call).",
    ),
]
Tag = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=b.MAX_TAG_BYTES,
        description=f"At most {b.MAX_TAG_BYTES} bytes in UTF-8.",
    ),
]
ExtraContext = Annotated[
    str,
    Meta(
        max_length=b.MAX_EXTRA_CONTEXT_BYTES,
        description=f"At most {b.MAX_EXTRA_CONTEXT_BYTES // b.KIB} KiB in UTF-8.",
    ),
]
Instructions = Annotated[
    str,
    Meta(
        max_length=b.MAX_INSTRUCTIONS_CHARS,
        description="Extra instructions for this turn; they count toward userInputMaxTokens.",
    ),
]
IdempotencyKey = Annotated[str, Meta(min_length=1, max_length=b.MAX_IDEMPOTENCY_KEY_CHARS)]
# Chat-app credentials go into API URLs (…/bot<token>/…, …/instances/<id>/token/<token>/…):
# only the characters real ones use, so no token can change the URL or break the request.
BotToken = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z0-9_:-]+$(?!\n)",
        extra={"rule": "a Telegram bot token (letters, digits, '_', '-' and ':')"},
    ),
]
ZapiCredential = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z0-9_-]+$(?!\n)",
        extra={"rule": "a Z-API id or token (letters, digits, '_' and '-')"},
    ),
]
