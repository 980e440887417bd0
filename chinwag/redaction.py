"""Credentials out of every text chinwag keeps or shows: `redact(text)`.

Upstream errors are the usual carriers: a model server's 401 body quotes the API key
("Incorrect API key provided: sk-…"), httpx errors name the URL (with `user:password@` or
`?key=`), Telegram URLs hold the bot token and Z-API URLs the instance token. Those texts are
worth keeping for operators, so they are kept *redacted*: the upstream errors redact their
message when they are made (chinwag.errors.UpstreamError), the management views redact again
(records written before this existed), and the log handlers redact every line (RedactingFilter).

Rules (each replaces only the secret, so the sentence stays readable):
- `scheme://user:password@host` → `scheme://***@host`
- query parameters named like a credential (`key`, `api_key`, `token`, `secret`, `password`,
  `sig`, `signature`, `auth`, `access_token`, `client_secret`, …) → `name=***`
- `Bearer <token>`, `Authorization: <scheme> <token>` → `Bearer ***`
- OpenAI-style keys (`sk-…`, `sk-proj-…`, `sess-…`, `org-…` over 16 characters) → `sk-***`
- Telegram bot tokens (`<digits>:<35 characters>`, also in `/bot<token>/` URLs) → `***`
- Z-API instance tokens (`/token/<token>/`) → `/token/***/`
- `apiKey=…`, `"api_key": "…"`, `password: …`, `secret=…`, `token=…` style assignments (also
  inside an upstream's HTML or text error page) → `apiKey=***`
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # user:password@ (or a lone token@) in any URL.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@"), r"\1" + MASK + "@"),
    # Telegram bot tokens: in /bot<token>/ URLs and bare.
    (re.compile(r"\bbot\d{5,}:[A-Za-z0-9_-]{20,}"), "bot" + MASK),
    (re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}"), MASK),
    # Z-API instance token in its URL.
    (re.compile(r"(?i)(/token/)[^/\s?#]+"), r"\1" + MASK),
    # Authorization headers: `Bearer <token>` anywhere, any scheme after `Authorization:`.
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1" + MASK),
    (
        re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?[A-Za-z]+\s+)[^\s\"',;]+"),
        r"\1" + MASK,
    ),
    # Session access keys (`wky_…`, a talk page's credential): keep a short prefix to tell
    # sessions apart in the log.
    (re.compile(r"(?i)\b(wky_[a-z2-7]{8})[a-z2-7]{8,}"), r"\1" + MASK),
    # Provider key shapes (OpenAI sk-/sk-proj-, Anthropic sk-ant-, session and org keys).
    (re.compile(r"\b(sk|sess|rk|pk)-[A-Za-z0-9_-]{12,}"), r"\1-" + MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"), MASK),  # Google API keys
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), MASK),  # Slack tokens
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), MASK),  # GitHub tokens
    # Query parameters and assignments named like credentials.
    (
        re.compile(
            r"(?i)([?&;](?:api[_-]?key|key|token|access[_-]?token|refresh[_-]?token|id[_-]?token"
            r"|auth|authorization|secret|client[_-]?secret|password|passwd|pwd|sig|signature"
            r"|x-amz-signature|x-amz-credential|x-amz-security-token|code)=)[^&#\s\"']+"
        ),
        r"\1" + MASK,
    ),
    (
        re.compile(
            r"(?i)([\"']?\b(?:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|client[_-]?secret"
            r"|password|passwd|pwd|passphrase|secret|token|bot[_-]?token|instance[_-]?token"
            r"|client[_-]?token|auth[_-]?token|access[_-]?token|refresh[_-]?token|id[_-]?token"
            r"|session[_-]?token|private[_-]?key|credentials?)[\"']?\s*[:=]\s*[\"']?)"
            r"[^\s\"',;&}]+"
        ),
        r"\1" + MASK,
    ),
)


def redact(text: str) -> str:
    """`text` with every credential it may hold replaced by `***` (idempotent)."""
    if not text:
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def masked_url(url: str) -> str:
    """A URL to show an operator: `user:password@` becomes `user:***@` (a lone `token@` becomes
    `***@`), credential-like query parameters are masked; the stored URL is kept as is."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return redact(url)
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, has_password, _ = userinfo.partition(":")
    shown = f"{user}:{MASK}" if has_password and user else MASK
    rest = redact(urlunsplit(parts._replace(netloc=host)))
    head = rest.find("://") + 3
    return rest[:head] + shown + "@" + rest[head:]


class RedactingFilter(logging.Filter):
    """A handler filter: the formatted message and traceback of every record, redacted.

    Installed on the server's log handlers (see `install_log_redaction`), so a secret in an
    httpx error or a library's own log line is never written to the log in the clear.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format: leave the record to the handler's own error path
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add RedactingFilter to every handler of `logger` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
