"""The shapes of intake's v1 HTTP API: what frontends send and what they get back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from services.intake.domain import ContactChannel, Status
from services.intake.lifecycle import CallbackStatus
from services.intake.queries import SortOrder
from shared.events import (
    CallbackOutcome,
    Channel,
    MessageAuthor,
    MessageId,
    MessageVisibility,
    Priority,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PHONE_PATTERN = r"^\+[1-9]\d{6,14}$"
Phone = Annotated[str, StringConstraints(pattern=PHONE_PATTERN)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=64)]
StaffId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Relationship = Literal["parent_guardian", "student", "staff", "community", "alumni"]
Grade = Literal["PK", "K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- submission ---------------------------------------------------------------------------


class RequesterIn(_Strict):
    """Who raises the concern. Everything is optional: a requester may stay anonymous."""

    name: Text | None = None
    email: EmailStr | None = None
    phone: Phone | None = Field(default=None, description="E.164, e.g. +15551234567")
    language: Language = Field(default="en", description="for replies, e.g. `en`, `es`, `hmn`")
    relationship: Relationship | None = None
    preferred_contact: ContactChannel | None = Field(
        default=None, description="how the requester wants to hear back; needs that address"
    )


class StudentIn(_Strict):
    """The student concerned: protected information, never shown in any public view."""

    name: Text | None = None
    student_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,32}$")] | None = None
    grade: Grade | None = None
    special_education: bool = False


class ConcernCreate(_Strict):
    channel: Channel = Field(
        description="who submits (the token's subject: the frontend or "
        "the agent) is recorded as `taken_by`"
    )
    category: Reference | None = Field(
        default=None,
        description="an id from GET /v1/categories; left out (a mail, a call), "
        "the concern is `uncategorized` and triage sends it to the "
        "fallback team",
    )
    school_id: Reference | None = Field(default=None, description="an id from GET /v1/schools")
    school_contacted: bool | None = Field(
        default=None, description="whether the requester raised it at the school first"
    )
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=10, max_length=5000)
    ]
    requester: RequesterIn = Field(default_factory=RequesterIn)
    student: StudentIn | None = None
    reply_to_message_id: MessageId | None = Field(
        default=None,
        description="the Message-ID of the mail the concern came from (`<left@right>`): the "
        "acknowledgement answers it, in the same thread; kept with the requester's contact",
    )


class ConcernReceipt(BaseModel):
    """The answer to a submission. `access_token` is shown only here: keep it."""

    id: str
    tracking_number: str
    status: Status
    submitted_at: datetime
    resolution_due_at: datetime
    access_token: str = Field(description="with the tracking number, opens the status page")
    pin: str = Field(
        description="6 digits, shown only here: with the tracking number, opens "
        "the status by phone (header X-Access-Pin)"
    )
    status_url: str
    updates_promised: bool = Field(
        description="false for an anonymous or unreachable "
        "requester (only a phone, and no SMS): the "
        "bureau cannot write back"
    )
    notice: str


class LocalizedNameRead(BaseModel):
    en: str
    es: str


class CategoryRead(BaseModel):
    id: str
    name: LocalizedNameRead


class SchoolRead(BaseModel):
    id: str
    name: LocalizedNameRead


# --- the staff view -----------------------------------------------------------------------


class TeamRead(BaseModel):
    id: str
    name: str


class AssigneeRead(BaseModel):
    id: str
    name: str


class EscalationRead(BaseModel):
    level: int
    role: str
    escalated_to_name: str
    escalated_at: datetime


class MessageRead(BaseModel):
    id: str
    author: MessageAuthor
    visibility: MessageVisibility
    text: str
    at: datetime
    actor: str


class ResolutionRead(BaseModel):
    summary: str
    at: datetime
    actor: str


class CallbackRead(BaseModel):
    """A call promised to the requester: a task, done with an outcome or cancelled."""

    id: str
    due_at: datetime
    note: str | None = None
    actor: str
    scheduled_at: datetime
    assignee_id: str | None = Field(default=None, description="who makes the call")
    remind_at: datetime | None = None
    status: CallbackStatus = CallbackStatus.SCHEDULED
    outcome: CallbackOutcome | None = None
    done_at: datetime | None = None
    done_by: str | None = None


class TimelineEntryRead(BaseModel):
    """One thing that happened to the case. `kind` tells which other fields are present."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(
        description="submitted, triaged, assigned, an action name (acknowledge, "
        "reply, note, ...), sla_warning, sla_breached, escalated, "
        "notification_sent, notification_failed"
    )
    at: datetime
    actor: str | None = Field(
        default=None, description="staff id, `requester`, a service, or `unknown`"
    )


class StudentMaskedRead(BaseModel):
    """The student as staff see it by default; `POST .../student/reveal` shows it in full."""

    name: str | None = Field(default=None, description='masked, e.g. "L***a G***z"')
    student_id: str | None = Field(default=None, description='masked, e.g. "S-****12"')
    grade: str | None = None
    special_education: bool = False


class StudentRead(BaseModel):
    name: str | None = None
    student_id: str | None = None
    grade: str | None = None
    special_education: bool = False


