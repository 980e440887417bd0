"""`sessionDuration` ("hh:mm:ss") <-> seconds, with the same bounds as web sessions."""

from __future__ import annotations

import re

from chinwag.errors import InvalidInput
from chinwag.rules.bounds import MAX_EXPIRES, MIN_EXPIRES

MIN_SECONDS = MIN_EXPIRES
MAX_SECONDS = MAX_EXPIRES
DEFAULT = "03:00:00"
_PATTERN = re.compile(r"^(\d{1,4}):([0-5]\d):([0-5]\d)$")


def parse_duration(text: str, field: str = "sessionDuration") -> float:
    """Seconds of an "hh:mm:ss" duration between 00:10:00 and 2160:00:00 (90 days)."""
    match = _PATTERN.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise InvalidInput(f'{field} must look like "hh:mm:ss" (for example "03:00:00")')
    hours, minutes, seconds = (int(group) for group in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not MIN_SECONDS <= total <= MAX_SECONDS:
        raise InvalidInput(
            f"{field} must be between 00:10:00 and 2160:00:00 (10 minutes to 90 days)"
        )
    return float(total)
