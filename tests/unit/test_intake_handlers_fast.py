"""Intake's handlers on in-memory repositories (milliseconds, no store): what triage,
escalation and notify report reaches the case once however often it arrives, a triage merge
closes the duplicate once and never after the family reopened it, a merge is refused into a
closed concern or one the caller may not act on, a family long silent is asked again and then
closed with notice, a stale version and a reused idempotency key are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake import handlers
from services.intake.aggregate import Case
from services.intake.config import IntakeConfig
from services.intake.context import IntakeContext
from services.intake.domain import NewConcern, Requester
from services.intake.fakes import (
    FakeConcernRepository,
    FakeDisclosureRepository,
    FakeIdempotencyKeys,
)
from services.intake.lifecycle import Action, ActionNotAllowed, Command, InvalidCommand
from services.intake.repository import requester_access_of
from services.intake.students import StudentVault
from shared.clock import FakeClock
from shared.district import load_district
from shared.events import (
    Channel,
    CloudEvent,
    ConcernAssigned,
    ConcernEscalated,
    ConcernMerged,
    ConcernTriaged,
    EventData,
    NotificationSent,
    Priority,
    SlaDueChanged,
    new_event,
)
from shared.settings import DEFAULT_DISTRICT_CONFIG
from shared.store import Document

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DISTRICT = load_district(DEFAULT_DISTRICT_CONFIG)
CONFIG = DISTRICT.section("intake", IntakeConfig)


def enrollment_concern(*, school_id: str | None = "lincoln-es", language: str = "en") -> NewConcern:
    """Ana's concern about the enrollment form, as the web submits it."""
    return NewConcern(
        channel=Channel.WEB,
        category="enrollment",
        school_id=school_id,
        description="The online enrollment form will not take our new address",
        requester=Requester(name="Ana", email="ana@example.org", language=language),
        student=None,
    )


class Intake:
    """Intake's context over fakes, on a fake clock."""

    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        vault = StudentVault(keys={"k1": bytes(32)}, current="k1", hash_key=b"student-hash")
        self.repo = FakeConcernRepository(vault)
        self.keys = FakeIdempotencyKeys()
        self.ctx = IntakeContext(
            repo=self.repo,  # type: ignore[arg-type]  # the fakes have the interface
            keys=self.keys,  # type: ignore[arg-type]
            clock=self.clock,
            district=DISTRICT,
            config=CONFIG,
            source="/bureau/intake",
            published=lambda: None,
            contact_secret=b"contact-secret",
            access_key=b"access-key",
            disclosures=FakeDisclosureRepository(),  # type: ignore[arg-type]
        )

    async def submit(self, *, school_id: str | None = "lincoln-es", language: str = "en") -> str:
        new = enrollment_concern(school_id=school_id, language=language)
        return str((await handlers.submit_concern(new, ctx=self.ctx)).document["_id"])

    async def on(self, data: EventData, event: CloudEvent | None = None) -> CloudEvent:
        """Deliver an event as the consumer does (again, when `event` is given)."""
        event = event or new_event(
            data, source="/bureau/test", subject=getattr(data, "concern_id", None), time=T0
        )
        await handlers.HANDLERS.bind(self.ctx)[event.name](event, data)
        return event

    async def act(
        self, concern_id: str, action: Action, text: str, *, into: str | None = None
    ) -> Document:
        """A staff member's action on the case."""
        command = Command(action, "sd-1", text=text, into=into)
        return await handlers.act(concern_id, command, ctx=self.ctx)

    def case(self, concern_id: str) -> dict[str, Any]:
        return self.repo.documents[concern_id]

    def kinds(self, concern_id: str) -> list[str]:
        return [e["kind"] for e in self.case(concern_id)["timeline"]]

    def published(self, concern_id: str) -> list[str]:
        return [e.name for e in self.repo.outbox if e.subject == concern_id]


def triaged(concern_id: str, *, team_id: str = "transportation") -> ConcernTriaged:
    return ConcernTriaged(
        concern_id=concern_id,
        category="transportation",
        school_id="lincoln-es",
        team_id=team_id,
        team_name="Transportation Department",
        priority=Priority.HIGH,
        rule="category",
        triaged_at=T0,
    )


def merged(concern_id: str, into: str) -> ConcernMerged:
    return ConcernMerged(
        concern_id=concern_id, into_concern_id=into, merged_at=T0, decided_by="sd-lead"
    )


async def test_a_routed_decision_moves_the_case_and_is_recorded_once_when_redelivered() -> None:
    intake = Intake()
    cid = await intake.submit()
    event = await intake.on(triaged(cid))
    await intake.on(triaged(cid), event)  # redelivered
    case = intake.case(cid)
    assert (case["category"], case["team_id"], case["priority"]) == (
        "transportation",
        "transportation",
        "high",
    )
    assert case["status"] == "received" and case["version"] == 2
    assert intake.kinds(cid) == ["submitted", "triaged"]
    assigned = ConcernAssigned(
        concern_id=cid,
        team_id="transportation",
        assignee_id="tr-1",
        assignee_name="Tom Reyes",
        assigned_at=T0,
    )
    event = await intake.on(assigned)
    await intake.on(assigned, event)
    assert intake.case(cid)["assignee_id"] == "tr-1" and intake.case(cid)["version"] == 3
    assert intake.kinds(cid) == ["submitted", "triaged", "assigned"]


