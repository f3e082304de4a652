"""Escalation's handlers and scheduler on in-memory repositories (milliseconds, no store):
a clock starts once, each event changes it once, a change raced by another writer is
decided again on what that writer stored, and the sweep fires a breach once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.escalation import handlers
from services.escalation.config import EscalationConfig
from services.escalation.context import EscalationContext
from services.escalation.domain import ClockStatus
from services.escalation.policies import PolicySettings, calendars_of, seed_policies
from services.escalation.repository.fakes import FakeClockRepository, FakePolicyRepository
from shared.clock import FakeClock
from shared.district import DistrictConfig
from shared.events import (
    Channel,
    CloudEvent,
    ConcernResolved,
    ConcernSubmitted,
    EventData,
    new_event,
)
from tests.unit.test_escalation_domain import RAW

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DISTRICT = DistrictConfig.model_validate(RAW)
CONFIG = EscalationConfig(defaults=PolicySettings(warnings=(), reminder_interval_s=None))


class Published:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def context(clock: FakeClock) -> tuple[EscalationContext, FakeClockRepository, Published]:
    clocks, published = FakeClockRepository(), Published()
    ctx = EscalationContext(
        repo=clocks,  # type: ignore[arg-type]  # the fake has the repository's interface
        policies=FakePolicyRepository(seed_policies(DISTRICT, CONFIG)),  # type: ignore[arg-type]
        clock=clock,
        district=DISTRICT,
        config=CONFIG,
        calendars=calendars_of(DISTRICT, CONFIG),
        source="/bureau/escalation",
        published=published,
        lease=timedelta(seconds=30),
    )
    return ctx, clocks, published


def event(data: EventData) -> CloudEvent:
    return new_event(data, source="/bureau/intake", subject=getattr(data, "concern_id", None))


SUBMITTED = ConcernSubmitted(
    concern_id="c-1",
    tracking_number="CSB-2026-000001",
    channel=Channel.WEB,
    category="transportation",
    submitted_at=T0,
    resolution_due_at=T0 + timedelta(days=2),
)


def bump(clocks: FakeClockRepository, concern_id: str) -> None:
    """Another writer changes the clock (its version moves on)."""
    stored = clocks.clocks[concern_id]
    clocks.clocks[concern_id] = replace(stored, version=stored.version + 1)


def kinds(events: list[CloudEvent]) -> list[str]:
    return [e.type for e in events]


async def test_a_submission_starts_one_clock_however_often_it_arrives() -> None:
    ctx, clocks, published = context(FakeClock(T0))
    submitted = event(SUBMITTED)
    await handlers.on_submitted(submitted, SUBMITTED, ctx=ctx)
    await handlers.on_submitted(submitted, SUBMITTED, ctx=ctx)
    stored = await clocks.get("c-1")
    assert stored is not None and stored.clock.policy.id == "transport"
    assert stored.clock.resolution_due_at == T0 + timedelta(days=2)
    assert kinds(clocks.outbox) == ["org.bureau.sla.due_changed.v1"]
    assert published.count == 1


async def test_a_resolution_stops_the_clock_once_per_event() -> None:
    ctx, clocks, _ = context(FakeClock(T0))
    await handlers.on_submitted(event(SUBMITTED), SUBMITTED, ctx=ctx)
    resolved = ConcernResolved(concern_id="c-1", resolved_at=T0 + timedelta(hours=5))
    envelope = event(resolved)
    await handlers.on_resolved(envelope, resolved, ctx=ctx)
    after_first = await clocks.get("c-1")
    await handlers.on_resolved(envelope, resolved, ctx=ctx)  # redelivered
    stored = await clocks.get("c-1")
    assert stored is not None and stored.clock.status is ClockStatus.STOPPED
    assert stored == after_first
    assert envelope.id in stored.applied


async def test_a_change_raced_by_another_writer_is_decided_again_on_its_write() -> None:
    ctx, clocks, _ = context(FakeClock(T0))
    await handlers.on_submitted(event(SUBMITTED), SUBMITTED, ctx=ctx)
    raced: list[str] = []

    async def another_writer(concern_id: str) -> None:
        if not raced:  # the first write finds the clock changed since it was read
            stored = clocks.clocks[concern_id]
            clocks.clocks[concern_id] = type(stored)(
                stored.clock, stored.version + 1, stored.applied
            )
            raced.append(concern_id)

    clocks.before_write = another_writer
    resolved = ConcernResolved(concern_id="c-1", resolved_at=T0 + timedelta(hours=5))
    await handlers.on_resolved(event(resolved), resolved, ctx=ctx)
    stored = await clocks.get("c-1")
    assert raced == ["c-1"]
    assert stored is not None and stored.clock.status is ClockStatus.STOPPED
    assert stored.version == 3  # the other writer's version, then this change


async def test_a_clock_that_never_stops_changing_gives_the_event_back_for_a_retry() -> None:
    ctx, clocks, _ = context(FakeClock(T0))
    await handlers.on_submitted(event(SUBMITTED), SUBMITTED, ctx=ctx)

    async def always_first(concern_id: str) -> None:
        bump(clocks, concern_id)

    clocks.before_write = always_first
    resolved = ConcernResolved(concern_id="c-1", resolved_at=T0 + timedelta(hours=5))
    with pytest.raises(handlers.ConcurrentChange):
        await handlers.on_resolved(event(resolved), resolved, ctx=ctx)


async def test_an_event_for_a_clock_not_started_yet_is_retried() -> None:
    ctx, _, _ = context(FakeClock(T0))
    resolved = ConcernResolved(concern_id="c-unknown", resolved_at=T0)
    with pytest.raises(handlers.ClockNotFound):
        await handlers.on_resolved(event(resolved), resolved, ctx=ctx)


async def test_the_sweep_fires_a_breach_once_and_frees_the_clock() -> None:
    clock = FakeClock(T0)
    ctx, clocks, _ = context(clock)
    await handlers.on_submitted(event(SUBMITTED), SUBMITTED, ctx=ctx)
    clock.advance(timedelta(days=2, minutes=1))
    assert await handlers.fire_due(ctx=ctx) >= 1
    assert await handlers.fire_due(ctx=ctx) == 0
    breaches = [e for e in clocks.outbox if e.type == "org.bureau.sla.breached.v1"]
    assert sorted(e.data["target"] for e in breaches) == ["first_response", "resolution"]
    assert clocks.leases == {}
    stored = await clocks.get("c-1")
    assert stored is not None and stored.clock.breached_at is not None
