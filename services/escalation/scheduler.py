"""The loop that fires due SLA clocks; one runs in every replica, leases keep them apart."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.escalation.handlers import EscalationContext, fire_due

log = logging.getLogger(__name__)


class Scheduler:
    """Every tick, fires the clocks that are due; a failed pass is logged and retried next tick."""

    def __init__(self, *, ctx: EscalationContext, tick_s: float) -> None:
        self._ctx = ctx
        self._tick_s = tick_s
        self._stop = asyncio.Event()
        self.fired = 0

    async def run_once(self) -> int:
        """One pass: fire every clock due now; returns how many clocks fired."""
        fired = await fire_due(ctx=self._ctx)
        self.fired += fired
        return fired

    async def run(self) -> None:
        """Tick until `stop`; the pass in progress finishes first."""
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.warning("scheduler pass failed; will retry next tick", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._tick_s)

    def stop(self) -> None:
        """Ask the loop to end after its current pass."""
        self._stop.set()