async def test_an_event_about_a_concern_intake_does_not_hold_is_refused_for_a_retry() -> None:
    intake = Intake()
    with pytest.raises(handlers.ConcernNotFound):
        await intake.on(triaged("not-yet-stored"))
    with pytest.raises(handlers.ConcernNotFound):
        await intake.on(
            NotificationSent(
                concern_id="not-yet-stored",
                delivery_id="d1",
                kind="acknowledgement",
                channel="email",
                sent_at=T0,
            )
        )


async def test_the_latest_clock_report_wins_whatever_order_it_arrives_in() -> None:
    intake = Intake()
    cid = await intake.submit()

    def due(sequence: int, hours: int, *, paused: bool = False) -> SlaDueChanged:
        return SlaDueChanged(
            concern_id=cid,
            resolution_due_at=T0 + timedelta(hours=hours),
            first_response_due_at=T0 + timedelta(hours=1),
            paused=paused,
            policy="standard",
            cycle=1,
            sequence=sequence,
            changed_at=T0,
        )

    await intake.on(due(2, 96, paused=True))
    await intake.on(due(1, 72))  # older, arrived late
    case = intake.case(cid)
    assert case["resolution_due_at"] == T0 + timedelta(hours=96)
    assert (case["due_sequence"], case["sla_paused"]) == (2, True)
    with pytest.raises(handlers.ConcernNotFound):
        await intake.on(due(3, 1).model_copy(update={"concern_id": "gone"}))


async def test_an_escalation_reminder_joins_the_timeline_and_keeps_the_escalation() -> None:
    intake = Intake()
    cid = await intake.submit()
    escalated = ConcernEscalated(
        concern_id=cid,
        level=1,
        role="principal",
        escalated_to="p-lincoln",
        escalated_to_name="Pat Lincoln",
        escalated_at=T0,
    )
    await intake.on(escalated)
    await intake.on(escalated.model_copy(update={"reminder": 1, "escalated_to_name": "Other"}))
    assert intake.case(cid)["escalation"]["escalated_to_name"] == "Pat Lincoln"
    assert [e.get("reminder") for e in intake.case(cid)["timeline"][1:]] == [0, 1]


async def test_a_triage_merge_closes_the_duplicate_once_without_publishing_the_merge_again() -> (
    None
):
    intake = Intake()
    original, duplicate = await intake.submit(), await intake.submit()
    event = await intake.on(merged(duplicate, original))
    await intake.on(merged(duplicate, original), event)  # redelivered
    await intake.on(merged(duplicate, original))  # told twice by triage
    case = intake.case(duplicate)
    assert (case["status"], case["merged_into"]) == ("closed", original)
    assert [h["to"] for h in case["history"]] == ["received", "closed"]
    assert case["history"][-1]["actor"] == "sd-lead"
    assert intake.published(duplicate).count("concern.status_changed") == 1
    assert "concern.merged" not in intake.published(duplicate)  # triage published it
    assert await intake.repo.merged_from(original) == [duplicate]
    assert intake.case(original)["status"] == "received"


async def test_a_merge_told_again_after_the_family_reopened_the_duplicate_leaves_it_open() -> None:
    intake = Intake()
    original, duplicate = await intake.submit(), await intake.submit()
    merge = merged(duplicate, original)
    await intake.on(merge)
    intake.clock.advance(timedelta(hours=1))
    await handlers.act(
        duplicate,
        Command(Action.REQUESTER_REOPEN, handlers.REQUESTER_ACTOR, text="not the same"),
        ctx=intake.ctx,
    )
    await intake.on(merge)  # the merge, delivered again after the reopen
    case = intake.case(duplicate)
    assert (case["status"], case["merged_into"]) == ("reopened", None)
    assert await intake.repo.merged_from(original) == []


async def test_a_merge_into_a_closed_concern_is_refused_naming_where_that_one_went() -> None:
    intake = Intake()
    kept, gone, other = await intake.submit(), await intake.submit(), await intake.submit()
    await intake.act(gone, Action.MERGE, "same bus stop", into=kept)
    tracking = intake.case(gone)["tracking_number"]
    with pytest.raises(ActionNotAllowed) as refused:
        await intake.act(other, Action.MERGE, "same bus stop", into=tracking)
    assert kept in str(refused.value)
    assert (intake.case(other)["status"], intake.case(other)["version"]) == ("received", 1)
    with pytest.raises(InvalidCommand):
        await intake.act(other, Action.MERGE, "same bus stop", into="CS-2026-999999")


