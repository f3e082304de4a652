"""Callbacks as tasks (issue 16): intake schedules, completes and cancels them over HTTP and
publishes `concern.callback_*` (no contact data); escalation watches them on the concern's
SLA clock in the real store: a reminder before the due time, a missed one breaches and
escalates, claimed by the same lease as the clock's other steps."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from services.escalation import handlers
from shared.clock import FakeClock
from shared.events import CallbackOutcome, ConcernCallbackCompleted, ConcernCallbackScheduled
from tests.conftest import Isolation, bearer
from tests.integration.test_escalation_scheduler import (
    T0,
    context,
    envelope,
    fired,
    outboxes,
    submit,
)
from tests.integration.test_intake_api import clock, drain, intake, tap  # noqa: F401
from tests.integration.test_intake_api import submit as submit_concern
from tests.integration.test_intake_staff_api import act

pytestmark = pytest.mark.integration


async def test_a_callback_is_scheduled_for_an_assignee_and_completed_with_its_outcome(
    intake: httpx.AsyncClient,
    clock: FakeClock,
    isolation: Isolation,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> None:
    concern_id = (await submit_concern(intake))["id"]
    public = await tap(amqp, isolation.events_exchange)
    due = clock.now() + timedelta(hours=3)
    answer = await act(
        intake,
        concern_id,
        "callbacks",
        {
            "due_at": due.isoformat(),
            "assignee_id": "sd-specialist",
            "remind_before_minutes": 30,
            "note": "Mother is free after 3 pm",
        },
    )
    assert answer.status_code == 200, answer.text
    [callback] = answer.json()["callbacks"]
    assert (callback["status"], callback["assignee_id"]) == ("scheduled", "sd-specialist")
    events = await drain(public, until="concern.callback_scheduled")
    scheduled = events[-1]["data"]
    assert scheduled["assignee_id"] == "sd-specialist"
    assert scheduled["remind_at"].startswith((due - timedelta(minutes=30)).isoformat()[:16])
    assert "jo.park" not in str(events) and "+1555" not in str(events) and "3 pm" not in str(events)
    queue = (await intake.get("/v1/concerns", params={"status": "received"})).json()["items"]
    line = next(item for item in queue if item["id"] == concern_id)
    assert line["callback_due_at"] is not None  # the work queue shows a call to make

    clock.advance(timedelta(hours=1))
    path = f"callbacks/{callback['id']}/complete"
    assert (await act(intake, concern_id, path, {"outcome": "hung_up"})).status_code == 422
    done = await act(intake, concern_id, path, {"outcome": "voicemail"})
    assert done.status_code == 200, done.text
    [made] = done.json()["callbacks"]
    assert (made["status"], made["outcome"], made["done_by"]) == ("done", "voicemail", "sd-lead")
    completed = (await drain(public, until="concern.callback_completed"))[-1]["data"]
    assert (completed["outcome"], completed["on_time"]) == ("voicemail", True)
    again = await act(intake, concern_id, f"callbacks/{callback['id']}/cancel")
    assert again.status_code == 409 and "already done" in again.json()["detail"]
    kinds = [e["kind"] for e in done.json()["timeline"]]
    assert kinds[-2:] == ["schedule_callback", "complete_callback"]
    line = next(
        item
        for item in (await intake.get("/v1/concerns", params={"status": "received"})).json()[
            "items"
        ]
        if item["id"] == concern_id
    )
    assert line["callback_due_at"] is None


async def test_the_board_counts_callbacks_made_by_their_due_time(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    start = clock.now()
    concern_id = (await submit_concern(intake))["id"]
    ids = []
    for hours in (1, 2, 3):
        answer = await act(
            intake,
            concern_id,
            "callbacks",
            {"due_at": (start + timedelta(hours=hours)).isoformat()},
        )
        ids.append(answer.json()["callbacks"][-1]["id"])
    clock.advance(timedelta(minutes=30))
    await act(intake, concern_id, f"callbacks/{ids[0]}/complete", {"outcome": "reached"})
    await act(intake, concern_id, f"callbacks/{ids[2]}/cancel")
    clock.advance(timedelta(hours=2))  # the second was never made
    report = await intake.get(
        "/v1/calls/report",
        headers=bearer("auditor"),  # exact: a Board member reads counts under 5 as null
        params={"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat()},
    )
    assert report.status_code == 200, report.text
    assert (report.json()["callbacks_due"], report.json()["callbacks_on_time"]) == (2, 0.5)


def callback_scheduled(concern_id: str, **times: Any) -> ConcernCallbackScheduled:
    return ConcernCallbackScheduled(
        concern_id=concern_id,
        callback_id="cb-1",
        assignee_id="sd-specialist",
        scheduled_at=T0,
        **times,
    )


async def test_a_callback_reminds_then_a_missed_one_breaches_and_escalates_once(
    mongo: AsyncMongoClient, second_client: AsyncMongoClient, isolation: Any
) -> None:
    db_name = isolation.db("escalation")
    clock = FakeClock(T0)
    replica_a = await context(mongo, db_name, clock)
    replica_b = await context(second_client, db_name, clock)
    await replica_a.repo.ensure_indexes()
    await submit(replica_a, "c-1")
    due = T0 + timedelta(hours=2)
    data = callback_scheduled("c-1", due_at=due, remind_at=due - timedelta(minutes=15))
    await handlers.on_callback_scheduled(envelope(data, T0), data, ctx=replica_a)

    clock.advance(timedelta(hours=2) - timedelta(minutes=15))
    assert await handlers.fire_due(ctx=replica_b) == 1
    clock.advance(timedelta(minutes=15))
    assert await handlers.fire_due(ctx=replica_a) + await handlers.fire_due(ctx=replica_b) == 1
    assert await handlers.fire_due(ctx=replica_b) == 0
    events = (await outboxes(mongo, db_name))["c-1"]
    assert fired(events) == [
        ("sla.warning", "callback"),
        ("sla.breached", "callback"),
        ("concern.escalated", 1),
    ]
    escalated = next(e for e in events if e.name == "concern.escalated")
    assert escalated.data["escalated_to"] == "p-lincoln"
    stored = await replica_b.repo.get("c-1")
    assert stored is not None and stored.clock.callbacks == ()
    assert stored.clock.next_due_at is not None and stored.clock.next_due_at > due


async def test_a_callback_made_in_time_is_no_longer_watched(
    mongo: AsyncMongoClient, isolation: Any
) -> None:
    db_name = isolation.db("escalation")
    clock = FakeClock(T0)
    ctx = await context(mongo, db_name, clock)
    await submit(ctx, "c-2")
    due = T0 + timedelta(hours=2)
    data = callback_scheduled("c-2", due_at=due)
    await handlers.on_callback_scheduled(envelope(data, T0), data, ctx=ctx)
    stored = await ctx.repo.get("c-2")
    assert stored is not None and stored.clock.next_due_at == due
    made = ConcernCallbackCompleted(
        concern_id="c-2",
        callback_id="cb-1",
        outcome=CallbackOutcome.REACHED,
        due_at=due,
        completed_at=T0 + timedelta(hours=1),
        on_time=True,
    )
    await handlers.on_callback_completed(envelope(made, T0), made, ctx=ctx)
    clock.advance(timedelta(hours=3))
    await handlers.fire_due(ctx=ctx)
    assert [f for f in fired((await outboxes(mongo, db_name))["c-2"]) if f[1] == "callback"] == []
    stored = await ctx.repo.get("c-2")
    assert stored is not None and any(e.kind == "callback_on_time" for e in stored.clock.history)
