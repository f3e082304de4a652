"""Once triage says a concern has no assignee (`concern.unassigned`: re-triaged to a team with
nobody to take it), its former assignee no longer reaches it as theirs: intake's case, the
work queue, escalation's clock and notify's deliveries refuse them (security review, low). An
unassignment older than the assignment a service holds (events cross, or come again) leaves
that assignment alone, and an assignment older than the unassignment does not bring the
former assignee back."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

import httpx
import pytest
from pymongo import AsyncMongoClient

from services.escalation import handlers as escalation_handlers
from services.intake import handlers as intake_handlers
from services.intake.context import IntakeContext
from services.intake.repository import ConcernRepository
from services.intake.settings import IntakeSettings
from services.notify.context import NotifyContext
from shared.clock import FakeClock
from shared.events import (
    ConcernAssigned,
    ConcernUnassigned,
    EventData,
    new_event,
)
from tests.conftest import Isolation
from tests.integration.notify_api import api_client
from tests.integration.test_backup_reads import BACKUP, acknowledged_and_routed, handed_over
from tests.integration.test_escalation_api import T0, Service, service  # noqa: F401
from tests.integration.test_intake_api import clock, intake  # noqa: F401
from tests.integration.test_intake_cover import routed
from tests.integration.test_intake_events import Publish, case_when, publish  # noqa: F401
from tests.integration.test_notify_messages import (  # noqa: F401
    DAY,
    contact,
    ctx,
    deliver,
    district,
    provider,
)

pytestmark = pytest.mark.integration


def unassigned(concern_id: str, at: datetime) -> ConcernUnassigned:
    return ConcernUnassigned(
        concern_id=concern_id, team_id="special-education", unassigned_at=at, decided_by="sd-lead"
    )


# --- intake: the case, its actions and the work queue ------------------------------------


async def test_intake_refuses_the_former_assignee_once_the_concern_is_unassigned(
    intake: httpx.AsyncClient, publish: Publish, clock: FakeClock
) -> None:
    concern_id = await routed(intake, publish, clock, "tr-backup")
    assert (await intake.get(f"/v1/concerns/{concern_id}", headers=BACKUP)).status_code == 200

    clock.advance(timedelta(minutes=5))
    await publish(unassigned(concern_id, clock.now()))
    case = await case_when(intake, concern_id, lambda c: c["assignee"] is None)
    assert "unassigned" in [e["kind"] for e in case["timeline"]]

    assert (await intake.get(f"/v1/concerns/{concern_id}", headers=BACKUP)).status_code == 403
    refused = await intake.post(f"/v1/concerns/{concern_id}/acknowledge", headers=BACKUP)
    assert refused.status_code == 403
    queue = await intake.get("/v1/concerns", headers=BACKUP)
    assert queue.status_code == 200
    assert concern_id not in [c["id"] for c in queue.json()["items"]]


async def test_intake_keeps_the_assignment_newer_than_a_late_unassignment(
    intake: httpx.AsyncClient,
    publish: Publish,
    clock: FakeClock,
    mongo: AsyncMongoClient,
    isolation: Isolation,
) -> None:
    concern_id = await routed(intake, publish, clock, "tr-backup")
    assigned_at = clock.now()
    # the consumer's own handler on intake's store: it has returned once the event is handled
    repo = ConcernRepository(mongo[isolation.db("intake")], IntakeSettings().student_vault())
    handle = cast(IntakeContext, type("Ctx", (), {"repo": repo})())

    async def apply(data: EventData) -> None:
        event = new_event(data, source="/bureau/triage", subject=concern_id, time=clock.now())
        handler = intake_handlers.HANDLERS.bind(handle)[event.name]
        await handler(event, data)

    await apply(unassigned(concern_id, assigned_at - timedelta(minutes=1)))  # late, older
    case = (await intake.get(f"/v1/concerns/{concern_id}")).json()
    assert case["assignee"]["id"] == "tr-backup"
    assert (await intake.get(f"/v1/concerns/{concern_id}", headers=BACKUP)).status_code == 200

    await apply(unassigned(concern_id, assigned_at + timedelta(minutes=1)))
    await apply(  # an assignment older than the unassignment arrives late: it stays cleared
        ConcernAssigned(
            concern_id=concern_id,
            team_id="enrollment",
            assignee_id="tr-backup",
            assignee_name="Someone",
            assigned_at=assigned_at,
            decided_by="handover",
        )
    )
    assert (await intake.get(f"/v1/concerns/{concern_id}")).json()["assignee"] is None
    assert (await intake.get(f"/v1/concerns/{concern_id}", headers=BACKUP)).status_code == 403


# --- escalation: the clock -----------------------------------------------------------------


async def _on(service: Service, data: EventData) -> None:
    event = new_event(data, source="/bureau/triage", subject="c-1", time=T0)
    await escalation_handlers.HANDLERS.bind(service.ctx)[event.name](event, data)


async def test_escalation_refuses_the_former_assignee_the_clock_once_unassigned(
    service: Service,
) -> None:
    await service.submit("c-1", T0, category="enrollment", school_id="lincoln-es")
    await _on(service, handed_over("c-1", T0))
    assert (await service.http.get("/v1/clocks/c-1", headers=BACKUP)).status_code == 200

    await _on(service, unassigned("c-1", T0 - timedelta(minutes=1)))  # late, older: kept
    assert (await service.http.get("/v1/clocks/c-1", headers=BACKUP)).status_code == 200

    await _on(service, unassigned("c-1", T0 + timedelta(minutes=1)))
    assert (await service.http.get("/v1/clocks/c-1", headers=BACKUP)).status_code == 403
    await _on(service, unassigned("c-1", T0 + timedelta(minutes=1)))  # redelivered
    await _on(service, handed_over("c-1", T0))  # the older assignment again: still cleared
    assert (await service.http.get("/v1/clocks/c-1", headers=BACKUP)).status_code == 403

    await _on(service, handed_over("c-1", T0 + timedelta(minutes=2)))  # handed to them again
    assert (await service.http.get("/v1/clocks/c-1", headers=BACKUP)).status_code == 200


# --- notify: the deliveries ------------------------------------------------------------------


async def test_notify_refuses_the_former_assignee_the_deliveries_once_unassigned(
    ctx: NotifyContext,
) -> None:
    concern = await acknowledged_and_routed(ctx)
    await deliver(ctx, handed_over(concern, DAY))
    async with api_client(ctx, "team_member") as http:
        path = f"/v1/concerns/{concern}/deliveries"
        assert (await http.get(path, headers=BACKUP)).status_code == 200

        await deliver(ctx, unassigned(concern, DAY - timedelta(minutes=1)))  # late, older
        assert (await http.get(path, headers=BACKUP)).status_code == 200

        await deliver(ctx, unassigned(concern, DAY + timedelta(minutes=1)))
        assert (await http.get(path, headers=BACKUP)).status_code == 403
        await deliver(ctx, handed_over(concern, DAY))  # the older assignment, late
        assert (await http.get(path, headers=BACKUP)).status_code == 403
        facts = await ctx.concerns.get(concern)
        assert facts is not None and facts.assignee_id is None  # nor hears its warnings
