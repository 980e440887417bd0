"""Ending a node's lease early, when its process is known to be gone.

Waiting `CHINWAG_NODE_LEASE_SECONDS` is how the cluster learns that a node died when nobody can
tell; but a node that stops cleanly (its actors released their sessions, its writes are flushed)
knows, and so does the parent of `serve --workers` whose worker exited (waitpid: the process
and its writes are gone). Either ends the node's lease at once, so /healthz stops counting it
and its sessions and chat-app items are taken over without the wait. Safe because ownership is
decided by the store (claims are compare-and-set, writes are fenced), never by lease timing.
"""

from __future__ import annotations

import logging

from chinwag.errors import ChinwagError
from chinwag.storage import ownership
from chinwag.storage.engine import StorageEngine
from chinwag.storage.errors import ConditionFailed

log = logging.getLogger(__name__)


async def retire_node(engine: StorageEngine, node_id: str, now: float) -> bool:
    """Mark node `node_id` dead as of `now`; False when it is unknown, already dead, or its row
    changed meanwhile (it renewed: then it was not gone after all)."""
    raw = await ownership.read_node(engine, node_id)
    if raw is None:
        return False
    record = ownership.decode_node(raw)
    if record.lease_until <= now:
        return False
    ended = ownership.NodeRecord(url=record.url, lease_until=now, started_at=record.started_at)
    try:
        await engine.write(*ownership.retire(node_id, raw, ended))
    except ConditionFailed:
        return False
    except ChinwagError as exc:  # the store is down: the lease then simply runs out
        log.warning("node %s not retired: %s", node_id, exc)
        return False
    return True
