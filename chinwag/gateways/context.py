"""The per-turn context a session reads from its `contextLocation` URL.

Fetched on every user message, never cached (the point is fresh data: a cart, an account
page), as text, capped in size, through the same private-address guard as `fetch_url`. A
failed fetch must not fail the turn, so every failure is logged and returns None.
"""

from __future__ import annotations

import logging

import httpx

from chinwag.gateways.fetch import FetchError, UrlGuard, display_url, fetch_page

log = logging.getLogger(__name__)

NO_CACHE = {"Cache-Control": "no-cache", "Pragma": "no-cache"}
# The most of a contextLocation's text one turn uses (API.md Revision 2), in UTF-8 bytes.
MAX_CONTEXT_BYTES = 64 * 1024


def clip_utf8(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` of UTF-8, never inside a character."""
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


async def fetch_context(
    http: httpx.AsyncClient,
    url: str,
    *,
    allow_private: bool,
    timeout: float = 5.0,  # noqa: ASYNC109 - a deadline per fetch, part of the contract
    max_bytes: int = MAX_CONTEXT_BYTES,
    guard: UrlGuard | None = None,
) -> str | None:
    """The text at `url` for this turn, or None (logged) when it cannot be had.

    HTML is reduced to its visible text; other text types are passed as they are. At most
    `max_bytes` of the (decompressed) body are read, and the text used is cut to `max_bytes`
    of UTF-8 as well (decoding can grow it: an invalid byte becomes a 3-byte U+FFFD).
    Non-2xx answers, non-text types, refused addresses, network errors and timeouts all give
    None.
    """
    try:
        page = await fetch_page(
            http,
            url,
            guard=guard or UrlGuard(allow_private=allow_private),
            max_bytes=max_bytes,
            timeout=timeout,
            headers=NO_CACHE,
        )
    except FetchError as error:
        log.warning("contextLocation not used: %s", error)
        return None
    except Exception:  # a context fetch must never fail the turn
        log.exception("contextLocation %s failed unexpectedly", display_url(url))
        return None
    if not 200 <= page.status < 300:
        log.warning("contextLocation %s answered HTTP %d", display_url(url), page.status)
        return None
    return clip_utf8(page.text, max_bytes)
