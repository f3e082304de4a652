"""A backup limited to their own team acts on the concerns handed to them (issue 16): intake
lets the assignee of a concern work it and lists it in their queue, whatever its team; other
teams' concerns stay out of reach."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import httpx
import pytest

from shared.clock import FakeClock
from shared.events import ConcernAssigned, ConcernTriaged, Priority
from tests.conftest import bearer
from tests.integration.test_intake_api import clock, intake, submit  # noqa: F401
from tests.integration.test_intake_events import Publish, case_when, publish  # noqa: F401

pytestmark = pytest.mark.integration

# A transportation team member covering for an away enrollment specialist.
BACKUP = bearer("team_member", sub="tr-backup", teams=["transportation"])


async def routed(
    intake: httpx.AsyncClient, publish: Publish, clock: FakeClock, assignee_id: str
) -> str:
    concern_id = (await submit(intake))["id"]
    now = clock.now()
    await publish(
        ConcernTriaged(
            concern_id=concern_id,
            category="enrollment",
            school_id="roosevelt-ms",
            team_id="enrollment",
            team_name="Enrollment Center",
            priority=Priority.NORMAL,
            rule="category",
            triaged_at=now,
        )
    )
    await publish(
        ConcernAssigned(
            concern_id=concern_id,
            team_id="enrollment",
            assignee_id=assignee_id,
            assignee_name="Someone",
            assigned_at=now,
            decided_by="handover",
        )
    )
    await case_when(intake, concern_id, lambda c: c["assignee"] is not None)
    return concern_id


async def test_a_backup_from_another_team_works_the_concern_handed_to_them(
    intake: httpx.AsyncClient, publish: Publish, clock: FakeClock
) -> None:
    handed = await routed(intake, publish, clock, "tr-backup")
    other = await routed(intake, publish, clock, "enr-lead")

    case = await intake.get(f"/v1/concerns/{handed}", headers=BACKUP)
    assert case.status_code == 200, case.text
    acknowledged = await intake.post(f"/v1/concerns/{handed}/acknowledge", headers=BACKUP)
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["status"] == "acknowledged"
    queue = await intake.get("/v1/concerns", headers=BACKUP)
    assert queue.status_code == 200
    assert [c["id"] for c in queue.json()["items"]] == [handed]

    assert (await intake.get(f"/v1/concerns/{other}", headers=BACKUP)).status_code == 403
    refused = await intake.post(f"/v1/concerns/{other}/acknowledge", headers=BACKUP)
    assert refused.status_code == 403
