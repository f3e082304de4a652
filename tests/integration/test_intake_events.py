"""Intake consumes what other services decide, through the real broker: the case timeline
shows triage, assignment, SLA warnings and breaches, escalations, notifications and merges,
and a redelivered event changes nothing."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aio_pika
import httpx
import pytest

from shared.clock import FakeClock
from shared.events import (
    CloudEvent,
    ConcernAssigned,
    ConcernMerged,
    ConcernTriaged,
    EventData,
    NotificationSent,
    Priority,
    SlaBreached,
    SlaTarget,
    SlaWarning,
    encode,
    new_event,
)
from shared.messaging.publisher import event_message
from tests.conftest import Isolation, eventually
from tests.integration.test_intake_api import clock, drain, intake, submit, tap  # noqa: F401

pytestmark = pytest.mark.integration

Publish = Callable[..., Awaitable[CloudEvent]]


@pytest.fixture
async def publish(
    amqp: aio_pika.abc.AbstractRobustConnection,
    isolation: Isolation,
    intake: httpx.AsyncClient,
    clock: FakeClock,
) -> Publish:
    """Publish an event as another service would (intake must be up to have the exchange)."""
    channel = await amqp.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(isolation.events_exchange)
    private = await channel.get_exchange(isolation.private_exchange)

    async def send(data: EventData, event: CloudEvent | None = None) -> CloudEvent:
        event = event or new_event(
            data, source="/bureau/test", subject=getattr(data, "concern_id", None), time=clock.now()
        )
        # a routing event reaches bureau services as its full copy, on the private exchange
        await (private if event.restricted else exchange).publish(
            event_message(encode(event), event_id=event.id, event_type=event.type),
            routing_key=event.name,
        )
        return event

    return send


async def case_when(
    intake: httpx.AsyncClient, concern_id: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async def case() -> dict[str, Any] | None:
        answer = dict((await intake.get(f"/v1/concerns/{concern_id}")).json())
        return answer if ready(answer) else None

    return await eventually(case, what=f"the case {concern_id} to get there")


def kinds(case: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in case["timeline"]]


async def test_timeline_shows_triage_assignment_sla_and_notifications(
    intake: httpx.AsyncClient, publish: Publish, clock: FakeClock
) -> None:
    created = await submit(intake)
    cid, now = created["id"], clock.now()
    await publish(
        ConcernTriaged(
            concern_id=cid,
            category="enrollment",
            school_id="roosevelt-ms",
            team_id="enrollment",
            team_name="Enrollment Center",
            priority=Priority.HIGH,
            rule="category",
            triaged_at=now,
        )
    )
    await case_when(intake, cid, lambda c: c["team"] is not None)
    await publish(
        ConcernAssigned(
            concern_id=cid,
            team_id="enrollment",
            assignee_id="enr-lead",
            assignee_name="Lee Chen",
            assigned_at=now,
        )
    )
    await case_when(intake, cid, lambda c: c["assignee"] is not None)
    new_due = now + timedelta(hours=80)
    await publish(
        SlaWarning(
            concern_id=cid,
            target=SlaTarget.RESOLUTION,
            due_at=new_due,
            warned_at=now,
            percent=75,
            policy="standard",
        )
    )
    await case_when(intake, cid, lambda c: "sla_warning" in kinds(c))
    await publish(
        SlaBreached(
            concern_id=cid,
            target=SlaTarget.FIRST_RESPONSE,
            due_at=now,
            breached_at=now,
            policy="standard",
        )
    )
    await case_when(intake, cid, lambda c: "sla_breached" in kinds(c))
    await publish(
        NotificationSent(
            concern_id=cid, delivery_id="d1", kind="acknowledgement", channel="email", sent_at=now
        )
    )
    case = await case_when(intake, cid, lambda c: "notification_sent" in kinds(c))
    assert kinds(case) == [
        "submitted",
        "triaged",
        "assigned",
        "sla_warning",
        "sla_breached",
        "notification_sent",
    ]
    assert case["assignee"] == {"id": "enr-lead", "name": "Lee Chen"}
    assert case["priority"] == "high"
    # warnings say how much is used up; only the clock's `sla.due_changed` moves the due time
    assert case["resolution_due_at"] == created["resolution_due_at"]
    queue = (await intake.get("/v1/concerns", params={"assignee_id": "enr-lead"})).json()
    assert [i["id"] for i in queue["items"]] == [cid]
    team = (
        await intake.get("/v1/concerns", params={"team_id": "enrollment", "priority": "high"})
    ).json()
    assert [i["id"] for i in team["items"]] == [cid]


async def test_a_redelivered_event_changes_nothing(
    intake: httpx.AsyncClient, publish: Publish, clock: FakeClock
) -> None:
    cid = (await submit(intake))["id"]
    sent = NotificationSent(
        concern_id=cid,
        delivery_id="d1",
        kind="acknowledgement",
        channel="email",
        sent_at=clock.now(),
    )
    event = await publish(sent)
    once = await case_when(intake, cid, lambda c: "notification_sent" in kinds(c))
    await publish(sent, event)
    await publish(
        NotificationSent(
            concern_id=cid, delivery_id="d2", kind="reply", channel="email", sent_at=clock.now()
        )
    )
    twice = await case_when(intake, cid, lambda c: kinds(c).count("notification_sent") >= 2)
    assert kinds(twice).count("notification_sent") == 2
    assert twice["version"] == once["version"] + 1


async def test_triage_merge_closes_the_duplicate_and_publishes_its_status_change(
    intake: httpx.AsyncClient,
    publish: Publish,
    clock: FakeClock,
    amqp: aio_pika.abc.AbstractRobustConnection,
    isolation: Isolation,
) -> None:
    public = await tap(amqp, isolation.events_exchange)
    original = (await submit(intake))["id"]
    duplicate = (await submit(intake))["id"]
    await publish(
        ConcernMerged(
            concern_id=duplicate,
            into_concern_id=original,
            merged_at=clock.now(),
            decided_by="sd-lead",
        )
    )
    closed = await case_when(intake, duplicate, lambda c: c["status"] == "closed")
    assert closed["merged_into"] == original
    assert closed["history"][-1]["actor"] == "sd-lead"
    kept = await case_when(intake, original, lambda c: bool(c["merged_from"]))
    assert kept["merged_from"] == [duplicate] and kept["status"] == "received"
    events = await drain(public, until="concern.status_changed")
    assert events[-1]["subject"] == duplicate
    assert events[-1]["data"]["to_status"] == "closed"
    # the merge is triage's event (its full copy is what the test published, privately):
    # intake publishes its status change, never the merge again
    assert [e["type"] for e in events].count("org.bureau.concern.merged.v1") == 0


async def test_a_retriaged_category_reaches_the_case_its_filters_and_counts(
    intake: httpx.AsyncClient, publish: Publish, clock: FakeClock
) -> None:
    cid = (await submit(intake))["id"]  # filed under enrollment
    await publish(
        ConcernTriaged(
            concern_id=cid,
            category="transportation",
            school_id="roosevelt-ms",
            team_id="transportation",
            team_name="Transportation Department",
            priority=Priority.NORMAL,
            rule="retriage",
            triaged_at=clock.now(),
            decided_by="tr-lead",
        )
    )
    case = await case_when(intake, cid, lambda c: c["category"] == "transportation")
    listed = (await intake.get("/v1/concerns", params={"category": "transportation"})).json()
    assert case["team"]["id"] == "transportation"
    assert cid in [i["id"] for i in listed["items"]]
