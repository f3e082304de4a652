"""Intake's requester door and reveals, decided on typed views of the concern (in-memory
repositories, a fake clock): a PIN locks after its wrong tries in a row and opens again after
the lockout; a reveal is for a caller whose schools or teams reach the concern (or to whom it
is assigned), refuses a concern with nothing to show, and is recorded before it is answered
(who, with which roles, when, why; a student's reveal under the student's key)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from typing import cast

import pytest

from services.intake import access, handlers
from services.intake.aggregate import (
    Disclosable,
    Disclosure,
    DisclosureKind,
    NoContact,
    NoStudentInformation,
    RequesterAccess,
)
from services.intake.domain import ContactChannel, Requester, Student
from services.intake.fakes import FakeDisclosureRepository
from services.intake.repository import disclosable_of, requester_access_of
from shared.auth import Principal, Role
from shared.authz import Access, Permission
from tests.unit.test_intake_handlers_fast import T0, enrollment_concern
from tests.unit.test_intake_handlers_fast import Intake as FakeIntake

pytestmark = pytest.mark.unit

LOCKOUT = timedelta(seconds=access.PIN_LOCKOUT_S)
REASON = "calling the family back about the enrollment form"
LUCIA = Student(name="Lucia Gonzalez", student_id="S-778812", grade="3")


def wrong(pin: str) -> str:
    """A PIN that is not `pin`."""
    return "000000" if pin != "000000" else "111111"


class Intake(FakeIntake):
    """Intake's context over fakes, on a fake clock (the handler tests'), with the doors and
    reveals these tests read."""

    @property
    def disclosures(self) -> FakeDisclosureRepository:
        return cast(FakeDisclosureRepository, self.ctx.disclosures)

    async def file(
        self, requester: Requester | None = None, student: Student | None = None
    ) -> handlers.Submission:
        new = replace(
            enrollment_concern(),
            requester=requester or Requester(name="Ana", phone="+15551234567"),
            student=student,
        )
        return await handlers.submit_concern(new, ctx=self.ctx)

    def door(self, concern_id: str) -> RequesterAccess:
        return requester_access_of(self.case(concern_id))

    async def concern(self, concern_id: str) -> Disclosable:
        found = await self.repo.disclosable(concern_id)
        assert found is not None
        return found

    async def try_pin(self, concern_id: str, pin: str) -> bool:
        return await handlers.pin_opens(self.door(concern_id), pin, ctx=self.ctx)


def staff(
    subject: str = "sd-1", *, schools: Iterable[str] = (), teams: Iterable[str] = ()
) -> Access:
    return Access(
        principal=Principal(subject=subject, roles=frozenset({Role.TEAM_MEMBER})),
        permission=Permission.CONCERN_ACT,
        everything=False,
        schools=frozenset(schools),
        teams=frozenset(teams),
        itself=False,
    )


# --- the PIN: counting and lockout ---------------------------------------------------------


def test_a_pin_may_be_tried_until_its_wrong_tries_in_a_row_reach_the_limit() -> None:
    last = T0 - timedelta(seconds=10)
    fewer = RequesterAccess(id="c-1", pin_failures=access.PIN_ATTEMPTS - 1, pin_failed_at=last)
    locked = RequesterAccess(id="c-1", pin_failures=access.PIN_ATTEMPTS, pin_failed_at=last)

    assert RequesterAccess(id="c-1").pin_try_counts(T0)  # never tried
    assert fewer.pin_try_counts(T0)
    assert not locked.pin_try_counts(T0)
    assert not locked.pin_try_counts(last + LOCKOUT)  # the lockout not yet over
    assert locked.pin_try_counts(last + LOCKOUT + timedelta(seconds=1))


def test_a_locked_pin_tells_how_long_to_wait_from_its_last_wrong_try() -> None:
    tried = RequesterAccess(
        id="c-1", pin_failures=access.PIN_ATTEMPTS, pin_failed_at=T0 - timedelta(minutes=10)
    )

    assert tried.pin_retry_after(T0) == access.PIN_LOCKOUT_S - 600
    assert tried.pin_retry_after(T0 + LOCKOUT) == 1.0  # never less than a second
    # refused before any wrong try was read (another request locked it meanwhile): all of it
    assert RequesterAccess(id="c-1").pin_retry_after(T0) == access.PIN_LOCKOUT_S


async def test_the_token_and_the_pin_given_at_submission_open_the_concern_and_others_do_not() -> (
    None
):
    intake = Intake()
    submission = await intake.file()
    concern_id = str(submission.document["_id"])
    door = intake.door(concern_id)

    assert door.token_opens(submission.access_token)
    assert not door.token_opens(submission.access_token[:-1] + "x")
    assert door.pin_opens(submission.pin, key=b"access-key")
    assert not door.pin_opens(submission.pin, key=b"another-key")
    assert not door.pin_opens(wrong(submission.pin), key=b"access-key")


async def test_five_wrong_pins_lock_even_the_right_one_until_the_lockout_is_over() -> None:
    intake = Intake()
    submission = await intake.file()
    concern_id = str(submission.document["_id"])
    for _ in range(access.PIN_ATTEMPTS):
        assert not await intake.try_pin(concern_id, wrong(submission.pin))
    with pytest.raises(handlers.PinLocked) as locked:
        await intake.try_pin(concern_id, submission.pin)
    assert locked.value.problem_headers() == {"Retry-After": str(access.PIN_LOCKOUT_S)}

    intake.clock.advance(LOCKOUT + timedelta(seconds=1))
    assert await intake.try_pin(concern_id, submission.pin)
    assert intake.door(concern_id).pin_failures == 0  # a right PIN starts the count again


async def test_a_wrong_pin_after_the_lockout_locks_the_pin_again_at_once() -> None:
    intake = Intake()
    submission = await intake.file()
    concern_id = str(submission.document["_id"])
    for _ in range(access.PIN_ATTEMPTS):
        await intake.try_pin(concern_id, wrong(submission.pin))

    intake.clock.advance(LOCKOUT + timedelta(seconds=1))
    assert not await intake.try_pin(concern_id, wrong(submission.pin))
    with pytest.raises(handlers.PinLocked):
        await intake.try_pin(concern_id, submission.pin)


# --- who may reveal -----------------------------------------------------------------------


def test_a_concern_is_revealed_only_within_the_callers_schools_teams_or_assignments() -> None:
    concern = Disclosable(
        id="c-1",
        tracking_number="CS-2026-000001",
        school_id="lincoln-es",
        team_id="transportation",
        assignee_id="sd-7",
    )

    assert concern.within(staff(schools={"lincoln-es"}))
    assert concern.within(staff(teams={"transportation"}))
    assert concern.within(staff("sd-7"))  # assigned to them, whatever their team
    assert not concern.within(staff(schools={"washington-ms"}, teams={"special-education"}))


def test_only_a_requester_who_left_a_contact_and_a_concern_naming_a_student_reveal_them() -> None:
    anonymous = Disclosable(id="c-1", tracking_number="CS-2026-000001")
    named = Disclosable(
        id="c-2",
        tracking_number="CS-2026-000002",
        requester=Requester(name="Ana"),
        sealed_student={"kid": "k1", "nonce": "n", "ciphertext": "c"},
    )

    with pytest.raises(NoContact):
        anonymous.contact()
    with pytest.raises(NoStudentInformation):
        anonymous.student()
    assert named.contact() == Requester(name="Ana")
    assert named.student()["kid"] == "k1"


# --- what a reveal records ----------------------------------------------------------------


def test_a_record_names_the_concern_who_when_why_and_for_a_student_the_students_key() -> None:
    concern = Disclosable(id="c-1", tracking_number="CS-2026-000001", student_key="key-stored")
    unkeyed = Disclosable(id="c-2", tracking_number="CS-2026-000002")

    def record(on: Disclosable, kind: DisclosureKind) -> Disclosure:
        return on.disclosure(
            kind,
            record_id="d-1",
            actor="sd-1",
            roles=["specialist"],
            reason=REASON,
            at=T0,
            student_key="key-of-the-id",
        )

    assert record(concern, DisclosureKind.STUDENT_REVEALED) == Disclosure(
        id="d-1",
        kind=DisclosureKind.STUDENT_REVEALED,
        concern_id="c-1",
        tracking_number="CS-2026-000001",
        actor="sd-1",
        roles=("specialist",),
        reason=REASON,
        at=T0,
        student_key="key-stored",
    )
    # a concern stored before its student's key was kept: the key of the revealed id
    assert record(unkeyed, DisclosureKind.STUDENT_REVEALED).student_key == "key-of-the-id"
    # a contact's reveal and a search name no student
    assert record(concern, DisclosureKind.CONTACT_REVEALED).student_key is None
    searched = record(concern, DisclosureKind.REQUESTER_SEARCHED)
    assert (searched.kind, searched.student_key) == (DisclosureKind.REQUESTER_SEARCHED, None)


async def test_a_contact_reveal_is_recorded_before_the_contact_is_answered() -> None:
    intake = Intake()
    requester = Requester(
        name="Ana", phone="+15551234567", language="es", preferred_contact=ContactChannel.SMS
    )
    concern_id = str((await intake.file(requester=requester)).document["_id"])
    concern = await intake.concern(concern_id)

    contact, disclosure_id = await handlers.reveal_contact(
        concern, actor="sd-1", roles=["team_member"], reason=REASON, ctx=intake.ctx
    )

    assert (contact.name, contact.phone, contact.language) == ("Ana", "+15551234567", "es")
    assert contact.preferred_contact is ContactChannel.SMS
    assert intake.disclosures.entries == [
        {
            "_id": disclosure_id,
            "kind": "contact_revealed",
            "concern_id": concern_id,
            "tracking_number": concern.tracking_number,
            "actor": "sd-1",
            "roles": ["team_member"],
            "reason": REASON,
            "at": T0,
        }
    ]


async def test_an_anonymous_requesters_contact_is_refused_and_nothing_is_recorded() -> None:
    intake = Intake()
    concern_id = str((await intake.file(requester=Requester())).document["_id"])

    with pytest.raises(NoContact):
        await handlers.reveal_contact(
            await intake.concern(concern_id),
            actor="sd-1",
            roles=["team_member"],
            reason=REASON,
            ctx=intake.ctx,
        )
    assert intake.disclosures.entries == []


async def test_a_student_reveal_answers_the_student_and_is_recorded_under_the_students_key() -> (
    None
):
    intake = Intake()
    concern_id = str((await intake.file(student=LUCIA)).document["_id"])

    student, disclosure_id = await handlers.reveal_student(
        await intake.concern(concern_id),
        actor="pr-lincoln",
        roles=["principal"],
        reason=REASON,
        ctx=intake.ctx,
    )

    assert student == LUCIA
    [record] = intake.disclosures.entries
    assert record["_id"] == disclosure_id
    assert record["kind"] == "revealed"
    assert record["student_key"] == intake.repo.vault.lookup_key(LUCIA.student_id)
    # the student's record of disclosures lists it (34 CFR 99.32)
    assert await intake.disclosures.for_student(record["student_key"]) == [record]


async def test_a_concern_naming_no_student_has_nothing_to_reveal_and_records_nothing() -> None:
    intake = Intake()
    concern_id = str((await intake.file()).document["_id"])

    with pytest.raises(NoStudentInformation):
        await handlers.reveal_student(
            await intake.concern(concern_id),
            actor="pr-lincoln",
            roles=["principal"],
            reason=REASON,
            ctx=intake.ctx,
        )
    assert intake.disclosures.entries == []


def test_a_concern_as_a_list_reads_it_maps_to_a_record_without_its_private_fields() -> None:
    # a search records each concern found from the list's documents, which leave out the
    # requester's contact, the student and the keys
    listed = {"_id": "c-1", "tracking_number": "CS-2026-000001", "school_id": "lincoln-es"}

    concern = disclosable_of(listed)

    assert concern.requester.anonymous
    assert (concern.sealed_student, concern.student_key, concern.requester_keys) == (None, None, ())
    record = concern.disclosure(
        DisclosureKind.REQUESTER_SEARCHED,
        record_id="d-1",
        actor="ia-1",
        roles=["intake_agent"],
        reason=REASON,
        at=T0,
    )
    assert (record.concern_id, record.tracking_number) == ("c-1", "CS-2026-000001")
