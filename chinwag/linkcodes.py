"""Link codes of "Continue on Telegram / WhatsApp": their format, how they are made and found.

A code is `cw-` and 16 base32 letters (80 random bits). It fits a Telegram `/start` parameter
(A-Z, a-z, 0-9, _ and -, at most 64) and is easy to find inside a WhatsApp message even when the
user typed around it or the phone capitalised it. Storage keeps only its SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

LINK_TTL_SECONDS = 600.0
CODE_PATTERN = re.compile(r"(?<![A-Za-z0-9_-])cw-[a-z2-7]{16}(?![A-Za-z0-9_-])", re.IGNORECASE)


def new_code() -> str:
    return "cw-" + base64.b32encode(secrets.token_bytes(10)).decode().lower()


def find_code(text: str) -> str | None:
    """The first code-shaped word of `text`, normalised to lower case."""
    match = CODE_PATTERN.search(text)
    return match.group(0).lower() if match else None


def digest(code: str) -> bytes:
    return hashlib.sha256(code.strip().lower().encode()).digest()
