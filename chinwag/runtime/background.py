"""One policy for every background loop (sweeper, integration purge, recovery).

A background loop works through items nobody is waiting for: sessions due for purge, chat-app
updates to re-dispatch after a restart, old dedup markers. Whatever one item does (a record
that no longer decodes, an actor that cannot start), the loop must go on and the server must
keep serving: an exception escaping a loop would end `open_runtime` and stop the server.

So each item is handled on its own; a failure is logged with the loop's name and the item's
id (traceback included), counted in `/metrics` as
`chinwag_background_failures_total{loop="…"}`, and the loop goes on with the next item. The
loop itself decides when the failed item is tried again, and never at once (the sweeper moves
it an hour later; recovery runs once per start; the purge loop runs hourly), so one bad item
cannot make a loop spin.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

log = logging.getLogger("chinwag.background")

# Loops that report failures here (listed so /metrics shows them at 0 from the start).
LOOPS = ("sweeper", "integration_recovery", "integration_purge")


class BackgroundFailures:
    """Failure counts per loop, for /metrics; `failed` logs and counts one item's failure."""

    def __init__(self, loops: Iterable[str] = LOOPS) -> None:
        self.counts: dict[str, int] = dict.fromkeys(loops, 0)

    def failed(self, loop: str, item: str, error: BaseException) -> None:
        """Record that `item` (a readable id: "session <id>", "inbox <key>") failed in `loop`."""
        self.counts[loop] = self.counts.get(loop, 0) + 1
        log.error(
            "background loop %s: %s failed and was skipped (%s: %s)",
            loop,
            item,
            type(error).__name__,
            error,
            exc_info=error,
        )

    def total(self, loop: str) -> int:
        return self.counts.get(loop, 0)

    def metric(self) -> dict[str, object]:
        """The labelled counter as chinwag.http.metrics exports it."""
        return {"label": "loop", "values": dict(self.counts)}
