"""What triage does with each event it consumes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from services.triage.domain import route
from services.triage.repository import DecisionRepository
from shared.clock import Clock
from shared.district import DistrictConfig
from shared.events import CloudEvent, ConcernSubmitted, ConcernTriaged, envelopes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TriageContext:
    repo: DecisionRepository
    clock: Clock
    district: DistrictConfig
    source: str
    published: Callable[[], None]


async def on_submitted(event: CloudEvent, data: ConcernSubmitted, *, ctx: TriageContext) -> None:
    """Route a new concern and tell the bureau which team owns it."""
    routing = route(data.category, data.school_id, ctx.district)
    now = ctx.clock.now()
    triaged = ConcernTriaged(
        concern_id=data.concern_id, category=data.category, school_id=data.school_id,
        team_id=routing.team_id, team_name=routing.team_name, priority=routing.priority,
        rule=routing.rule, triaged_at=now,
    )
    decision = {
        "_id": data.concern_id, "category": data.category, "school_id": data.school_id,
        "team_id": routing.team_id, "priority": routing.priority.value, "rule": routing.rule,
        "decided_by": "rules", "decided_at": now, "source_event_id": event.id,
    }
    if await ctx.repo.add_first(decision, envelopes([triaged], source=ctx.source, time=now)):
        ctx.published()
        log.info("concern triaged", extra={"concern_id": data.concern_id,
                                           "team_id": routing.team_id,
                                           "priority": routing.priority.value,
                                           "rule": routing.rule})
