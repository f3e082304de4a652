"""Two escalation service instances on one store and one broker: every step fires once.

Each instance is a whole service (its own store and broker connections, consumer, scheduler
and outbox relay), as a second process would be; they share the fake time so the test can run
six days of SLA steps in a few seconds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from pymongo import AsyncMongoClient

from services.escalation import domain
from services.escalation.context import EscalationContext
from services.escalation.main import create_app
from services.escalation.repository import CLOCKS
from services.escalation.settings import EscalationSettings
from shared.clock import FakeClock
from shared.events import (
    Channel,
    ConcernSubmitted,
    EventData,
    SlaBreached,
    SlaWarning,
    decode,
    encode,
    new_event,
)
from shared.messaging.publisher import event_message
from shared.outbox import FIELD as OUTBOX
from tests.conftest import Isolation, eventually

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONCERNS = 12
FIRED = ("sla.warning", "sla.breached", "concern.escalated")


def step_key(name: str, data: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a fired step unique within a concern's cycle."""
    if name == "concern.escalated":
        return (name, data["level"], data["reminder"])
    return (name, data["target"], data.get("percent"))


def expected_keys(
    rules: domain.Rules, submitted: ConcernSubmitted, until: datetime
) -> Counter[tuple[Any, ...]]:
    """The steps the pure rules fire for this concern by `until`, caught up at once."""
    clock = domain.start(
        submitted.concern_id,
        category=submitted.category,
        school_id=submitted.school_id,
        priority=None,
        channel="web",
        started_at=submitted.submitted_at,
        rules=rules,
    )
    _, events = domain.advance(clock, now=until, rules=rules)
    return Counter(step_key(_name(e), e.model_dump(mode="json")) for e in events)


def _name(data: EventData) -> str:
    if isinstance(data, SlaWarning):
        return "sla.warning"
    if isinstance(data, SlaBreached):
        return "sla.breached"
    return "concern.escalated"


async def test_two_instances_fire_each_step_of_each_concern_exactly_once(
    mongo_url: str,
    amqp_url: str,
    isolation: Isolation,
    mongo: AsyncMongoClient,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> None:
    clock = FakeClock(T0)
    settings = EscalationSettings(
        mongo_url=mongo_url,
        mongo_db=isolation.db("escalation"),
        amqp_url=amqp_url,
        queue_prefix=isolation.queue_prefix,
        events_exchange=isolation.events_exchange,
        private_exchange=isolation.private_exchange,
        # The relay's lease is in the (fake) service time: long, so that the jumps of the fake
        # time below do not hand one relay's batch to the other mid-publish.
        scheduler_tick_s=0.02,
        outbox_poll_s=0.05,
        outbox_lease_s=30 * 24 * 3600,
    )
    apps = [create_app(settings, clock=clock) for _ in range(2)]
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(
        isolation.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    probe = await channel.declare_queue(f"{isolation.queue_prefix}probe.events", durable=True)
    for name in FIRED:
        await probe.bind(exchange, routing_key=name)

    async with AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        contexts: list[EscalationContext] = [app.state.ctx for app in apps]
        rules = await contexts[0].rules()
        submissions = [
            ConcernSubmitted(
                concern_id=str(uuid.uuid4()),
                tracking_number=f"CS-2026-{i:06d}",
                channel=Channel.WEB,
                category="enrollment" if i % 2 else "transportation",
                school_id="lincoln-es" if i % 3 else None,
                submitted_at=T0 + i * timedelta(hours=3),
                resolution_due_at=T0 + i * timedelta(hours=3) + timedelta(hours=72),
            )
            for i in range(CONCERNS)
        ]
        for data in submissions:  # both instances compete for these on the service queue
            event = new_event(data, source="/bureau/intake", subject=data.concern_id, time=T0)
            await exchange.publish(
                event_message(encode(event), event_id=event.id, event_type=event.type),
                routing_key="concern.submitted",
            )

        async def every_clock_started() -> bool:
            return bool(await contexts[1].repo.get(submissions[-1].concern_id)) and all(
                [await contexts[0].repo.get(s.concern_id) for s in submissions]
            )

        await eventually(every_clock_started, what="a clock for every concern")

        # Six and a half days in 6-hour jumps; both schedulers race on every jump.
        until = T0 + timedelta(days=6, hours=12)
        while clock.now() < until:
            clock.advance(timedelta(hours=6))
            await asyncio.sleep(0.06)
        expected = {s.concern_id: expected_keys(rules, s, until) for s in submissions}
        total = sum(sum(c.values()) for c in expected.values())

        received: list[aio_pika.abc.AbstractIncomingMessage] = []
        distinct: set[str] = set()

        async def every_step_received() -> bool:
            # Counted by event id: with the fake time jumping hours at once, a writer's fresh
            # outbox entries turn stale under its relay and the other replica's sweep may
            # publish them too. Counting those copies let the wait end while the schedulers
            # were still catching up with the last jumps, and their last steps were missing.
            while (message := await probe.get(no_ack=True, fail=False)) is not None:
                received.append(message)
                distinct.add(decode(message.body).id)
            return len(distinct) >= total

        await eventually(every_step_received, timeout_s=15, what="every step's event")
        clocks = mongo[isolation.db("escalation")][CLOCKS]

        async def outbox_empty() -> bool:
            return await clocks.count_documents({f"{OUTBOX}.id": {"$exists": True}}) == 0

        # A step fired twice was written beside the first: once the outbox is empty, both
        # copies are on the probe queue (published with confirms).
        await eventually(outbox_empty, what="every fired event published")

    while (extra := await probe.get(no_ack=True, fail=False)) is not None:
        received.append(extra)

    # A step fired twice would carry two event ids. (The same id delivered twice is the
    # outbox's at-least-once publishing, which consumers absorb by id.)
    fired: dict[str, Counter[tuple[Any, ...]]] = {s.concern_id: Counter() for s in submissions}
    seen: set[str] = set()
    for message in received:
        event = decode(message.body)
        assert event.subject is not None
        if event.id not in seen:
            seen.add(event.id)
            fired[event.subject][step_key(event.name, event.data)] += 1
    assert total > CONCERNS * 8  # warnings, breaches, levels and reminders for each concern
    assert fired == expected
    assert max(n for c in fired.values() for n in c.values()) == 1
