"""Intake's pure rules: tracking numbers, submission and the lifecycle table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake import domain
from services.intake.domain import NewConcern, Requester, Status, Student, TransitionNotAllowed
from shared.events import (
    Channel,
    ConcernContactShared,
    ConcernDetailsShared,
    ConcernReopened,
    ConcernResolved,
    ConcernStatusChanged,
    ConcernSubmitted,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 7, 22, 30, tzinfo=UTC)
SECRET = b"test-secret"


def new_concern(student: Student | None = None) -> NewConcern:
    return NewConcern(channel=Channel.PHONE, category="enrollment", school_id="lincoln-es",
                      description="Cannot finish the online enrollment form",
                      requester=Requester(name="Ana", email="ana@example.org", language="es"),
                      student=student)


def submitted(student: Student | None = None) -> domain.Concern:
    concern, _ = domain.submit(new_concern(student), concern_id="c1", tracking="CS-2026-000001",
                               now=NOW, guarantee=timedelta(hours=72),
                              contact_secret=SECRET)
    return concern


def test_tracking_number_is_year_and_zero_padded_sequence() -> None:
    assert domain.tracking_number(2026, 123) == "CS-2026-000123"
    assert domain.tracking_number(2027, 1_234_567) == "CS-2027-1234567"


def test_tracking_sequence_starts_at_one() -> None:
    with pytest.raises(ValueError):
        domain.tracking_number(2026, 0)


def test_submission_promises_resolution_72_hours_later() -> None:
    concern, _ = domain.submit(new_concern(), concern_id="c1", tracking="CS-2026-000001",
                               now=NOW, guarantee=timedelta(hours=72),
                              contact_secret=SECRET)
    assert concern.status is Status.RECEIVED
    assert concern.resolution_due_at == NOW + timedelta(hours=72)
    assert concern.history[0].to_status is Status.RECEIVED


def test_submission_tells_the_bureau_publicly_and_notify_privately() -> None:
    student = Student(name="Lucia", student_id="S-1", grade="4")
    _, events = domain.submit(new_concern(student), concern_id="c1", tracking="CS-2026-000001",
                              now=NOW, guarantee=timedelta(hours=72),
                              contact_secret=SECRET)
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
    _, events = domain.submit(new_concern(student), concern_id="c1", tracking="CS-2026-000001",
                              now=NOW, guarantee=timedelta(hours=72), contact_secret=SECRET)
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


def test_anonymous_requester_has_no_name_email_or_phone() -> None:
    assert Requester().anonymous
    assert not Requester(phone="+15555550100").anonymous


@pytest.mark.parametrize(("start", "to"), [
    (Status.RECEIVED, Status.ACKNOWLEDGED),
    (Status.ACKNOWLEDGED, Status.AWAITING_REQUESTER),
    (Status.AWAITING_REQUESTER, Status.ACKNOWLEDGED),
    (Status.RESOLVED, Status.REOPENED),
    (Status.RESOLVED, Status.CLOSED),
])
def test_allowed_transition_changes_status_and_records_history(start: Status, to: Status) -> None:
    from dataclasses import replace
    concern = replace(submitted(), status=start)
    after, events = domain.transition(concern, to, now=NOW, reason="why")
    assert after.status is to
    assert after.history[-1].from_status is start and after.history[-1].reason == "why"
    assert isinstance(events[0], ConcernStatusChanged)


@pytest.mark.parametrize(("start", "to"), [
    (Status.RECEIVED, Status.REOPENED),
    (Status.CLOSED, Status.REOPENED),
    (Status.RESOLVED, Status.ACKNOWLEDGED),
    (Status.RECEIVED, Status.RECEIVED),
])
def test_forbidden_transition_is_refused_with_the_allowed_ones(start: Status, to: Status) -> None:
    from dataclasses import replace
    with pytest.raises(TransitionNotAllowed, match="cannot become"):
        domain.transition(replace(submitted(), status=start), to, now=NOW)


def test_resolving_emits_resolved_and_reopening_emits_reopened() -> None:
    resolved, events = domain.transition(submitted(), Status.RESOLVED, now=NOW)
    assert any(isinstance(e, ConcernResolved) for e in events)
    _, events = domain.transition(resolved, Status.REOPENED, now=NOW)
    assert any(isinstance(e, ConcernReopened) for e in events)


def test_every_status_has_a_row_in_the_table() -> None:
    assert set(domain.TRANSITIONS) == set(Status)
