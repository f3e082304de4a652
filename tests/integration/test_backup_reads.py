"""A backup from another team, covering for an away member, reads the clock and the
notifications of the concerns handed to them, as intake already lets them work those concerns;
a colleague of theirs to whom nothing was handed still cannot (issues 16 and 18)."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from services.escalation import handlers as escalation_handlers
from services.notify.context import NotifyContext
from shared.events import ConcernAssigned, ConcernTriaged, Priority, new_event
from tests.conftest import bearer
from tests.integration.notify_api import api_client
from tests.integration.test_escalation_api import T0, Service, service  # noqa: F401
from tests.integration.test_notify_messages import (  # noqa: F401
    DAY,
    contact,
    ctx,
    deliver,
    district,
    provider,
)

pytestmark = pytest.mark.integration

# A transportation team member covering for an away enrollment specialist, and a colleague.
BACKUP = bearer("team_member", sub="tr-backup", teams=["transportation"])
COLLEAGUE = bearer("team_member", sub="tr-other", teams=["transportation"])


def handed_over(concern_id: str, at: datetime, assignee_id: str = "tr-backup") -> ConcernAssigned:
    return ConcernAssigned(
        concern_id=concern_id,
        team_id="enrollment",
        assignee_id=assignee_id,
        assignee_name="Someone",
        assigned_at=at,
        decided_by="handover",
    )


async def acknowledged_and_routed(ctx: NotifyContext) -> str:
    """A concern notify acknowledged and heard routed to Lincoln's enrollment team; its id."""
    concern = str(uuid.uuid4())
    await deliver(ctx, contact(concern, "en"))
    await deliver(
        ctx,
        ConcernTriaged(
            concern_id=concern,
            category="enrollment",
            school_id="lincoln-es",
            team_id="enrollment",
            team_name="Enrollment Center",
            priority=Priority.NORMAL,
            rule="category",
            triaged_at=DAY,
        ),
    )
    return concern


async def test_the_backup_reads_the_clock_of_a_concern_handed_to_them(service: Service) -> None:
    await service.submit("c-1", T0, category="enrollment", school_id="lincoln-es")
    earlier = T0 - timedelta(days=1)
    for data in (handed_over("c-1", T0), handed_over("c-1", earlier, "enr-lead")):
        # the second is an earlier assignment arriving late: it changes nothing
        event = new_event(data, source="/bureau/triage", subject="c-1", time=T0)
        await escalation_handlers.on_assigned(event, data, ctx=service.ctx)

    answer = await service.http.get("/v1/clocks/c-1", headers=BACKUP)
    assert answer.status_code == 200
    assert answer.json()["concern_id"] == "c-1"
    assert (await service.http.get("/v1/clocks/c-1", headers=COLLEAGUE)).status_code == 403


async def test_an_assignment_noted_before_the_clock_started_counts_once_it_runs(
    service: Service,
) -> None:
    data = handed_over("early", T0)
    event = new_event(data, source="/bureau/triage", subject="early", time=T0)
    await escalation_handlers.on_assigned(event, data, ctx=service.ctx)
    assert (await service.http.get("/v1/clocks/early", headers=BACKUP)).status_code == 404
    await service.submit("early", T0, category="enrollment", school_id="lincoln-es")
    assert (await service.http.get("/v1/clocks/early", headers=BACKUP)).status_code == 200


async def test_the_backup_reads_the_notifications_of_a_concern_handed_to_them(
    ctx: NotifyContext,
) -> None:
    concern = await acknowledged_and_routed(ctx)
    async with api_client(ctx, "team_member") as http:
        path = f"/v1/concerns/{concern}/deliveries"
        assert (await http.get(path, headers=BACKUP)).status_code == 403  # not handed yet
        await deliver(ctx, handed_over(concern, DAY))
        answer = await http.get(path, headers=BACKUP)
        assert answer.status_code == 200
        assert [d["kind"] for d in answer.json()] == ["acknowledgement", "assignment"]
        assert (await http.get(path, headers=COLLEAGUE)).status_code == 403
