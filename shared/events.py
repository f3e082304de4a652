"""The event contract: the CloudEvents 1.0 envelope and the data of every bureau event.

This module is the only definition of what travels on the broker. Public events go to the
`bureau.events` exchange, which other district systems may read: their data never carries
student information or requester contact details. Private events go to `bureau.private`,
which only bureau services may read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, ValidationError

from shared.tracing import traceparent_for

SPEC_VERSION: Literal["1.0"] = "1.0"
TYPE_PREFIX = "org.bureau."
CONTENT_TYPE = "application/json"
# An RFC 5322 Message-ID as it is written in a header: `<left@right>`, visible ASCII without
# angle brackets, spaces or a second `@` (safe to put in a header as it is).
MESSAGE_ID_PATTERN = r"^<[!-;=?A-~]{1,500}@[!-;=?A-~]{1,250}>$"
MessageId = Annotated[str, StringConstraints(pattern=MESSAGE_ID_PATTERN)]


class Exchange(StrEnum):
    """Which exchange an event travels on."""

    PUBLIC = "public"
    PRIVATE = "private"


class EventData(BaseModel):
    """Base of every event's `data`: frozen, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Channel(StrEnum):
    WEB = "web"
    PHONE = "phone"
    EMAIL = "email"
    SMS = "sms"
    WALK_IN = "walk_in"


class ConcernStatus(StrEnum):
    """Where a concern is in its lifecycle (intake decides the transitions)."""

    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    AWAITING_REQUESTER = "awaiting_requester"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"


# The statuses of an open concern: its SLA clock runs (or waits, paused) in them.
OPEN_STATUSES = frozenset(
    {
        ConcernStatus.RECEIVED,
        ConcernStatus.ACKNOWLEDGED,
        ConcernStatus.AWAITING_REQUESTER,
        ConcernStatus.REOPENED,
    }
)


# --- public events (bureau.events) -------------------------------------------------------


class ConcernSubmitted(EventData):
    """A concern was received and given a tracking number."""

    concern_id: str
    tracking_number: str
    channel: Channel
    category: str
    school_id: str | None = None
    submitted_at: datetime
    resolution_due_at: datetime
    has_student_information: bool = False


class ConcernTriaged(EventData):
    """Triage decided the owning team and the priority of a concern."""

    concern_id: str
    category: str
    school_id: str | None = None
    team_id: str
    team_name: str
    priority: Priority
    rule: str
    triaged_at: datetime
    decided_by: str = Field(default="rules", description="`rules`, or the staff id of a re-triage")
    possible_duplicate_of: list[str] = Field(
        default_factory=list, description="ids of concerns this may duplicate"
    )
    sensitive: bool = Field(
        default=False,
        description="the routing tells something about the "
        "student: bureau staff only (the public copy shows the category's "
        "route)",
    )


class ConcernAssigned(EventData):
    """A concern was assigned to a member of its owning team."""

    concern_id: str
    team_id: str
    assignee_id: str
    assignee_name: str
    assigned_at: datetime
    decided_by: str = "rules"


class UnassignedCause(StrEnum):
    """Why triage left a concern without an assignee (a code: never a staff member's words)."""

    NO_MEMBER_AVAILABLE = "no_member_available"


class ConcernUnassigned(EventData):
    """A concern no longer has an assignee: triage moved it to a team where no member can
    take it (everyone away without a backup, or nobody in the team). Whoever was assigned
    before no longer works it; a consumer clears the assignee it holds unless that
    assignment is newer than `unassigned_at`."""

    concern_id: str
    team_id: str
    unassigned_at: datetime
    decided_by: str = "rules"
    cause: UnassignedCause = UnassignedCause.NO_MEMBER_AVAILABLE


class ConcernMerged(EventData):
    """A specialist confirmed that a concern duplicates another; nothing is deleted."""

    concern_id: str
    into_concern_id: str
    merged_at: datetime
    decided_by: str


class ConcernStatusChanged(EventData):
    """A concern moved from one lifecycle status to another."""

    concern_id: str
    from_status: ConcernStatus
    to_status: ConcernStatus
    changed_at: datetime


class MessageAuthor(StrEnum):
    REQUESTER = "requester"
    STAFF = "staff"


