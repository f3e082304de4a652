"""The concern aggregate intake decides on, as the repository maps it from a stored concern."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.aggregate import Case
from services.intake.domain import Status
from services.intake.lifecycle import Action, CallbackStatus, Command, decide
from services.intake.repository import CASE_FIELDS, case_of
from shared.events import Priority

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 7, 22, 30, tzinfo=UTC)


def stored(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "_id": "c1",
        "status": "resolved",
        "version": 7,
        "category": "transportation",
        "school_id": "lincoln-es",
        "priority": "high",
        "resolution": {"at": NOW.replace(tzinfo=None), "summary": "route changed"},
        "merged_into": None,
        "callbacks": [{"id": "cb1", "due_at": NOW, "actor": "staff-1"}],
        "messages": [{"text": "not read by decisions"}],
    }
    doc.update(changes)
    return doc


def test_a_stored_concern_maps_to_the_case_decisions_read() -> None:
    case = case_of(stored())
    assert isinstance(case, Case)
    assert (case.id, case.version, case.status) == ("c1", 7, Status.RESOLVED)
    assert (case.category, case.school_id, case.priority) == (
        "transportation",
        "lincoln-es",
        Priority.HIGH,
    )
    assert case.resolved_at == NOW and case.merged_at is None and not case.merged
    [callback] = case.callbacks
    assert callback.status is CallbackStatus.SCHEDULED and callback.scheduled_at == NOW


def test_a_case_before_triage_or_merged_away() -> None:
    fresh = case_of(stored(status="received", priority=None, resolution=None, school_id=None))
    assert fresh.priority is None and fresh.school_id is None and fresh.resolved_at is None
    merged = case_of(stored(status="closed", merged_into="c0", merged_at=NOW))
    assert merged.merged and merged.merged_at == NOW


def test_the_load_projection_holds_every_field_the_mapping_reads() -> None:
    doc = stored(merged_into="c0", merged_at=NOW)
    projected = {k: v for k, v in doc.items() if k == "_id" or k in CASE_FIELDS}
    assert case_of(projected) == case_of(doc)


def test_the_lifecycle_decides_on_the_case() -> None:
    case = case_of(stored())
    outcome = decide(
        case,
        Command(Action.REOPEN, "staff-1"),
        now=NOW + timedelta(days=1),
        entry_id="e1",
        guarantee=timedelta(hours=72),
    )
    assert outcome.from_status is Status.RESOLVED and outcome.to_status is Status.REOPENED


def test_a_long_wait_is_closed_after_the_close_delay_and_asked_again_once_before() -> None:
    since = NOW - timedelta(days=6)
    waiting = case_of(stored(status="awaiting_requester", resolution=None, awaiting_since=since))
    remind_before, close_before = NOW - timedelta(days=5), NOW - timedelta(days=10)
    assert waiting.awaiting_since == since
    assert waiting.long_wait(remind_before=remind_before, close_before=close_before) is (
        Action.REMIND_REQUESTER
    )
    reminded = case_of(
        stored(
            status="awaiting_requester",
            awaiting_since=since,
            requester_reminded_at=NOW - timedelta(days=1),
        )
    )
    assert reminded.long_wait(remind_before=remind_before, close_before=close_before) is None
    assert reminded.long_wait(remind_before=remind_before, close_before=since) is (
        Action.CLOSE_UNANSWERED
    )
    assert (
        waiting.long_wait(remind_before=since - timedelta(days=1), close_before=close_before)
        is None
    )
    answered = case_of(stored(status="acknowledged", awaiting_since=since))
    assert answered.long_wait(remind_before=NOW, close_before=NOW) is None


def test_a_case_knows_its_owning_team_once_triaged() -> None:
    assert case_of(stored(team_id="transportation")).team_id == "transportation"
    assert case_of(stored()).team_id is None
