"""First-start setup decided once per store: of processes starting together on one empty store
(cluster nodes on one PostgreSQL), exactly one runs `chinwag.bootstrap`; the others wait for it.

The decision is a conditional write of a marker (`Repository.claim_setup`): the claim holds
the claimer's node id; a claim whose holder died before marking it done (its node's lease ran
out; on a single process: any earlier process) is stale and may be claimed again, so a crash
mid-setup is finished by the next start instead of leaving the store half set up.
"""

from __future__ import annotations

from contextlib import suppress

from chinwag.facade.base import _PROCESS_NODE_ID, FacadeBase
from chinwag.service import FirstStart
from chinwag.storage.errors import ConditionFailed
from chinwag.storage.repository import SetupMarker


class SetupFacade(FacadeBase):
    _setup_claim: bytes | None = None

    def _holder(self) -> str:
        return self.node.id if self.node is not None else _PROCESS_NODE_ID

    async def first_start(self) -> FirstStart:
        """What the store says about its first-start setup."""
        found = await self.repo.asetup_marker()
        if found is None:
            return FirstStart("none", None)
        raw, marker = found
        if marker.done:
            return FirstStart("done", raw)
        if marker.holder == self._holder():
            return FirstStart("working", raw)
        alive = self.node is not None and (await self.node.is_alive(marker.holder))[0]
        return FirstStart("working" if alive else "stale", raw)

    async def claim_first_start(self, seen: FirstStart) -> bool:
        """Become the process that runs the setup, if the marker still is what `seen` read
        (False: another process claimed it first)."""
        marker = SetupMarker(holder=self._holder(), at=self.now())
        raw, ops = self.repo.claim_setup(seen.version, marker)
        try:
            await self.repo.commit(ops)
        except ConditionFailed:
            return False
        self._setup_claim = raw
        return True

    async def finish_first_start(self) -> None:
        """Mark the setup this process claimed as done (waiting processes then go on)."""
        if self._setup_claim is None:
            return
        marker = SetupMarker(holder=self._holder(), done=True, at=self.now())
        _raw, ops = self.repo.claim_setup(self._setup_claim, marker)
        # Judged dead and taken over meanwhile: the process that took it over finishes.
        with suppress(ConditionFailed):
            await self.repo.commit(ops)
        self._setup_claim = None
