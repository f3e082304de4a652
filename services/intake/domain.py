"""Intake's rules: tracking numbers, the concern lifecycle, and the events each step records.

Pure: no I/O, no framework. Functions take the current time and return new state plus the
event data to publish; the handler stores both in one write.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.events import (
    Channel,
    ConcernContactShared,
    ConcernDetailsShared,
    ConcernReopened,
    ConcernResolved,
    ConcernStatusChanged,
    ConcernSubmitted,
    EventData,
    RequesterContact,
)


class Status(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    AWAITING_REQUESTER = "awaiting_requester"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"


# The lifecycle is this table: which statuses each status may move to.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.ACKNOWLEDGED, Status.AWAITING_REQUESTER, Status.RESOLVED}),
    Status.ACKNOWLEDGED: frozenset({Status.AWAITING_REQUESTER, Status.RESOLVED}),
    Status.AWAITING_REQUESTER: frozenset({Status.ACKNOWLEDGED, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.REOPENED, Status.CLOSED}),
    Status.REOPENED: frozenset({Status.ACKNOWLEDGED, Status.AWAITING_REQUESTER, Status.RESOLVED}),
    Status.CLOSED: frozenset(),
}


def tracking_number(year: int, sequence: int) -> str:
    """Human-friendly, unique per year: `CS-2026-000123`."""
    if sequence < 1:
        raise ValueError("tracking sequence starts at 1")
    return f"CS-{year}-{sequence:06d}"


@dataclass(frozen=True)
class Requester:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    language: str = "en"
    relationship: str | None = None

    @property
    def anonymous(self) -> bool:
        return not (self.name or self.email or self.phone)


def contact_key(requester: Requester, secret: bytes) -> str | None:
    """A keyed hash of the requester's contact, so that triage can match repeat requesters
    without ever seeing the contact itself. The email wins over the phone when both exist."""
    contact = (requester.email or "").strip().lower() or (requester.phone or "").strip()
    if not contact:
        return None
    return hmac.new(secret, contact.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Student:
    """Student information: protected (FERPA); never put in an event or a public view."""

    name: str | None = None
    student_id: str | None = None
    grade: str | None = None
    special_education: bool = False

    @property
    def flags(self) -> list[str]:
        """What triage may know of the student: flags, never identity."""
        return ["special_education"] if self.special_education else []


@dataclass(frozen=True)
class StatusChange:
    at: datetime
    from_status: Status | None
    to_status: Status
    reason: str | None = None


@dataclass(frozen=True)
class Concern:
    id: str
    tracking_number: str
    channel: Channel
    category: str
    school_id: str | None
    description: str
    requester: Requester
    student: Student | None
    status: Status
    submitted_at: datetime
    resolution_due_at: datetime
    history: tuple[StatusChange, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class NewConcern:
    """What a frontend submits, already validated for shape."""

    channel: Channel
    category: str
    school_id: str | None
    description: str
    requester: Requester
    student: Student | None


def submit(new: NewConcern, *, concern_id: str, tracking: str, now: datetime,
           guarantee: timedelta, contact_secret: bytes) -> tuple[Concern, list[EventData]]:
    """A received concern, its promised resolution time, and what it tells the bureau."""
    concern = Concern(
        id=concern_id, tracking_number=tracking, channel=new.channel, category=new.category,
        school_id=new.school_id, description=new.description, requester=new.requester,
        student=new.student, status=Status.RECEIVED, submitted_at=now,
        resolution_due_at=now + guarantee,
        history=(StatusChange(at=now, from_status=None, to_status=Status.RECEIVED),),
    )
    public = ConcernSubmitted(
        concern_id=concern.id, tracking_number=tracking, channel=new.channel,
        category=new.category, school_id=new.school_id, submitted_at=now,
        resolution_due_at=concern.resolution_due_at,
        has_student_information=new.student is not None,
    )
    private = ConcernContactShared(
        concern_id=concern.id, tracking_number=tracking, category=new.category,
        submitted_at=now, resolution_due_at=concern.resolution_due_at,
        requester=RequesterContact(
            name=new.requester.name, email=new.requester.email, phone=new.requester.phone,
            language=new.requester.language,
        ),
    )
    details = ConcernDetailsShared(
        concern_id=concern.id, category=new.category, school_id=new.school_id,
        channel=new.channel, description=new.description,
        requester_relationship=new.requester.relationship,
        contact_key=contact_key(new.requester, contact_secret),
        student_flags=new.student.flags if new.student else [], submitted_at=now,
    )
    return concern, [public, private, details]


class TransitionNotAllowed(Exception):
    def __init__(self, from_status: Status, to_status: Status) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[from_status])) or "none"
        super().__init__(
            f"a concern that is {from_status} cannot become {to_status} (allowed: {allowed})"
        )
        self.from_status = from_status
        self.to_status = to_status


def transition(concern: Concern, to: Status, *, now: datetime,
               reason: str | None = None) -> tuple[Concern, list[EventData]]:
    """Move a concern to another status if the table allows it, with the events it emits."""
    if to not in TRANSITIONS[concern.status]:
        raise TransitionNotAllowed(concern.status, to)
    change = StatusChange(at=now, from_status=concern.status, to_status=to, reason=reason)
    events: list[EventData] = [ConcernStatusChanged(
        concern_id=concern.id, from_status=concern.status, to_status=to, changed_at=now,
    )]
    if to is Status.RESOLVED:
        events.append(ConcernResolved(concern_id=concern.id, resolved_at=now))
    elif to is Status.REOPENED:
        events.append(ConcernReopened(concern_id=concern.id, reopened_at=now))
    return replace(concern, status=to, history=(*concern.history, change)), events
