"""The loop that fires due SLA clocks; one runs in every replica, leases keep them apart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from services.escalation.context import EscalationContext
from services.escalation.handlers import Swept, sweep

log = logging.getLogger(__name__)

# The shortest wait between passes: a clock due "now" that another replica holds is not
# looked at again in a busy loop.
MIN_WAIT_S = 0.01


class Scheduler:
    """Every tick, fires the clocks that are due; a failed pass is logged and retried next tick."""

    def __init__(self, *, ctx: EscalationContext, tick_s: float) -> None:
        self._ctx = ctx
        self._tick_s = tick_s
        self._stop = asyncio.Event()
        self.fired = 0

    async def run_once(self) -> int:
        """One pass: fire every clock due now; returns how many clocks fired."""
        return (await self._pass()).fired

    async def _pass(self) -> Swept:
        swept = await sweep(ctx=self._ctx, horizon=timedelta(seconds=self._tick_s))
        self.fired += swept.fired
        return swept

    async def run(self) -> None:
        """Tick until `stop`; the pass in progress finishes first.

        Between passes it waits one tick, or less when a clock falls due sooner (the pass's
        last look at the index tells when), so a step fires within milliseconds of its due
        time rather than up to a tick late.
        """
        while not self._stop.is_set():
            wait = self._tick_s
            try:
                wait = self._until(await self._pass())
            except Exception:
                log.warning("scheduler pass failed; will retry next tick", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=wait)

    def _until(self, swept: Swept) -> float:
        if swept.next_due_at is None:
            return self._tick_s
        left = (swept.next_due_at - self._ctx.clock.now()).total_seconds()
        return min(self._tick_s, max(left, MIN_WAIT_S))

    def stop(self) -> None:
        """Ask the loop to end after its current pass."""
        self._stop.set()
