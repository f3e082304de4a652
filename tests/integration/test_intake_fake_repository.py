"""Intake's fake repository, which its fast handler tests run on, against the real one on the
test store: the same calls answer the same and leave the same stored concern (a fact applied
once per event, the later clock report kept, a change refused at a stale version, a PIN
locked after its wrong tries, who works the case decided by the latest decision, the long
waits found by how long, the concern as a reveal reads it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.intake import domain, lifecycle
from services.intake.domain import NewConcern, Requester
from services.intake.fakes import FakeConcernRepository
from services.intake.lifecycle import Action, Command
from services.intake.repository import ConcernRepository
from services.intake.settings import IntakeSettings
from shared.events import Channel, envelopes
from tests.conftest import Isolation

pytestmark = pytest.mark.integration

# with microseconds: the store keeps milliseconds, and so must the fake
T0 = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
GUARANTEE = timedelta(hours=72)


async def scenario(repo: Any) -> list[object]:
    """The same calls on either repository; answers what each call answered, then the case."""
    new = NewConcern(
        channel=Channel.WEB,
        category="enrollment",
        school_id="lincoln-es",
        description="The online enrollment form will not take our new address",
        requester=Requester(name="Ana", email="ana@example.org", language="es"),
        student=None,
    )
    concern, events = domain.submit(
        new,
        concern_id="c-1",
        tracking=domain.tracking_number(2026, 1),
        now=T0,
        guarantee=GUARANTEE,
        contact_secret=b"contact-secret",
        access_token_hash="token-hash",
    )
    seen: list[object] = [
        await repo.add(concern, envelopes(events, source="/bureau/intake", time=T0)),
        await repo.add(concern, []),  # the same id again
    ]
    facts = {"team_id": "transportation", "team_name": "Transportation", "priority": "high"}
    for concern_id, event_id in [("c-1", "e-1"), ("c-1", "e-1"), ("c-2", "e-2")]:
        seen.append(
            await repo.record_event_facts(
                concern_id, event_id, facts=facts, entry={"kind": "triaged"}, at=T0
            )
        )
    for concern_id, sequence, hours in [("c-1", 2, 96), ("c-1", 1, 72), ("c-2", 1, 72)]:
        seen.append(
            await repo.record_due(
                concern_id,
                sequence=sequence,
                resolution_due_at=T0 + timedelta(hours=hours),
                first_response_due_at=None,
                paused=sequence == 2,
            )
        )
    case = await repo.load("c-1")
    asked = T0 + timedelta(hours=1)
    outcome = lifecycle.decide(
        case,
        Command(Action.REQUEST_INFORMATION, "sd-1", text="Which grade is your child in?"),
        now=asked,
        entry_id="x-1",
        guarantee=GUARANTEE,
    )
    seen += [
        await repo.apply("c-1", case.version, outcome, []),
        await repo.apply("c-1", case.version, outcome, []),  # at a version no longer current
        await repo.awaiting_since_before(asked, 10),
        await repo.awaiting_since_before(asked - timedelta(seconds=1), 10),
    ]
    for _ in range(4):
        seen.append(await repo.claim_pin_try("c-1", now=asked, attempts=3, lockout_s=60))
    seen.append(
        await repo.claim_pin_try("c-1", now=asked + timedelta(minutes=2), attempts=3, lockout_s=60)
    )
    await repo.pin_succeeded("c-1")
    # who works the case: only a later decision changes it; one of the same moment only when
    # it leaves nobody; a redelivered event changes nothing
    t1, t2 = T0 + timedelta(hours=2), T0 + timedelta(hours=3)
    for event_id, member, decided_at, unassigned in [
        ("a-1", "sd-2", t1, False),
        ("a-1", "sd-2", t1, False),  # the same event again
        ("a-0", "sd-9", T0, False),  # an earlier decision, late
        ("a-2", "sd-3", t1, False),  # another of the same moment
        ("a-3", None, t1, True),  # nobody, at the same moment
        ("a-4", "sd-4", t2, False),
        ("a-5", "sd-5", t2 - timedelta(seconds=1), True),  # an earlier unassignment, late
    ]:
        seen.append(
            await repo.record_assignee(
                "c-1",
                event_id,
                facts={"assignee_id": member},
                entry={"kind": "assigned" if member else "unassigned"},
                at=decided_at,
                decided_at=decided_at,
                unassigned=unassigned,
            )
        )
    seen.append((await repo.get_document("c-1") or {}).get("assignee_id"))
    found = await repo.by_tracking_number(" cs-2026-000001 ")
    seen += [
        found and found["_id"],
        await repo.exists("c-1"),
        await repo.exists("c-2"),
        await repo.merged_from("c-1"),
        await repo.get_document("c-1"),
        await repo.load("c-1"),
        await repo.disclosable("c-1"),
        await repo.disclosable("c-2"),
    ]
    return seen


async def test_the_fake_answers_and_stores_as_the_real_repository_does(
    mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    vault = IntakeSettings().student_vault()
    real = await scenario(ConcernRepository(mongo[isolation.db("intake")], vault))
    fake = await scenario(FakeConcernRepository(vault))
    assert real[:10] == [True, False, True, True, False, True, True, False, True, False]
    assert fake == real
