"""What intake does on each command (from its API) and each event it consumes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from services.intake import domain
from services.intake.domain import Concern, NewConcern, Status
from services.intake.repository import ConcernRepository
from shared.clock import Clock
from shared.district import DistrictConfig
from shared.events import CloudEvent, ConcernEscalated, ConcernTriaged, envelopes

log = logging.getLogger(__name__)


class InvalidReference(Exception):
    """A submitted field names something the district does not have."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ConcernNotFound(LookupError):
    pass


class ConcurrentChange(Exception):
    """Someone else changed the concern between read and write."""


@dataclass(frozen=True)
class IntakeContext:
    """Everything intake's handlers need, wired once at startup."""

    repo: ConcernRepository
    clock: Clock
    district: DistrictConfig
    source: str
    published: Callable[[], None]
    contact_secret: bytes


async def submit_concern(new: NewConcern, *, ctx: IntakeContext) -> Concern:
    """Check references, number the concern, and store it with its events in one write."""
    if ctx.district.category(new.category) is None:
        raise InvalidReference("category", f"unknown category {new.category!r}; "
                               "see the district's categories")
    if new.school_id is not None and ctx.district.school(new.school_id) is None:
        raise InvalidReference("school_id", f"unknown school {new.school_id!r}")
    now = ctx.clock.now()
    sequence = await ctx.repo.next_tracking_sequence(now.year)
    concern, events = domain.submit(
        new, concern_id=str(uuid.uuid4()), tracking=domain.tracking_number(now.year, sequence),
        now=now, guarantee=timedelta(hours=ctx.district.district.guarantee_hours),
        contact_secret=ctx.contact_secret,
    )
    await ctx.repo.add(concern, envelopes(events, source=ctx.source, time=now))
    ctx.published()
    log.info("concern received", extra={"concern_id": concern.id,
                                        "tracking_number": concern.tracking_number,
                                        "channel": concern.channel.value,
                                        "category": concern.category})
    return concern


async def change_status(concern_id: str, to: Status, reason: str | None, *,
                        ctx: IntakeContext) -> Concern:
    """Apply one lifecycle transition (raises `TransitionNotAllowed` when the table forbids it)."""
    before = await ctx.repo.get(concern_id)
    if before is None:
        raise ConcernNotFound(concern_id)
    now = ctx.clock.now()
    after, events = domain.transition(before, to, now=now, reason=reason)
    if not await ctx.repo.save_transition(before, after,
                                          envelopes(events, source=ctx.source, time=now)):
        raise ConcurrentChange(concern_id)
    ctx.published()
    log.info("concern status changed", extra={"concern_id": concern_id,
                                              "from": before.status.value, "to": to.value})
    return after


async def on_triaged(event: CloudEvent, data: ConcernTriaged, *, ctx: IntakeContext) -> None:
    """The case shows the team and priority triage decided."""
    found = await ctx.repo.record_event_facts(
        data.concern_id, event.id,
        facts={"team_id": data.team_id, "team_name": data.team_name,
               "priority": data.priority.value},
        entry={"kind": "triaged", "team_id": data.team_id, "priority": data.priority.value,
               "rule": data.rule},
        at=data.triaged_at,
    )
    if not found:
        raise ConcernNotFound(data.concern_id)


async def on_escalated(event: CloudEvent, data: ConcernEscalated, *, ctx: IntakeContext) -> None:
    """The case shows how far up the ladder it has gone, and to whom."""
    found = await ctx.repo.record_event_facts(
        data.concern_id, event.id,
        facts={"escalation": {"level": data.level, "role": data.role,
                              "escalated_to": data.escalated_to,
                              "escalated_to_name": data.escalated_to_name,
                              "escalated_at": data.escalated_at}},
        entry={"kind": "escalated", "level": data.level, "role": data.role,
               "escalated_to_name": data.escalated_to_name},
        at=data.escalated_at,
    )
    if not found:
        raise ConcernNotFound(data.concern_id)
