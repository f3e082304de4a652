"""Escalation's HTTP API: thin routes over the repository."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.escalation.domain import ClockStatus
from services.escalation.handlers import EscalationContext
from services.escalation.repository import from_document
from shared.events import Priority
from shared.http import Problem, service_context

router = APIRouter(prefix="/v1", tags=["clocks"])


class ClockRead(BaseModel):
    """A concern's SLA clock in its current cycle."""

    concern_id: str
    policy: str
    status: ClockStatus
    priority: Priority | None
    cycle: int
    started_at: datetime
    resolution_due_at: datetime
    level: int
    next_due_at: datetime | None
    breached_at: datetime | None
    stopped_at: datetime | None


Ctx = Annotated[EscalationContext, Depends(service_context)]


@router.get("/clocks/{concern_id}", response_model=ClockRead)
async def read_clock(concern_id: str, ctx: Ctx) -> ClockRead:
    """The SLA clock of a concern: policy, due time, breach and escalation level."""
    doc = await ctx.repo.get_document(concern_id)
    if doc is None:
        raise Problem(404, "Clock not found", f"No SLA clock for concern {concern_id!r}.")
    clock = from_document(doc)
    return ClockRead(
        concern_id=clock.concern_id, policy=clock.policy, status=clock.status,
        priority=clock.priority, cycle=clock.cycle, started_at=clock.started_at,
        resolution_due_at=clock.resolution_due_at, level=clock.level,
        next_due_at=clock.next_due_at, breached_at=clock.breached_at,
        stopped_at=clock.stopped_at,
    )