async def test_staff_merge_only_into_a_concern_they_reach_of_the_same_school_or_team() -> None:
    intake = Intake()
    source = await intake.submit(school_id="lincoln-es")
    same_school = await intake.submit(school_id="lincoln-es")
    elsewhere = await intake.submit(school_id="jefferson-hs")
    loaded = await intake.repo.load(source)
    assert loaded is not None

    def everyone(case: Case) -> bool:
        return True

    tracking = intake.case(same_school)["tracking_number"]
    assert await handlers.merge_target(loaded, tracking, ctx=intake.ctx, covers=everyone) == (
        same_school
    )
    with pytest.raises(InvalidCommand, match="same school or team"):
        await handlers.merge_target(loaded, elsewhere, ctx=intake.ctx, covers=everyone)
    with pytest.raises(InvalidCommand, match="you may act on"):
        await handlers.merge_target(
            loaded, same_school, ctx=intake.ctx, covers=lambda c: c.school_id != "lincoln-es"
        )
    for cid in (source, elsewhere):  # both routed to one team
        await intake.on(triaged(cid))
    routed = await intake.repo.load(source)
    assert routed is not None
    assert await handlers.merge_target(routed, elsewhere, ctx=intake.ctx, covers=everyone) == (
        elsewhere
    )


async def test_a_silent_family_is_asked_again_then_the_concern_closes_with_notice() -> None:
    intake = Intake()
    cid = await intake.submit(language="es")
    await intake.act(cid, Action.REQUEST_INFORMATION, "¿En qué grado está su hijo?")
    intake.clock.advance(timedelta(days=4))
    assert await handlers.sweep_awaiting(ctx=intake.ctx) == 0  # not yet
    intake.clock.advance(timedelta(days=1, minutes=1))  # five days of silence
    assert await handlers.sweep_awaiting(ctx=intake.ctx) == 1
    assert await handlers.sweep_awaiting(ctx=intake.ctx) == 0  # asked once
    case = intake.case(cid)
    assert case["status"] == "awaiting_requester"
    assert case["messages"][-1]["text"] == "¿En qué grado está su hijo?"  # their question again
    intake.clock.advance(timedelta(days=5))
    assert await handlers.sweep_awaiting(ctx=intake.ctx) == 1
    case = intake.case(cid)
    assert case["status"] == "closed"
    assert case["resolution"]["summary"].startswith("Cerramos esta inquietud")
    assert intake.kinds(cid).count("remind_requester") == 1
    assert intake.kinds(cid)[-1] == "close_unanswered"


async def test_a_family_that_answered_is_neither_asked_again_nor_closed() -> None:
    intake = Intake()
    cid = await intake.submit()
    await intake.act(cid, Action.REQUEST_INFORMATION, "Which grade is your child in?")
    intake.clock.advance(timedelta(days=3))
    await handlers.act(
        cid,
        Command(Action.REQUESTER_MESSAGE, handlers.REQUESTER_ACTOR, text="Fourth grade"),
        ctx=intake.ctx,
    )
    intake.clock.advance(timedelta(days=20))
    assert await handlers.sweep_awaiting(ctx=intake.ctx) == 0
    assert intake.case(cid)["status"] == "acknowledged"


async def test_a_change_at_a_version_no_longer_current_is_refused_with_the_current_one() -> None:
    intake = Intake()
    cid = await intake.submit()
    await intake.on(triaged(cid))  # version 2
    with pytest.raises(handlers.PreconditionFailed) as refused:
        await handlers.act(cid, Command(Action.ACKNOWLEDGE, "sd-1"), ctx=intake.ctx, if_match=1)
    assert refused.value.current == 2
    after = await handlers.act(cid, Command(Action.ACKNOWLEDGE, "sd-1"), ctx=intake.ctx, if_match=2)
    assert (after["status"], after["version"]) == ("acknowledged", 3)
    assert intake.published(cid)[-1] == "concern.status_changed"


async def test_a_retried_submission_answers_the_first_concern_and_a_reused_key_is_refused() -> None:
    intake = Intake()
    new = enrollment_concern()
    first = await handlers.submit_concern(
        new, ctx=intake.ctx, idempotency_key="k-1", body_fingerprint="f1"
    )
    again = await handlers.submit_concern(
        new, ctx=intake.ctx, idempotency_key="k-1", body_fingerprint="f1"
    )
    assert (again.replayed, again.document["_id"]) == (True, first.document["_id"])
    assert again.access_token == first.access_token
    assert list(intake.repo.documents) == [first.document["_id"]]
    with pytest.raises(handlers.IdempotencyKeyReused):
        await handlers.submit_concern(
            new, ctx=intake.ctx, idempotency_key="k-1", body_fingerprint="f2"
        )


async def test_the_acknowledgement_event_carries_the_pin_the_family_was_given() -> None:
    intake = Intake()
    submission = await handlers.submit_concern(enrollment_concern(), ctx=intake.ctx)
    concern_id = str(submission.document["_id"])

    [shared] = [e for e in intake.repo.outbox if e.name == "concern.contact_shared"]
    # notify tells the family by email or SMS the same PIN the web form shows
    assert shared.data["pin"] == submission.pin
    assert shared.data["access_token"] == submission.access_token
    door = requester_access_of(intake.case(concern_id))
    assert await handlers.pin_opens(door, shared.data["pin"], ctx=intake.ctx)
    assert submission.pin not in str(intake.case(concern_id))  # kept only as its hash
