"""Escalation's scheduler and handlers against the real store (SecantusDB over TCP).

Replicas are simulated by contexts over separate client connections to the same database.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from services.escalation import domain, handlers
from services.escalation.config import EscalationConfig
from services.escalation.context import EscalationContext
from services.escalation.main import create_app
from services.escalation.policies import PolicySettings, calendars_of, seed_policies
from services.escalation.repository import CLOCKS, ClockRepository, PolicyRepository
from services.escalation.scheduler import Scheduler
from services.escalation.settings import EscalationSettings
from shared.clock import Clock, FakeClock, SystemClock
from shared.district import load_district
from shared.events import (
    DUAL_EVENTS,
    Channel,
    CloudEvent,
    ConcernReopened,
    ConcernResolved,
    ConcernSubmitted,
    ConcernTriaged,
    EventData,
    Priority,
    decode,
    encode,
    new_event,
)
from shared.messaging.publisher import event_message
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.conftest import bearer, eventually

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STANDARD = timedelta(hours=72)
LEASE = timedelta(seconds=30)
DISTRICT = load_district(DEFAULT_DISTRICT_CONFIG)
# No warnings or reminders: these tests follow breaches and escalations.
PLAIN = EscalationConfig(defaults=PolicySettings(warnings=(), reminder_interval_s=None))


async def context(
    client: AsyncMongoClient,
    db_name: str,
    clock: Clock,
    wakes: list[str] | None = None,
    config: EscalationConfig = PLAIN,
) -> EscalationContext:
    """A replica's context over its own client; the district's policies seeded in the store."""
    policies = PolicyRepository(client[db_name])
    await policies.seed(seed_policies(DISTRICT, config))
    return EscalationContext(
        repo=ClockRepository(client[db_name]),
        policies=policies,
        clock=clock,
        district=DISTRICT,
        config=config,
        calendars=calendars_of(DISTRICT, config),
        source="/bureau/escalation",
        lease=LEASE,
        published=(lambda: wakes.append("wake")) if wakes is not None else (lambda: None),
    )


def envelope(data: EventData, at: datetime) -> CloudEvent:
    return new_event(
        data, source="/bureau/intake", subject=getattr(data, "concern_id", None), time=at
    )


def submitted(
    concern_id: str,
    at: datetime = T0,
    *,
    category: str = "enrollment",
    school_id: str | None = "lincoln-es",
) -> ConcernSubmitted:
    return ConcernSubmitted(
        concern_id=concern_id,
        tracking_number="CS-2026-000001",
        channel=Channel.WEB,
        category=category,
        school_id=school_id,
        submitted_at=at,
        resolution_due_at=at + STANDARD,
    )


async def submit(ctx: EscalationContext, concern_id: str, at: datetime = T0, **kw: Any) -> None:
    data = submitted(concern_id, at, **kw)
    await handlers.on_submitted(envelope(data, at), data, ctx=ctx)


async def outboxes(client: AsyncMongoClient, db_name: str) -> dict[str, list[CloudEvent]]:
    """The pending events of every clock, decoded, by concern id."""
    docs = await client[db_name][CLOCKS].find({}, {"outbox": 1}).to_list()
    return {d["_id"]: [decode(bytes(e["body"])) for e in d.get("outbox", [])] for d in docs}


def fired(events: list[CloudEvent]) -> list[tuple[str, str | int | None]]:
    """`(name, target or level)` of each event the clock fired (the due times it reports,
    `sla.due_changed`, are checked on their own; an escalation's public copy, beside its
    full one, too)."""
    return [
        (e.name, e.data.get("target") or e.data.get("level"))
        for e in events
        if e.name != "sla.due_changed" and (e.name not in DUAL_EVENTS or e.restricted)
    ]


BREACH_AND_LEVEL_1 = [
    ("sla.breached", "first_response"),
    ("sla.breached", "resolution"),
    ("concern.escalated", 1),
]


async def test_two_schedulers_racing_fire_each_due_clock_exactly_once(
    mongo: AsyncMongoClient, second_client: AsyncMongoClient, isolation: Any
) -> None:
    db_name = isolation.db("escalation")
    clock = FakeClock(T0)
    wakes: list[str] = []
    ctx_a = await context(mongo, db_name, clock, wakes)
    ctx_b = await context(second_client, db_name, clock, wakes)
    await ctx_a.repo.ensure_indexes()
    due = [f"due-{i:02d}" for i in range(20)]
    await asyncio.gather(*(submit(ctx_a, c) for c in due))
    await submit(ctx_b, "not-yet", T0 + timedelta(days=2, hours=1))  # nothing due yet
    clock.advance(STANDARD + timedelta(seconds=1))
    wakes.clear()  # the starts published their due times

    a, b = Scheduler(ctx=ctx_a, tick_s=0.01), Scheduler(ctx=ctx_b, tick_s=0.01)
    for _ in range(3):  # later passes find nothing left to fire
        await asyncio.gather(a.run_once(), b.run_once(), a.run_once(), b.run_once())

    pending = {
        concern: [e for e in events if e.name != "sla.due_changed"]
        for concern, events in (await outboxes(mongo, db_name)).items()
    }
    for concern_id in due:
        assert fired(pending[concern_id]) == BREACH_AND_LEVEL_1
        assert pending[concern_id][2].data["escalated_to"] == "p-lincoln"
    assert pending["not-yet"] == []
    assert a.fired + b.fired == 20
    assert len(wakes) == 20
    stored = await ctx_b.repo.get("due-07")
    assert stored is not None
    assert (stored.clock.level, stored.clock.next_due_at) == (1, T0 + STANDARD + timedelta(days=1))


async def test_clock_held_by_a_crashed_replica_fires_once_after_its_lease_expires(
    mongo: AsyncMongoClient, second_client: AsyncMongoClient, isolation: Any
) -> None:
    db_name = isolation.db("escalation")
    clock = FakeClock(T0)
    crashed = await context(mongo, db_name, clock)
    survivor = await context(second_client, db_name, clock)
    await submit(crashed, "c-1")
    clock.advance(STANDARD)
    claimed = await crashed.repo.claim_due(clock.now(), LEASE)
    assert claimed is not None  # and then the replica dies before saving the step

    assert await handlers.fire_due(ctx=survivor) == 0
    clock.advance(LEASE)
    assert await handlers.fire_due(ctx=survivor) == 1

    late, events = domain.advance(claimed.clock, now=clock.now(), rules=crashed.step_rules)
    assert not await crashed.repo.save_step(claimed, late, [envelope(e, T0) for e in events])
    pending = await outboxes(mongo, db_name)
    assert fired(pending["c-1"]) == BREACH_AND_LEVEL_1


async def test_resolution_while_a_step_is_claimed_wins_over_the_step(
    mongo: AsyncMongoClient, isolation: Any
) -> None:
    db_name = isolation.db("escalation")
    clock = FakeClock(T0)
    ctx = await context(mongo, db_name, clock)
    await submit(ctx, "c-1")
    clock.advance(STANDARD)
    claimed = await ctx.repo.claim_due(clock.now(), LEASE)
    assert claimed is not None
    resolved = ConcernResolved(concern_id="c-1", resolved_at=clock.now())
    await handlers.on_resolved(envelope(resolved, clock.now()), resolved, ctx=ctx)

    after, events = domain.advance(claimed.clock, now=clock.now(), rules=ctx.step_rules)
    assert not await ctx.repo.save_step(claimed, after, [envelope(e, T0) for e in events])
    await ctx.repo.release(claimed)
    assert await handlers.fire_due(ctx=ctx) == 0
    # The first response was missed two days ago (caught up by the resolution handler); the
    # resolution came at the very instant it fell due: met, and nothing escalated.
    assert fired((await outboxes(mongo, db_name))["c-1"]) == [
        ("sla.breached", "first_response"),
        ("sla.met", "resolution"),
    ]


async def test_redelivered_submission_keeps_the_first_clock(
    mongo: AsyncMongoClient, isolation: Any
) -> None:
    ctx = await context(mongo, isolation.db("escalation"), FakeClock(T0))
    await submit(ctx, "c-1")
    await submit(ctx, "c-1", T0 + timedelta(hours=5))
    stored = await ctx.repo.get("c-1")
    assert stored is not None
    assert (stored.clock.started_at, stored.clock.resolution_due_at) == (T0, T0 + STANDARD)
    assert await mongo[isolation.db("escalation")][CLOCKS].count_documents({}) == 1


async def test_event_about_an_unstarted_clock_is_refused_for_a_retry(
    mongo: AsyncMongoClient, isolation: Any
) -> None:
    ctx = await context(mongo, isolation.db("escalation"), FakeClock(T0))
    data = ConcernTriaged(
        concern_id="c-9",
        category="enrollment",
        team_id="enrollment",
        team_name="Enrollment Center",
        priority=Priority.NORMAL,
        rule="category",
        triaged_at=T0,
    )
    with pytest.raises(handlers.ClockNotFound):
        await handlers.on_triaged(envelope(data, T0), data, ctx=ctx)


async def test_triage_reopen_and_resolution_drive_what_the_scheduler_fires(
    mongo: AsyncMongoClient, isolation: Any
) -> None:
    db_name = isolation.db("escalation")
    clock = FakeClock(T0)
    ctx = await context(mongo, db_name, clock)
    await submit(ctx, "c-1", category="transportation", school_id=None)
    triaged = ConcernTriaged(
        concern_id="c-1",
        category="transportation",
        team_id="transportation",
        team_name="Transportation Department",
        priority=Priority.CRITICAL,
        rule="category",
        triaged_at=T0,
    )
    await handlers.on_triaged(envelope(triaged, T0), triaged, ctx=ctx)
    clock.advance(timedelta(days=1))  # the critical target, not the standard one
    assert await handlers.fire_due(ctx=ctx) == 1
    resolved = ConcernResolved(concern_id="c-1", resolved_at=clock.now())
    await handlers.on_resolved(envelope(resolved, clock.now()), resolved, ctx=ctx)
    clock.advance(timedelta(days=10))
    assert await handlers.fire_due(ctx=ctx) == 0
    reopened = ConcernReopened(concern_id="c-1", reopened_at=clock.now())
    await handlers.on_reopened(envelope(reopened, clock.now()), reopened, ctx=ctx)
    clock.advance(timedelta(days=1))
    assert await handlers.fire_due(ctx=ctx) == 1

    events = (await outboxes(mongo, db_name))["c-1"]
    assert fired(events) == BREACH_AND_LEVEL_1 * 2
    assert {e.data["escalated_to"] for e in events if e.name == "concern.escalated"} == {"tr-lead"}
    assert {e.data["policy"] for e in events if e.name == "sla.breached"} == {"critical"}


async def test_service_escalates_a_submitted_concern_over_the_broker(
    mongo_url: str,
    amqp_url: str,
    amqp: aio_pika.abc.AbstractRobustConnection,
    mongo: AsyncMongoClient,
    isolation: Any,
) -> None:
    settings = EscalationSettings(
        **{
            k.lower(): v
            for k, v in isolation.env("escalation", mongo_url=mongo_url, amqp_url=amqp_url).items()
        },
        scheduler_tick_s=0.05,
        outbox_poll_s=0.05,
    )
    clock = FakeClock(T0)
    app = create_app(settings, clock=clock)
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(
        isolation.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    probe = await channel.declare_queue(f"{isolation.queue_prefix}probe.events", durable=True)
    for name in ("sla.warning", "sla.breached", "concern.escalated"):
        await probe.bind(exchange, routing_key=name)
    concern_id = str(uuid.uuid4())

    async with app.router.lifespan_context(app):
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://esc",
            headers=bearer("specialist"),
        )
        async with http:
            unknown = await http.get("/v1/clocks/nobody")
            assert unknown.status_code == 404
            assert unknown.headers["content-type"] == "application/problem+json"
            event = envelope(submitted(concern_id), T0)
            await exchange.publish(
                event_message(encode(event), event_id=event.id, event_type=event.type),
                routing_key="concern.submitted",
            )

            async def clock_started() -> httpx.Response | None:
                response = await http.get(f"/v1/clocks/{concern_id}")
                return response if response.status_code == 200 else None

            body = (await eventually(clock_started, what="the clock started")).json()
            assert (body["policy"], body["status"], body["level"]) == ("standard", "running", 0)
            assert datetime.fromisoformat(body["resolution_due_at"]) == T0 + STANDARD

            clock.advance(STANDARD)
            received: list[CloudEvent] = []

            async def all_received() -> bool:
                message = await probe.get(no_ack=True, fail=False)
                if message is not None:
                    received.append(decode(message.body))
                return len(received) == 7

            # seven steps fired, stored and relayed one tick after another: room for a busy machine
            await eventually(all_received, timeout_s=30, what="every step's event")
            assert {e.subject for e in received} == {concern_id}
            # The deployed policy warns at 50% and 75% of each target.
            assert [
                (e.name, e.data.get("target"), e.data.get("percent") or e.data.get("level"))
                for e in received
            ] == [
                ("sla.warning", "first_response", 50),
                ("sla.warning", "first_response", 75),
                ("sla.breached", "first_response", None),
                ("sla.warning", "resolution", 50),
                ("sla.warning", "resolution", 75),
                ("sla.breached", "resolution", None),
                ("concern.escalated", None, 1),
            ]
            body = (await http.get(f"/v1/clocks/{concern_id}")).json()
            assert body["level"] == 1 and body["breached_at"] is not None


async def test_scheduler_fires_a_step_within_a_second_of_its_due_time(
    mongo: AsyncMongoClient, isolation: Any
) -> None:
    system = SystemClock()
    ctx = await context(mongo, isolation.db("escalation"), system)
    await ctx.repo.ensure_indexes()
    due_at = system.now() + timedelta(milliseconds=700)
    await submit(ctx, "c-1", due_at - STANDARD)  # never acknowledged: first response long missed
    await handlers.fire_due(ctx=ctx)  # fires the first-response breach; the resolution waits
    scheduler = Scheduler(ctx=ctx, tick_s=0.5)
    task = asyncio.create_task(scheduler.run())
    try:

        async def breached() -> Any:
            stored = await ctx.repo.get("c-1")
            return stored is not None and stored.clock.breached_at is not None and stored

        stored = await eventually(breached, timeout_s=5, what="the breach stored")
    finally:
        scheduler.stop()
        await task
    assert stored.clock.resolution_due_at == due_at
    assert timedelta(0) <= stored.clock.breached_at - due_at < timedelta(seconds=1)