class StudentRevealCreate(_Strict):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=10, max_length=1000)
    ] = Field(description="why you need it (recorded with who and when, 34 CFR 99.32)")


class StudentRevealRead(BaseModel):
    concern_id: str
    student: StudentRead
    disclosure_id: str = Field(description="the record of this reveal")


class DisclosureRead(BaseModel):
    """One line of a student's record of access and disclosures."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["collected", "shared", "revealed"]
    at: datetime
    concern_id: str
    tracking_number: str
    actor: str | None = Field(default=None, description="who: a staff id, a frontend, intake")
    reason: str | None = None


class DisclosureRecord(BaseModel):
    entries: list[DisclosureRead]


class LocationRead(BaseModel):
    """Where it happened, when a school alone does not say it (a bus stop, a crossing)."""

    address: str | None = None
    lat: float | None = None
    long: float | None = None


class ConcernRead(BaseModel):
    """The staff view of a case. The student is shown masked (reveal it with a reason); the
    requester's contact details are not shown."""

    id: str
    tracking_number: str
    version: int = Field(description="also the ETag; send it back in If-Match")
    status: Status
    channel: Channel
    category: str
    school_id: str | None
    school_contacted: bool | None = None
    description: str
    requester_language: str
    requester_relationship: str | None = None
    preferred_contact: ContactChannel | None = None
    anonymous: bool
    has_student_information: bool
    student: StudentMaskedRead | None = None
    taken_by: str | None = None
    via: str | None = None
    submitted_at: datetime
    updated_at: datetime | None = None
    resolution_due_at: datetime
    overdue: bool
    team: TeamRead | None = None
    priority: Priority | None = None
    assignee: AssigneeRead | None = None
    escalation: EscalationRead | None = None
    resolution: ResolutionRead | None = None
    merged_into: str | None = None
    merged_from: list[str] = Field(default_factory=list)
    location: LocationRead | None = None
    media_url: str | None = Field(default=None, description="a photo or file the filer linked")
    messages: list[MessageRead] = Field(default_factory=list)
    callbacks: list[CallbackRead] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)
    timeline: list[TimelineEntryRead] = Field(default_factory=list)


class ConcernSummary(BaseModel):
    """One line of a work queue."""

    id: str
    tracking_number: str
    status: Status
    channel: Channel
    category: str
    school_id: str | None
    team: TeamRead | None = None
    priority: Priority | None = None
    assignee: AssigneeRead | None = None
    escalation_level: int = 0
    submitted_at: datetime
    updated_at: datetime | None = None
    resolution_due_at: datetime
    overdue: bool
    callback_due_at: datetime | None = Field(
        default=None, description="the earliest callback still to make, if any"
    )


class ConcernPage(BaseModel):
    items: list[ConcernSummary]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page"
    )
    sort: SortOrder


class ConcernCounts(BaseModel):
    by_status: dict[Status, int]
    total: int
    overdue: int


# --- staff actions ------------------------------------------------------------------------


class StatusChangeCreate(_Strict):
    """The generic move (kept for existing clients); prefer the explicit action endpoints."""

    status: Status
    reason: Reason | None = None


class ReasonCreate(_Strict):
    reason: Reason | None = None


class MessageCreate(_Strict):
    message: LongText = Field(description="sent to the requester")


class NoteCreate(_Strict):
    note: LongText = Field(description="internal: never shown to the requester")


class CallbackCreate(_Strict):
    due_at: AwareDatetime = Field(description="when to call back, with a time zone")
    note: Reason | None = None
    assignee_id: StaffId | None = Field(
        default=None, description="who makes the call (default: you)"
    )
    remind_before_minutes: int | None = Field(
        default=None,
        ge=0,
        le=7 * 24 * 60,
        description="remind the assignee this long before (default 15; 0: no reminder)",
    )


class CallbackDone(_Strict):
    outcome: CallbackOutcome = Field(description="reached, voicemail or no_answer")
    note: Reason | None = None


class CallbackCancel(_Strict):
    reason: Reason | None = None


class ResolutionCreate(_Strict):
    summary: LongText = Field(description="what was done; the requester sees it")


class MergeCreate(_Strict):
    into: Reference = Field(description="id or tracking number of the concern to keep")
    reason: Reason = Field(description="why it is a duplicate (staff only)")


# --- the requester's view -----------------------------------------------------------------


class PublicMessageRead(BaseModel):
    author: MessageAuthor
    author_name: str | None = Field(
        default=None, description="only where the district shows staff names"
    )
    text: str
    at: datetime


class PublicResolutionRead(BaseModel):
    summary: str
    at: datetime


class RequesterView(BaseModel):
    """What the requester sees: no internal notes, no student information, no staff names
    unless the district chooses to show them."""

    tracking_number: str
    status: Status
    category: str
    category_name: str
    team_name: str | None = None
    submitted_at: datetime
    resolution_due_at: datetime
    messages: list[PublicMessageRead]
    resolution: PublicResolutionRead | None = None
    can_reopen_until: datetime | None = None
    merged: bool = False


class RequesterMessageCreate(_Strict):
    message: LongText


class RequesterReopenCreate(_Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)] | None = None
