"""What escalation does on each event it consumes, and on each due clock the scheduler finds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from services.escalation import domain
from services.escalation.domain import SlaClock
from services.escalation.repository import ClockRepository
from shared.clock import Clock
from shared.district import DistrictConfig
from shared.events import (
    CloudEvent,
    ConcernEscalated,
    ConcernReopened,
    ConcernResolved,
    ConcernSubmitted,
    ConcernTriaged,
    SlaBreached,
    envelopes,
)

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 5


class ClockNotFound(LookupError):
    """An event about a concern whose clock has not started (yet): retried later."""


class ConcurrentChange(Exception):
    """The clock kept changing under this handler; the consumer retries the event."""


@dataclass(frozen=True)
class EscalationContext:
    """Everything escalation's handlers need, wired once at startup."""

    repo: ClockRepository
    clock: Clock
    district: DistrictConfig
    source: str
    published: Callable[[], None]
    lease: timedelta


async def on_submitted(event: CloudEvent, data: ConcernSubmitted, *,
                       ctx: EscalationContext) -> None:
    """Start the concern's clock; a redelivered submission finds it started and changes nothing."""
    category = ctx.district.category(data.category)
    # Until triage decides, the category's usual priority selects the policy, so that a
    # safety concern runs on the critical target from its first second.
    priority = category.priority if category is not None else None
    clock = domain.start(data.concern_id, category=data.category, school_id=data.school_id,
                         priority=priority, started_at=data.submitted_at, district=ctx.district)
    if await ctx.repo.start(clock):
        log.info("sla clock started", extra={"concern_id": clock.concern_id,
                                             "policy": clock.policy,
                                             "resolution_due_at": clock.resolution_due_at})


async def on_triaged(event: CloudEvent, data: ConcernTriaged, *, ctx: EscalationContext) -> None:
    """Triage's priority may select another policy; the owning team is the ladder's first rung."""
    await _change(data.concern_id, lambda c: domain.retriage(
        c, category=data.category, priority=data.priority, team_id=data.team_id,
        district=ctx.district), ctx=ctx, what="sla clock retriaged")


async def on_resolved(event: CloudEvent, data: ConcernResolved, *,
                      ctx: EscalationContext) -> None:
    """Resolution stops the clock."""
    await _change(data.concern_id, lambda c: domain.stop(c, at=data.resolved_at),
                  ctx=ctx, what="sla clock stopped")


async def on_reopened(event: CloudEvent, data: ConcernReopened, *,
                      ctx: EscalationContext) -> None:
    """A reopened concern starts a new cycle."""
    await _change(data.concern_id, lambda c: domain.reopen(c, at=data.reopened_at,
                                                           district=ctx.district),
                  ctx=ctx, what="sla clock restarted")


async def _change(concern_id: str, change: Callable[[SlaClock], SlaClock], *,
                  ctx: EscalationContext, what: str) -> None:
    """Read, change, write with a version check; re-read when the scheduler wrote first."""
    for _ in range(SAVE_ATTEMPTS):
        stored = await ctx.repo.get(concern_id)
        if stored is None:
            raise ClockNotFound(concern_id)
        after = change(stored.clock)
        if after == stored.clock:
            return  # already applied (a redelivery) or stale: nothing to write
        if await ctx.repo.save(stored, after):
            log.info(what, extra={"concern_id": concern_id, "policy": after.policy,
                                  "status": after.status.value, "cycle": after.cycle,
                                  "next_due_at": after.next_due_at})
            return
    raise ConcurrentChange(concern_id)


async def fire_due(*, ctx: EscalationContext, limit: int = 1_000) -> int:
    """Claim and fire due clocks until none is due (or `limit`); returns how many fired."""
    fired = 0
    for _ in range(limit):
        now = ctx.clock.now()
        claimed = await ctx.repo.claim_due(now, ctx.lease)
        if claimed is None:
            break
        after, events = domain.advance(claimed.clock, now=now, district=ctx.district)
        if not await ctx.repo.save_step(claimed, after,
                                        envelopes(events, source=ctx.source, time=now)):
            # A handler changed the clock meanwhile (or the lease ran out): fire from fresh state.
            await ctx.repo.release(claimed)
            continue
        fired += 1
        if events:
            ctx.published()
        for data in events:
            _log_fired(data)
    return fired


def _log_fired(data: object) -> None:
    if isinstance(data, SlaBreached):
        log.warning("sla breached", extra={"concern_id": data.concern_id, "policy": data.policy,
                                           "due_at": data.due_at})
    elif isinstance(data, ConcernEscalated):
        log.warning("concern escalated", extra={"concern_id": data.concern_id,
                                                "level": data.level, "role": data.role,
                                                "escalated_to": data.escalated_to})
