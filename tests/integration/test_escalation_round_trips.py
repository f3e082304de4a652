"""What escalation costs the store per concern, and why the savings lose nothing.

The store is the bureau's bottleneck. A clock applies each event in one conditional write that
names the event (no inbox), starting from the copy this replica wrote moments before when it
has one; due clocks are read whole by the look that finds them, then each claimed by one
conditional update. Counted by the store itself
(`top`), over the real store; replicas are contexts over their own client connections.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

import aio_pika
import pytest
from pymongo import AsyncMongoClient

from services.escalation import handlers
from services.escalation.context import EscalationContext
from services.escalation.main import create_app
from services.escalation.scheduler import Scheduler
from services.escalation.settings import EscalationSettings
from shared.clock import FakeClock
from shared.events import (
    CloudEvent,
    ConcernStatusChanged,
    ConcernTriaged,
    EventData,
    Priority,
    encode,
)
from shared.messaging.publisher import event_message
from tests.conftest import Isolation, eventually, store_operations
from tests.integration.test_escalation_scheduler import (
    STANDARD,
    T0,
    context,
    envelope,
    fired,
    outboxes,
    submitted,
)

pytestmark = pytest.mark.integration

ACKNOWLEDGED_AT = T0 + timedelta(minutes=30)  # within the critical first-response target


def triaged(
    concern_id: str, priority: Priority = Priority.NORMAL, decided_by: str = "rules"
) -> ConcernTriaged:
    return ConcernTriaged(
        concern_id=concern_id,
        category="enrollment",
        school_id="lincoln-es",
        team_id="enrollment",
        team_name="Enrollment Center",
        priority=priority,
        rule="category",
        triaged_at=T0,
        decided_by=decided_by,
    )


def acknowledged(concern_id: str) -> ConcernStatusChanged:
    return ConcernStatusChanged(
        concern_id=concern_id,
        from_status="received",
        to_status="acknowledged",
        changed_at=ACKNOWLEDGED_AT,
    )


async def deliver(ctx: EscalationContext, data: EventData, event_id: str | None = None) -> str:
    """Hand an event to the handler the service wires for it; returns the event id."""
    event = envelope(data, T0)
    if event_id is not None:
        event = event.model_copy(update={"id": event_id})
    handle = {
        "ConcernSubmitted": handlers.on_submitted,
        "ConcernTriaged": handlers.on_triaged,
        "ConcernStatusChanged": handlers.on_status_changed,
    }[type(data).__name__]
    await handle(event, data, ctx=ctx)  # type: ignore[operator]
    return event.id


async def test_a_new_concern_costs_escalation_one_write_per_event(
    mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    db_name = isolation.db("escalation")
    ctx = await context(mongo, db_name, FakeClock(T0))
    await ctx.rules()  # the policies are in memory from now on
    concern = str(uuid.uuid4())
    before = await store_operations(mongo, db_name)

    await deliver(ctx, submitted(concern))
    await deliver(ctx, triaged(concern, Priority.CRITICAL))
    await deliver(ctx, acknowledged(concern))

    used = await store_operations(mongo, db_name) - before
    # started by one insert; the triage and the acknowledgement each change the copy this
    # replica has just written, in one conditional write; no inbox
    assert +used == Counter(clocks=3)
    stored = await ctx.repo.get(concern)
    assert stored is not None
    assert (stored.clock.policy.id, stored.clock.team_id) == ("critical", "enrollment")
    assert stored.clock.first_response_at == ACKNOWLEDGED_AT
    assert fired((await outboxes(mongo, db_name))[concern]) == [("sla.met", "first_response")]


async def test_a_change_made_by_another_replica_is_never_lost(
    mongo: AsyncMongoClient, second_client: AsyncMongoClient, isolation: Isolation
) -> None:
    db_name = isolation.db("escalation")
    clock = FakeClock(T0)
    a = await context(mongo, db_name, clock)
    b = await context(second_client, db_name, clock)
    concern = str(uuid.uuid4())
    await deliver(a, submitted(concern))
    await deliver(b, triaged(concern, Priority.CRITICAL))  # a's copy of the clock is now stale
    before = await store_operations(mongo, db_name)

    await deliver(a, acknowledged(concern))

    # a's write from its stale copy matched nothing; it read the clock and wrote again
    assert +(await store_operations(mongo, db_name) - before) == Counter(clocks=3)
    stored = await b.repo.get(concern)
    assert stored is not None
    assert (stored.clock.policy.id, stored.clock.team_id) == ("critical", "enrollment")
    assert stored.clock.first_response_at == ACKNOWLEDGED_AT
    assert [e.kind for e in stored.clock.history] == ["started", "policy", "first_response", "met"]


async def test_a_late_redelivery_does_not_undo_a_later_change(
    mongo: AsyncMongoClient, second_client: AsyncMongoClient, isolation: Isolation
) -> None:
    db_name = isolation.db("escalation")
    clock = FakeClock(T0)
    a = await context(mongo, db_name, clock)
    b = await context(second_client, db_name, clock)
    concern = str(uuid.uuid4())
    await deliver(a, submitted(concern))
    first = await deliver(a, triaged(concern, Priority.NORMAL))
    ack = await deliver(a, acknowledged(concern))
    await deliver(a, triaged(concern, Priority.CRITICAL, decided_by="sp-1"))  # a re-triage

    # the first triage and the acknowledgement arrive again, at either replica
    for ctx in (a, b, b, a):
        await deliver(ctx, triaged(concern, Priority.NORMAL), event_id=first)
        await deliver(ctx, acknowledged(concern), event_id=ack)
    await asyncio.gather(*(deliver(ctx, acknowledged(concern), event_id=ack) for ctx in (a, b)))

    stored = await b.repo.get(concern)
    assert stored is not None
    assert stored.clock.policy.id == "critical"
    assert fired((await outboxes(mongo, db_name))[concern]) == [("sla.met", "first_response")]


async def test_firing_a_due_clock_costs_a_claim_and_a_write(
    mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    db_name = isolation.db("escalation")
    clock = FakeClock(T0)
    ctx = await context(mongo, db_name, clock)
    await ctx.repo.ensure_indexes()
    for i in range(20):
        await deliver(ctx, submitted(f"due-{i:02d}"))
    # its first response falls due a minute after the others' resolution
    await deliver(ctx, submitted("later", T0 + STANDARD - timedelta(days=1, minutes=-1)))
    clock.advance(STANDARD)
    scheduler = Scheduler(ctx=ctx, tick_s=120)
    before = await store_operations(mongo, db_name)

    assert await scheduler.run_once() == 20

    # one look at the index reads them all, each is claimed then written, and a last look
    # finds nothing due and when the next clock falls due, within the tick
    assert +(await store_operations(mongo, db_name) - before) == Counter(clocks=1 + 20 * 2 + 1)
    before = await store_operations(mongo, db_name)
    assert await scheduler.run_once() == 0
    assert +(await store_operations(mongo, db_name) - before) == Counter(clocks=1)
    swept = await handlers.sweep(ctx=ctx, horizon=timedelta(minutes=2))
    assert swept.next_due_at == T0 + STANDARD + timedelta(minutes=1)


async def test_the_service_absorbs_redelivered_events_without_an_inbox(
    mongo_url: str,
    amqp_url: str,
    amqp: aio_pika.abc.AbstractRobustConnection,
    mongo: AsyncMongoClient,
    isolation: Isolation,
) -> None:
    settings = EscalationSettings(
        **{
            k.lower(): v
            for k, v in isolation.env("escalation", mongo_url=mongo_url, amqp_url=amqp_url).items()
        },
        scheduler_tick_s=0.05,
        outbox_poll_s=0.05,
    )
    app = create_app(settings, clock=FakeClock(T0))
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(
        isolation.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    private = await channel.declare_exchange(
        isolation.private_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    concern = str(uuid.uuid4())
    events = [
        envelope(submitted(concern), T0),
        envelope(triaged(concern), T0),
        envelope(acknowledged(concern), T0),
    ]
    async with app.router.lifespan_context(app):
        ctx: EscalationContext = app.state.ctx
        consumer = app.state.runtime.consumer

        async def publish(*batch: CloudEvent) -> None:
            for event in batch:
                await (private if event.restricted else exchange).publish(
                    event_message(encode(event), event_id=event.id, event_type=event.type),
                    routing_key=event.name,
                )

        await publish(events[0])
        # the clock is started before the rest arrives
        await eventually(lambda: consumer.handled, what="the clock started")
        await publish(*events[1:], *events)  # and every event arrives (again)
        await eventually(lambda: consumer.handled >= len(events) * 2, what="every event handled")
        assert consumer.handled == len(events) * 2
        stored = await ctx.repo.get(concern)
    assert stored is not None
    assert [e.kind for e in stored.clock.history] == ["started", "first_response", "met"]
    assert stored.clock.team_id == "enrollment"
    assert stored.applied == {e.id for e in events}
    assert await mongo[isolation.db("escalation")]["inbox"].count_documents({}) == 0
