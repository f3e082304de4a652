"""The concern as intake's decisions read it: a typed aggregate, mapped from the stored
document by the repository (`repository.case_of`), and the small typed views of it that the
requester's door and the reveals decide on (`RequesterAccess`, `Disclosable`). Handlers
decide on them, never on the raw document; views and API answers keep reading documents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from services.intake import access
from services.intake.domain import Requester, Status
from services.intake.lifecycle import Action, CaseState
from shared.errors import DomainError
from shared.events import Priority

if TYPE_CHECKING:
    from shared.authz import Access


@dataclass(frozen=True, kw_only=True)
class Case(CaseState):
    """A stored concern: what the state machine needs (`CaseState`: id, status, when it was
    resolved or merged, its callbacks) and what the handlers deciding on it read besides.

    `version` is the one read: a change is written only while the concern is still at it."""

    version: int
    category: str
    school_id: str | None = None
    team_id: str | None = None  # none until triage decided it
    priority: Priority | None = None  # none until triage decided it
    merged_into: str | None = None
    # when it was last merged, kept after a reopen undid that merge
    last_merged_at: datetime | None = None
    # how long the family has been silent: since when, and whether they were asked again
    awaiting_since: datetime | None = None
    requester_reminded_at: datetime | None = None

    @property
    def merged(self) -> bool:
        return self.merged_into is not None

    def long_wait(self, *, remind_before: datetime, close_before: datetime) -> Action | None:
        """What the bureau does about a family silent since before `close_before` (close
        with notice) or `remind_before` (ask again, once); none for any other case."""
        if self.status is not Status.AWAITING_REQUESTER or self.awaiting_since is None:
            return None
        if self.awaiting_since <= close_before:
            return Action.CLOSE_UNANSWERED
        if self.awaiting_since <= remind_before and self.requester_reminded_at is None:
            return Action.REMIND_REQUESTER
        return None


@dataclass(frozen=True, kw_only=True)
class RequesterAccess:
    """What opens a concern to its requester (`repository.requester_access_of`): the hashes
    of their token and PIN, and the wrong PINs in a row since the last right one."""

    id: str
    access_token_hash: str = ""
    pin_hash: str = ""
    pin_failures: int = 0
    pin_failed_at: datetime | None = None

    def token_opens(self, token: str) -> bool:
        """Whether the token given with the tracking number is this concern's."""
        return access.token_matches(token, self.access_token_hash)

    def pin_opens(self, pin: str, *, key: bytes) -> bool:
        """Whether the PIN is this concern's (whether a try may be made is `pin_try_counts`)."""
        return access.pin_matches(key, self.id, pin, self.pin_hash)

    def pin_try_counts(
        self,
        now: datetime,
        *,
        attempts: int = access.PIN_ATTEMPTS,
        lockout_s: float = access.PIN_LOCKOUT_S,
    ) -> bool:
        """Whether another PIN try may be made (and counted as wrong until it proves right):
        fewer wrong ones in a row than `attempts`, or the lockout since the last one over.
        The store applies the same rule in its conditional writes, atomically."""
        return access.pin_try_open(
            self.pin_failures, self.pin_failed_at, now=now, attempts=attempts, lockout_s=lockout_s
        )

    def pin_retry_after(self, now: datetime) -> float:
        """Seconds to wait (at least 1) when a try was refused as locked: the lockout from the
        last wrong try read, the whole of it when none was read (another try locked it since)."""
        ago = (now - self.pin_failed_at).total_seconds() if self.pin_failed_at else 0.0
        return max(1.0, access.pin_locked(access.PIN_ATTEMPTS, ago))


class NoStudentInformation(DomainError, LookupError):
    """The concern names no student."""

    status, title = 404, "No student information"

    def __init__(self, concern_id: str) -> None:
        super().__init__("This concern names no student.")
        self.concern_id = concern_id


class NoContact(DomainError, LookupError):
    """The requester left no way to reach them."""

    status, title = 404, "No contact"

    def __init__(self, concern_id: str) -> None:
        super().__init__("The requester left no way to reach them.")
        self.concern_id = concern_id


class DisclosureKind(StrEnum):
    """What a record of access is of (stored as the record's `kind`)."""

    STUDENT_REVEALED = "revealed"
    CONTACT_REVEALED = "contact_revealed"
    # found by the family's email or phone: recorded like a reveal of the contact
    REQUESTER_SEARCHED = "requester_searched"


@dataclass(frozen=True, kw_only=True)
class Disclosure:
    """The record of one access to what a concern keeps private (34 CFR 99.32 for a student):
    who, with which roles, when, why. Written before anything is shown; never changed."""

    id: str
    kind: DisclosureKind
    concern_id: str
    tracking_number: str
    actor: str
    roles: tuple[str, ...]
    reason: str
    at: datetime
    # a student reveal's keyed student id: finds the record of one student's disclosures
    student_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class Disclosable:
    """A concern as a reveal reads it (`repository.disclosable_of`): whose reach it is in
    (school, team, assignee), what a reveal may show (the requester's contact, the student
    as sealed) and what names it in a record."""

    id: str
    tracking_number: str
    school_id: str | None = None
    team_id: str | None = None
    assignee_id: str | None = None
    requester: Requester = field(default_factory=Requester)
    sealed_student: Mapping[str, Any] | None = None
    student_key: str | None = None
    # keyed hashes of the requester's email and phone: finds the family's other concerns
    requester_keys: tuple[str, ...] = ()

    def within(self, reach: Access) -> bool:
        """Whether the concern is within the caller's reach: its school or team, or it is
        assigned to the caller."""
        return reach.covers_concern(
            school_id=self.school_id, team_id=self.team_id, assignee_id=self.assignee_id
        )

    def contact(self) -> Requester:
        """The requester's contact to reveal; `NoContact` when they left none."""
        if self.requester.anonymous:
            raise NoContact(self.id)
        return self.requester

    def student(self) -> Mapping[str, Any]:
        """The student as sealed, to open and reveal; `NoStudentInformation` when none."""
        if not self.sealed_student:
            raise NoStudentInformation(self.id)
        return self.sealed_student

    def disclosure(
        self,
        kind: DisclosureKind,
        *,
        record_id: str,
        actor: str,
        roles: Iterable[str],
        reason: str,
        at: datetime,
        student_key: str | None = None,
    ) -> Disclosure:
        """The record of an access of `kind` to this concern (a student reveal names the
        student's key: the stored one, else `student_key`)."""
        student = kind is DisclosureKind.STUDENT_REVEALED
        return Disclosure(
            id=record_id,
            kind=kind,
            concern_id=self.id,
            tracking_number=self.tracking_number,
            actor=actor,
            roles=tuple(roles),
            reason=reason,
            at=at,
            student_key=(self.student_key or student_key) if student else None,
        )
