"""Intake's rules for a new concern: tracking numbers, the requester, and what a submission
tells the bureau. The lifecycle after submission is in `lifecycle.py`.

Pure: no I/O, no framework. Functions take the current time and return new state plus the
event data to publish; the handler stores both in one write.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from shared.events import (
    OPEN_STATUSES as OPEN_STATUSES,  # intake's modules import it from here
)
from shared.events import (
    Channel,
    ConcernContactShared,
    ConcernDetailsShared,
    ConcernStatus,
    ConcernSubmitted,
    EventData,
    RequesterContact,
)

# A concern's lifecycle status: the contract's (it travels in `concern.status_changed`).
Status = ConcernStatus

# The category of a concern submitted without one (a mail, a call): triage routes it to the
# district's fallback team, where staff categorise it.
UNCATEGORIZED = "uncategorized"


class ContactChannel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    SMS = "sms"


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
    preferred_contact: ContactChannel | None = None
    # the Message-ID of the mail the concern came from: the acknowledgement answers it, in
    # the same thread of the requester's mail client (kept and shared as privately as the
    # address)
    reply_to_message_id: str | None = None

    @property
    def anonymous(self) -> bool:
        return not (self.name or self.email or self.phone)

    @property
    def reachable(self) -> bool:
        """Updates can be promised only to a requester the bureau can reach."""
        return bool(self.email or self.phone)

    def reachable_in_writing(self, *, sms: bool) -> bool:
        """Whether the bureau can write to the requester: by email, or by SMS when it
        sends SMS (a phone number alone is no promise of updates without SMS)."""
        return bool(self.email or (self.phone and sms))

    @property
    def written_channel(self) -> Literal["email", "sms"] | None:
        """The channel notify should write on: a call-back preference has no written form,
        so notify then chooses (email when there is one)."""
        if self.preferred_contact is ContactChannel.EMAIL:
            return "email"
        if self.preferred_contact is ContactChannel.SMS:
            return "sms"
        return None

    def contact_problem(self) -> tuple[str, str] | None:
        """The field and reason when the preferred channel has no address to use."""
        wanted = self.preferred_contact
        if wanted is ContactChannel.EMAIL and not self.email:
            return "requester.email", "an email address is needed to be contacted by email"
        if wanted in (ContactChannel.PHONE, ContactChannel.SMS) and not self.phone:
            return "requester.phone", f"a phone number is needed to be contacted by {wanted}"
        return None


def contact_key(requester: Requester, secret: bytes) -> str | None:
    """A keyed hash of the requester's contact, so that triage can match repeat requesters
    without ever seeing the contact itself. The email wins over the phone when both exist."""
    contact = (requester.email or "").strip().lower() or (requester.phone or "").strip()
    if not contact:
        return None
    return hmac.new(secret, contact.encode(), hashlib.sha256).hexdigest()


def lookup_term(value: str) -> str | None:
    """An email (lowercased) or a phone number (E.164: `+` and 8 to 15 digits, separators
    dropped) as searched for; None for anything else."""
    value = value.strip()
    if "@" in value:
        return f"email:{value.lower()}" if len(value) >= 3 and " " not in value else None
    phone = "".join(c for c in value if c not in " -().")
    if phone.startswith("+") and phone[1:].isdigit() and 8 <= len(phone) - 1 <= 15:
        return f"phone:{phone}"
    return None


def requester_key(term: str, secret: bytes) -> str:
    """The keyed hash of one lookup term: finds a requester's concerns, never reveals them."""
    return hmac.new(secret, b"lookup:" + term.encode(), hashlib.sha256).hexdigest()


def requester_keys(requester: Requester, secret: bytes) -> tuple[str, ...]:
    """The keyed hashes of a requester's email and phone, stored with the concern so staff
    can find a family's earlier concerns by either without contact in any query or index."""
    return contact_keys(requester.email, requester.phone, secret=secret)