class MessageVisibility(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"


class ConcernMessageAdded(EventData):
    """A message was added to a concern (a public reply, the requester's answer, or an
    internal note). The text never travels here."""

    concern_id: str
    message_id: str
    author: MessageAuthor
    visibility: MessageVisibility
    added_at: datetime


class ConcernResolved(EventData):
    """A concern was resolved; its SLA clock stops."""

    concern_id: str
    resolved_at: datetime


class ConcernReopened(EventData):
    """A resolved concern was reopened; a new SLA cycle starts."""

    concern_id: str
    reopened_at: datetime


class CallbackOutcome(StrEnum):
    REACHED = "reached"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"


class ConcernCallbackScheduled(EventData):
    """Staff promised to call the requester back by `due_at` (no contact data here: whoever
    makes the call reveals it in intake, recorded)."""

    concern_id: str
    callback_id: str
    due_at: datetime
    remind_at: datetime | None = Field(default=None, description="when the assignee is reminded")
    assignee_id: str | None = None
    scheduled_at: datetime


class ConcernCallbackCompleted(EventData):
    """A callback was made (with its outcome) or cancelled (`outcome` null)."""

    concern_id: str
    callback_id: str
    outcome: CallbackOutcome | None = Field(default=None, description="null: cancelled")
    due_at: datetime
    completed_at: datetime
    on_time: bool = Field(description="done (or cancelled) by its due time")


class SlaTarget(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"
    CALLBACK = "callback"  # a callback promised to the requester


class SlaWarning(EventData):
    """A concern used up a share of an SLA target (for example 50% or 75%)."""

    concern_id: str
    target: SlaTarget
    due_at: datetime
    warned_at: datetime
    percent: int = Field(ge=1, le=100)
    policy: str


class SlaMet(EventData):
    """A concern met an SLA target."""

    concern_id: str
    target: SlaTarget
    due_at: datetime
    met_at: datetime
    policy: str


class SlaBreached(EventData):
    """A concern missed an SLA target."""

    concern_id: str
    target: SlaTarget
    due_at: datetime
    breached_at: datetime
    policy: str


class SlaDueChanged(EventData):
    """The due times a concern's SLA clock now promises (escalation owns them): at its start
    and whenever a pause, resume, re-triage, reopen or breach moves them. `sequence` grows
    with every change of the clock: a consumer keeps the highest it has seen."""

    concern_id: str
    resolution_due_at: datetime | None = None
    first_response_due_at: datetime | None = None
    paused: bool = Field(
        default=False,
        description="waiting (e.g. on the requester): the due "
        "times move later by the pause on resume",
    )
    policy: str
    cycle: int = Field(ge=1)
    sequence: int = Field(ge=1)
    changed_at: datetime


class ConcernEscalated(EventData):
    """A concern that missed its target was escalated one level up the ladder."""

    concern_id: str
    level: int = Field(ge=1)
    role: str
    escalated_to: str
    escalated_to_name: str
    escalated_at: datetime
    school_id: str | None = None
    reminder: int = Field(
        default=0, ge=0, description="0 for the escalation itself, n for its n-th reminder"
    )


class NotificationSent(EventData):
    """A notification reached its channel's provider. Carries no address."""

    concern_id: str
    delivery_id: str
    kind: str
    channel: str
    sent_at: datetime


class NotificationFailed(EventData):
    """A notification could not be delivered; a person may need to call back."""

    concern_id: str
    delivery_id: str
    kind: str
    channel: str
    failed_at: datetime
    error: str


class SurveyAnswered(EventData):
    """A requester answered the satisfaction survey. The comment stays in notify."""

    concern_id: str
    score: int = Field(ge=1, le=5)
    answered_at: datetime
    has_comment: bool = False


class BoardFigures(BaseModel):
    """One period's figures for the Board, measured on SLA clocks (counted time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    received: int = Field(ge=0)
    resolved: int = Field(ge=0)
    resolved_within_guarantee: float | None = None
    resolved_within_target: float | None = None
    first_response_within_target: float | None = None
    median_hours_to_resolve: float | None = None
    p90_hours_to_resolve: float | None = None
    breaches: dict[str, int] = Field(default_factory=dict, description="by target")
    escalations: dict[str, int] = Field(default_factory=dict, description="by level")
    satisfaction_responses: int = Field(default=0, ge=0)
    satisfaction_mean: float | None = None
    backlog: dict[str, int] = Field(
        default_factory=dict, description="concerns open at the period's end, by age"
    )


class BoardStandardResult(BaseModel):
    """One standard's value against its target; `met` is null without data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    standard: str
    title: str = Field(description="the standard in plain words, as the district wrote it")
    measure: str
    target: float
    value: float | None = None
    met: bool | None = None


class BoardShortfall(BaseModel):
    """A category, school or team where a standard was not kept in the period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: Literal["category", "school", "team"]
    key: str = Field(description="the category, school or team id (`none`: not set)")
    standard: str
    value: float
    target: float


class BoardPacketReady(EventData):
    """The Board's packet of a month that has closed, prepared once by escalation from its
    monthly summaries: the month's figures, each clock standard's compliance, where a
    standard was not kept, and the same figures as CSV. Aggregates only: never a case, a
    name or a student."""

    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="e.g. 2026-03")
    period_start: datetime
    period_end: datetime
    prepared_at: datetime
    guarantee_hours: int = Field(ge=1)
    figures: BoardFigures
    standards: list[BoardStandardResult] = Field(default_factory=list)
    shortfalls: list[BoardShortfall] = Field(default_factory=list)
    csv: str = Field(
        description="the month's figures as CSV: the month, each category, school and "
        "team, and the total (as `GET /v1/board/report?format=csv`)"
    )


# --- private events (bureau.private) -----------------------------------------------------


class RequesterContact(BaseModel):
    """How to reach a requester. Travels only on the private exchange."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    email: EmailStr | None = None
    phone: str | None = None
    language: str = "en"
    preferred_channel: Literal["email", "sms"] | None = None


class ConcernContactShared(EventData):
    """What notify needs to answer the requester of a new concern (private)."""

    concern_id: str
    tracking_number: str
    category: str
    submitted_at: datetime
    resolution_due_at: datetime
    requester: RequesterContact
    access_token: str | None = Field(
        default=None,
        description="the requester's secret access token, for the personal "
        "status link of the acknowledgement; never stored in clear",
    )
    pin: str | None = Field(
        default=None,
        description="the requester's 6-digit PIN, told in the acknowledgement: with the "
        "tracking number it opens the concern by phone or on the website; never stored by notify",
    )
    reply_to_message_id: MessageId | None = Field(
        default=None,
        description="the Message-ID of the mail the concern came from: the acknowledgement "
        "answers it (In-Reply-To), in the same thread of the requester's mail client",
    )


class ConcernDeliveryBounced(EventData):
    """A mail of the bureau about a concern came back undelivered (an RFC 3464 report, through
    the email front door): notify marks its delivery failed (private, as the contact is)."""

    concern_id: str
    message_ids: list[MessageId] = Field(
        min_length=1, max_length=50, description="the Message-IDs of the bureau's mails it names"
    )
    status: str | None = Field(default=None, description="the RFC 3464 status, e.g. 5.1.1")
    bounced_at: datetime


class ConcernReplyShared(EventData):
    """The text of a public staff reply, for notify to send to the requester (private)."""

    concern_id: str
    message_id: str
    text: str
    author_name: str | None = None
    added_at: datetime
    information_request: bool = Field(
        default=False,
        description="the question of a request for information: the requester "
        "gets one message asking it, not a reply and a request",
    )


class ConcernResolutionShared(EventData):
    """What staff wrote when resolving a concern, for the requester's resolution message.
    Private: a summary is free text that may name a student."""

    concern_id: str
    summary: str
    resolved_at: datetime


class ConcernDetailsShared(EventData):
    """What triage needs to route a new concern beyond its category (private).

    `contact_key` is a keyed hash of the requester's normalised contact (never the contact
    itself), so that triage can find concerns from the same requester.
    """

    concern_id: str
    category: str
    school_id: str | None = None
    channel: Channel
    description: str
    requester_relationship: str | None = None
    contact_key: str | None = None
    student_flags: list[str] = Field(default_factory=list)
    submitted_at: datetime
    school_contacted: bool | None = Field(
        default=None,
        description="whether the requester raised it at the school first "
        "(routing: the school first)",
    )


@dataclass(frozen=True)
class EventSpec:
    """One entry of the catalogue: the routing key, its data model and its exchange."""

    name: str
    data_model: type[EventData]
    producer: str
    exchange: Exchange = Exchange.PUBLIC
    version: int = 1

    @property
    def type(self) -> str:
        """The CloudEvents `type` attribute, e.g. `org.bureau.concern.submitted.v1`."""
        return f"{TYPE_PREFIX}{self.name}.v{self.version}"


CATALOGUE: dict[str, EventSpec] = {
    spec.name: spec
    for spec in (
        EventSpec(name="concern.submitted", data_model=ConcernSubmitted, producer="intake"),
        EventSpec(name="concern.triaged", data_model=ConcernTriaged, producer="triage"),
        EventSpec(name="concern.assigned", data_model=ConcernAssigned, producer="triage"),
        EventSpec(name="concern.unassigned", data_model=ConcernUnassigned, producer="triage"),
        EventSpec(name="concern.merged", data_model=ConcernMerged, producer="triage"),
        EventSpec(
            name="concern.status_changed", data_model=ConcernStatusChanged, producer="intake"
        ),
        EventSpec(name="concern.message_added", data_model=ConcernMessageAdded, producer="intake"),
        EventSpec(name="concern.resolved", data_model=ConcernResolved, producer="intake"),
        EventSpec(name="concern.reopened", data_model=ConcernReopened, producer="intake"),
        EventSpec(
            name="concern.callback_scheduled",
            data_model=ConcernCallbackScheduled,
            producer="intake",
        ),
        EventSpec(
            name="concern.callback_completed",
            data_model=ConcernCallbackCompleted,
            producer="intake",
        ),
        EventSpec(name="sla.warning", data_model=SlaWarning, producer="escalation"),
        EventSpec(name="sla.met", data_model=SlaMet, producer="escalation"),
        EventSpec(name="sla.breached", data_model=SlaBreached, producer="escalation"),
        EventSpec(name="concern.escalated", data_model=ConcernEscalated, producer="escalation"),
        EventSpec(name="sla.due_changed", data_model=SlaDueChanged, producer="escalation"),
        EventSpec(name="notification.sent", data_model=NotificationSent, producer="notify"),
        EventSpec(name="notification.failed", data_model=NotificationFailed, producer="notify"),
        EventSpec(name="survey.answered", data_model=SurveyAnswered, producer="notify"),
        EventSpec(name="board.packet_ready", data_model=BoardPacketReady, producer="escalation"),
        EventSpec(
            name="concern.contact_shared",
            data_model=ConcernContactShared,
            producer="intake",
            exchange=Exchange.PRIVATE,
        ),
        EventSpec(
            name="concern.delivery_bounced",
            data_model=ConcernDeliveryBounced,
            producer="intake",
            exchange=Exchange.PRIVATE,
        ),
        EventSpec(
            name="concern.reply_shared",
            data_model=ConcernReplyShared,
            producer="intake",
            exchange=Exchange.PRIVATE,
        ),
        EventSpec(
            name="concern.resolution_shared",
            data_model=ConcernResolutionShared,
            producer="intake",
            exchange=Exchange.PRIVATE,
        ),
        EventSpec(
            name="concern.details_shared",
            data_model=ConcernDetailsShared,
            producer="intake",
            exchange=Exchange.PRIVATE,
        ),
    )
}
# Routing events published twice (Security #2): in full on the private exchange, for bureau
# services (the envelope says `restricted`), and as a public copy that never shows a sensitive
# routing (a team or rule whose very name tells something about the student, e.g. special
# education) nor links between one family's concerns (possible duplicates).
DUAL_EVENTS = frozenset(
    {
        "concern.triaged",
        "concern.assigned",
        "concern.unassigned",
        "concern.escalated",
        "concern.merged",
    }
)
RESTRICTED = "restricted"
# What a public copy shows instead of a staff member who would tell a sensitive routing.
STAFF = "staff"

_BY_TYPE = {spec.type: spec for spec in CATALOGUE.values()}
_BY_MODEL = {spec.data_model: spec for spec in CATALOGUE.values()}


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope in JSON structured mode."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = SPEC_VERSION
    id: str
    source: str
    type: str
    time: datetime
    subject: str | None = None
    datacontenttype: str = CONTENT_TYPE
    data: dict[str, Any]

    @property
    def traceparent(self) -> str | None:
        """The W3C trace context extension, when the producer set one."""
        value = (self.model_extra or {}).get("traceparent")
        return value if isinstance(value, str) else None

    @property
    def spec(self) -> EventSpec:
        """The catalogue entry of this event; raises `UnknownEvent` when it has none."""
        try:
            return _BY_TYPE[self.type]
        except KeyError:
            raise UnknownEvent(self.type) from None

    @property
    def restricted(self) -> bool:
        """A full copy of a routing event, for bureau services only (see DUAL_EVENTS)."""
        return (self.model_extra or {}).get(RESTRICTED) is True

    @property
    def exchange(self) -> Exchange:
        """The exchange this envelope travels on: a restricted copy on the private one."""
        return Exchange.PRIVATE if self.restricted else self.spec.exchange

    @property
    def name(self) -> str:
        """The event name, which is also its routing key."""
        return self.spec.name

    def parsed(self) -> EventData:
        """The `data` validated against the contract of this event's type."""
        return self.spec.data_model.model_validate(self.data)


class UnknownEvent(LookupError):
    """An envelope whose `type` is not in the catalogue."""


class MalformedEvent(ValueError):
    """A message body that is not a valid CloudEvent of the bureau."""


def spec_of(data: EventData) -> EventSpec:
    """The catalogue entry for a data model instance."""
    return _BY_MODEL[type(data)]


def new_event(
    data: EventData,
    *,
    source: str,
    subject: str | None,
    time: datetime | None = None,
    event_id: str | None = None,
    restricted: bool | None = None,
) -> CloudEvent:
    """Wrap event data in an envelope with a fresh id and the concern's trace context. A
    routing event (DUAL_EVENTS) is the full, restricted copy unless `restricted=False` (its
    public copy)."""
    spec = spec_of(data)
    if restricted is None:
        restricted = spec.name in DUAL_EVENTS
    return CloudEvent.model_validate(
        {
            "id": event_id or str(uuid.uuid4()),
            "source": source,
            "type": spec.type,
            "time": time or datetime.now(UTC),
            "subject": subject,
            "data": data.model_dump(mode="json"),
            "traceparent": traceparent_for(subject),
            **({RESTRICTED: True} if restricted else {}),
        }
    )


def decode(body: bytes) -> CloudEvent:
    """Parse a message body into an envelope whose data matches the contract."""
    try:
        event = CloudEvent.model_validate_json(body)
        event.parsed()
    except (ValidationError, UnknownEvent) as exc:
        raise MalformedEvent(str(exc)) from exc
    return event


def encode(event: CloudEvent) -> bytes:
    """Serialise an envelope for the wire."""
    return event.model_dump_json(exclude_none=True).encode()


def public_copy(data: EventData, *, sensitive: bool) -> EventData:
    """The public copy of an escalation or a merge (DUAL_EVENTS; triage words its own routing
    events, which need the district's routes). Of a sensitive routing (a team whose very name
    tells something about the student) it names no staff member: an escalation names the
    role it reached, a merge says staff decided it."""
    if not sensitive:
        return data
    if isinstance(data, ConcernEscalated):
        return data.model_copy(update={"escalated_to": data.role, "escalated_to_name": data.role})
    if isinstance(data, ConcernMerged):
        return data.model_copy(update={"decided_by": STAFF})
    return data


def routed_envelopes(
    items: list[EventData], *, source: str, time: datetime, sensitive: bool
) -> list[CloudEvent]:
    """Envelopes of `items`, and of each escalation or merge among them its public copy
    (`public_copy`) beside the full one, which only bureau services read."""
    public = [
        public_copy(d, sensitive=sensitive)
        for d in items
        if isinstance(d, ConcernEscalated | ConcernMerged)
    ]
    return envelopes(items, source=source, time=time) + envelopes(
        public, source=source, time=time, restricted=False
    )


def envelopes(
    items: list[EventData], *, source: str, time: datetime, restricted: bool | None = None
) -> list[CloudEvent]:
    """Envelopes for events about concerns: the subject is the concern id."""
    return [
        new_event(
            d,
            source=source,
            subject=getattr(d, "concern_id", None),
            time=time,
            restricted=restricted,
        )
        for d in items
    ]
