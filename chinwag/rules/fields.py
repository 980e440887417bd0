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
# At least one visible character, no control characters (C0, DEL, C1): a name is shown in
# pages, logs and terminals.
_PLAIN = r"[^\x00-\x1f\x7f-\x9f]"
NAME_PATTERN = rf"^{_PLAIN}*[^\s\x00-\x1f\x7f-\x9f]{_PLAIN}*$(?!\n)"
# A tag is any text without control characters (it is echoed in listings, logs and filters).
TAG_PATTERN = rf"^{_PLAIN}+$(?!\n)"
# An Idempotency-Key travels in an HTTP header: printable ASCII only (space to `~`), so a key
# means the same bytes to every client, proxy and log.
IDEMPOTENCY_KEY_PATTERN = r"^[ -~]+$(?!\n)"
IDEMPOTENCY_KEY_RULE = "printable ASCII characters (letters, digits, punctuation, spaces)"
# A CSS colour the talk page can put in a style: #rgb, #rgba, #rrggbb, #rrggbbaa, a colour
# function of numbers (rgb(), hsl(), oklch(), ...) or a colour keyword.
COLOR_PATTERN = (
    r"^(#([0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})"
    r"|(rgba?|hsla?|oklch|oklab|lab|lch)\([0-9a-zA-Z.,%/ +-]*\)"
    r"|[a-zA-Z]{3,30})$(?!\n)"
)

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
        pattern=NAME_PATTERN,
        extra={"rule": "text with at least one visible character and no control characters"},
    ),
]
CssColor = Annotated[
    str,
    Meta(
        max_length=64,
        pattern=COLOR_PATTERN,
        extra={"rule": "a CSS colour such as #0f766e, #abc, rgb(15, 118, 110) or teal"},
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
        pattern=TAG_PATTERN,
        extra={"rule": "text without control characters"},
        description=f"At most {b.MAX_TAG_BYTES} bytes in UTF-8, no control characters.",
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
IdempotencyKey = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=b.MAX_IDEMPOTENCY_KEY_CHARS,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        extra={"rule": IDEMPOTENCY_KEY_RULE},
    ),
]
LastEventId = Annotated[
    str,
    Meta(
        max_length=b.MAX_LAST_EVENT_ID_CHARS,
        description="The `id` of the last event received: `<reply id>.<n>`.",
        examples=["3f9a1c2b7d4e.17"],
    ),
]
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