def contact_keys(*contacts: str | None, secret: bytes) -> tuple[str, ...]:
    """The keyed hashes of these emails and phone numbers (blanks and others left out)."""
    terms = (lookup_term(v) for v in contacts if v)
    return tuple(requester_key(t, secret) for t in terms if t)


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
class Location:
    """Where it happened when a school alone does not say it: a bus stop, a crossing."""

    address: str | None = None
    lat: float | None = None
    long: float | None = None


@dataclass(frozen=True)
class NewConcern:
    """What a frontend submits, already validated for shape."""

    channel: Channel
    category: str
    school_id: str | None
    description: str
    requester: Requester
    student: Student | None
    school_contacted: bool | None = None
    taken_by: str = "unknown"
    via: str | None = None
    location: Location | None = None
    media_url: str | None = None
    # what the filing client sent for its own reference (Open311 account_id, device_id,
    # attribute[...]): kept with the case, shown to no one else
    client_reference: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Concern:
    """A concern as submitted; its later life is recorded by `lifecycle` outcomes."""

    id: str
    tracking_number: str
    channel: Channel
    category: str
    school_id: str | None
    description: str
    requester: Requester
    student: Student | None
    school_contacted: bool | None
    taken_by: str
    via: str | None
    status: Status
    submitted_at: datetime
    resolution_due_at: datetime
    access_token_hash: str
    location: Location | None = None
    media_url: str | None = None
    client_reference: Mapping[str, str] = field(default_factory=dict)
    pin_hash: str = ""
    requester_keys: tuple[str, ...] = ()


def submit(
    new: NewConcern,
    *,
    concern_id: str,
    tracking: str,
    now: datetime,
    guarantee: timedelta,
    contact_secret: bytes,
    access_token_hash: str,
    pin_hash: str = "",
    access_token: str | None = None,
    pin: str | None = None,
    resolution_due_at: datetime | None = None,
) -> tuple[Concern, list[EventData]]:
    """A received concern, its promised resolution time, and what it tells the bureau.

    The requester's token and PIN themselves (never stored here) go only to notify, on the
    private exchange, for the personal status link and the PIN of the acknowledgement.
    `resolution_due_at` is the SLA clock's (see `promise.py`); without it, `guarantee` after
    submission."""
    concern = Concern(
        id=concern_id,
        tracking_number=tracking,
        channel=new.channel,
        category=new.category,
        school_id=new.school_id,
        description=new.description,
        requester=new.requester,
        student=new.student,
        school_contacted=new.school_contacted,
        taken_by=new.taken_by,
        via=new.via,
        status=Status.RECEIVED,
        submitted_at=now,
        resolution_due_at=resolution_due_at or now + guarantee,
        access_token_hash=access_token_hash,
        location=new.location,
        media_url=new.media_url,
        client_reference=new.client_reference,
        pin_hash=pin_hash,
        requester_keys=requester_keys(new.requester, contact_secret),
    )
    public = ConcernSubmitted(
        concern_id=concern.id,
        tracking_number=tracking,
        channel=new.channel,
        category=new.category,
        school_id=new.school_id,
        submitted_at=now,
        resolution_due_at=concern.resolution_due_at,
        has_student_information=new.student is not None,
    )
    private = ConcernContactShared(
        concern_id=concern.id,
        tracking_number=tracking,
        category=new.category,
        submitted_at=now,
        resolution_due_at=concern.resolution_due_at,
        requester=RequesterContact(
            name=new.requester.name,
            email=new.requester.email,
            phone=new.requester.phone,
            language=new.requester.language,
            preferred_channel=new.requester.written_channel,
        ),
        access_token=access_token,
        pin=pin,
        reply_to_message_id=new.requester.reply_to_message_id,
    )
    details = ConcernDetailsShared(
        concern_id=concern.id,
        category=new.category,
        school_id=new.school_id,
        channel=new.channel,
        description=new.description,
        requester_relationship=new.requester.relationship,
        contact_key=contact_key(new.requester, contact_secret),
        student_flags=new.student.flags if new.student else [],
        submitted_at=now,
        school_contacted=new.school_contacted,
    )
    return concern, [public, private, details]
