"""Intake's pure rules for a new concern: tracking numbers, the requester, submission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake import domain
from services.intake.domain import ContactChannel, NewConcern, Requester, Status, Student
from shared.events import Channel, ConcernContactShared, ConcernDetailsShared, ConcernSubmitted

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 7, 22, 30, tzinfo=UTC)
SECRET = b"test-secret"


def new_concern(student: Student | None = None, **changes: object) -> NewConcern:
    fields: dict[str, object] = dict(
        channel=Channel.PHONE,
        category="enrollment",
        school_id="lincoln-es",
        description="Cannot finish the online enrollment form",
        requester=Requester(name="Ana", email="ana@example.org", language="es"),
        student=student,
        school_contacted=True,
        taken_by="agent-7",
    )
    fields.update(changes)
    return NewConcern(**fields)  # type: ignore[arg-type]


def submit(new: NewConcern) -> tuple[domain.Concern, list]:
    return domain.submit(
        new,
        concern_id="c1",
        tracking="CS-2026-000001",
        now=NOW,
        guarantee=timedelta(hours=72),
        contact_secret=SECRET,
        access_token_hash="h",
    )


def test_tracking_number_is_year_and_zero_padded_sequence() -> None:
    assert domain.tracking_number(2026, 123) == "CS-2026-000123"
    assert domain.tracking_number(2027, 1_234_567) == "CS-2027-1234567"


def test_tracking_sequence_starts_at_one() -> None:
    with pytest.raises(ValueError):
        domain.tracking_number(2026, 0)


def test_submission_promises_resolution_72_hours_later_and_records_the_agent() -> None:
    concern, _ = submit(new_concern())
    assert concern.status is Status.RECEIVED
    assert concern.resolution_due_at == NOW + timedelta(hours=72)
    assert concern.taken_by == "agent-7"
    assert concern.school_contacted is True


def test_submission_tells_the_bureau_publicly_and_notify_privately() -> None:
    student = Student(name="Lucia", student_id="S-1", grade="4")
    _, events = submit(new_concern(student))
    public, private, _ = events
    assert isinstance(public, ConcernSubmitted)
    assert public.has_student_information is True
    assert "Lucia" not in public.model_dump_json() and "ana@" not in public.model_dump_json()
    assert isinstance(private, ConcernContactShared)
    assert private.requester.email == "ana@example.org"
    assert private.requester.language == "es"
    assert "Lucia" not in private.model_dump_json()


def test_triage_gets_description_flags_and_a_contact_key_but_no_identity() -> None:
    student = Student(name="Lucia", student_id="S-1", grade="4", special_education=True)
    _, events = submit(new_concern(student))
    details = events[2]
    assert isinstance(details, ConcernDetailsShared)
    assert details.description == "Cannot finish the online enrollment form"
    assert details.student_flags == ["special_education"]
    dumped = details.model_dump_json()
    assert "Lucia" not in dumped and "S-1" not in dumped and "ana@example.org" not in dumped
    assert details.contact_key == domain.contact_key(Requester(email="ANA@example.org "), SECRET)


def test_contact_key_depends_on_the_secret_and_is_absent_for_anonymous_requesters() -> None:
    requester = Requester(phone="+15555550100")
    assert domain.contact_key(requester, b"a") != domain.contact_key(requester, b"b")
    assert domain.contact_key(Requester(), SECRET) is None


def test_anonymous_requester_has_no_name_email_or_phone_and_cannot_be_promised_updates() -> None:
    assert Requester().anonymous and not Requester().reachable
    assert Requester(name="Ana").anonymous is False and not Requester(name="Ana").reachable
    assert Requester(phone="+15555550100").reachable


@pytest.mark.parametrize(
    ("requester", "field"),
    [
        (
            Requester(preferred_contact=ContactChannel.EMAIL, phone="+15555550100"),
            "requester.email",
        ),
        (Requester(preferred_contact=ContactChannel.SMS, email="a@example.org"), "requester.phone"),
        (Requester(preferred_contact=ContactChannel.PHONE), "requester.phone"),
    ],
)
def test_preferred_contact_channel_needs_its_address(requester: Requester, field: str) -> None:
    problem = requester.contact_problem()
    assert problem is not None and problem[0] == field


def test_preferred_contact_channel_with_its_address_is_fine() -> None:
    assert (
        Requester(preferred_contact=ContactChannel.SMS, phone="+15555550100").contact_problem()
        is None
    )


def test_triage_hears_whether_the_school_has_seen_the_concern() -> None:
    for contacted in (True, False, None):
        _, events = submit(new_concern(school_contacted=contacted))
        [details] = [e for e in events if isinstance(e, ConcernDetailsShared)]
        assert details.school_contacted is contacted
