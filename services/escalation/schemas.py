"""Escalation's HTTP contract (see `services.escalation.api`): a concern's SLA clock and the
concerns the Ombudsperson watches. Pydantic, the standard library, shared/ and escalation's
pure clock names only: a front door imports them without escalation's store."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from services.escalation.domain import ClockStatus, OmbudspersonReason
from shared.events import Priority


class HistoryRead(BaseModel):
    at: datetime
    kind: str
    cycle: int
    target: str | None = None
    level: int | None = None
    reminder: int | None = None
    percent: int | None = None
    detail: str | None = None


class ClockRead(BaseModel):
    """A concern's SLA clock in its current cycle."""

    concern_id: str
    policy: str
    calendar: str
    status: ClockStatus
    priority: Priority | None
    cycle: int
    started_at: datetime
    first_response_at: datetime | None
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    elapsed_s: float
    level: int
    reminders: int
    next_due_at: datetime | None
    breached_at: datetime | None
    stopped_at: datetime | None
    history: list[HistoryRead]


class OmbudspersonCaseRead(BaseModel):
    """A concern the Ombudsperson watches: at level 3, long past its resolution target, or
    merged into another concern (closed without a resolution) lately."""

    concern_id: str
    reason: OmbudspersonReason
    category: str
    school_id: str | None
    team_id: str | None
    priority: Priority | None
    submitted_at: datetime
    status: ClockStatus
    cycle: int
    level: int
    resolution_due_at: datetime | None
    breached_at: datetime | None
    overdue_hours: float | None
    history: list[HistoryRead]
