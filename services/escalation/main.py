"""Wiring: the one place escalation's parts are built and connected."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.escalation import api, board, board_mail, board_store, handlers
from services.escalation.config import EscalationConfig
from services.escalation.context import EscalationContext
from services.escalation.holiday_watch import holiday_sampler
from services.escalation.policies import calendars_of, seed_policies
from services.escalation.repository import CLOCKS, ClockRepository, PolicyRepository
from services.escalation.scheduler import Scheduler
from services.escalation.settings import EscalationSettings
from shared.clock import Clock, SystemClock
from shared.district import DistrictConfigError, load_district
from shared.http import create_service_app, runtime_lifespan
from shared.messaging.consumer import Handler
from shared.metrics import OPEN_CLOCKS
from shared.runtime import Runtime

log = logging.getLogger(__name__)


def create_app(settings: EscalationSettings, *, clock: Clock | None = None) -> FastAPI:
    """Build the escalation app; connections open in its lifespan, not at import."""
    clock = clock or SystemClock()
    district = load_district(settings.district_config)
    config = district.section("escalation", EscalationConfig)
    try:  # fail at startup, not on the first event, when the file's policies do not hold
        calendars = calendars_of(district, config)
        seeds = seed_policies(district, config)
    except ValueError as exc:
        raise DistrictConfigError(f"invalid escalation policies: {exc}") from exc

    async def wire(runtime: Runtime) -> tuple[EscalationContext, Mapping[str, Handler]]:
        repo = ClockRepository(runtime.db)
        await repo.ensure_indexes()
        await board_store.ensure_indexes(repo.collection)
        summaries = board_store.BoardSummaries(
            repo.collection,
            timezone=ZoneInfo(district.district.timezone),
            guarantee=timedelta(hours=district.district.guarantee_hours),
        )
        await summaries.ensure_indexes()
        repo.board = summaries
        # `now`: on a store's first start, when the clock began logging the family's answer
        if backfilled := await summaries.backfill(now=runtime.clock.now()):
            log.info("board summaries counted from older clocks", extra={"clocks": backfilled})
        policies = PolicyRepository(runtime.db)
        if added := await policies.seed(seeds):
            log.info("sla policies seeded from the district file", extra={"added": added})
        for policy in await policies.all():
            if policy.calendar not in calendars:
                log.warning(
                    "sla policy names a calendar the district file lacks; its clocks "
                    "count around the clock",
                    extra={"policy": policy.id, "calendar": policy.calendar},
                )
        ctx = EscalationContext(
            repo=repo,
            policies=policies,
            clock=runtime.clock,
            district=district,
            config=config,
            calendars=calendars,
            source=settings.source,
            published=runtime.wake_relay,
            lease=timedelta(seconds=settings.clock_lease_s),
        )

        async def sample_open_clocks() -> None:
            OPEN_CLOCKS.set(await repo.count_open())

        runtime.sample_on_scrape(sample_open_clocks)
        runtime.sample_on_scrape(
            holiday_sampler(
                config.calendars, clock=runtime.clock, timezone=ZoneInfo(district.district.timezone)
            )
        )
        # The scheduler stops (cancelled between passes) when the runtime closes.
        runtime.spawn(Scheduler(ctx=ctx, tick_s=settings.scheduler_tick_s).run(), "sla-scheduler")
        # Each closed month's Board packet, prepared once whatever the replicas (see board_mail).
        job = board_mail.BoardPacketJob(ctx=ctx, tick_s=settings.scheduler_tick_s)
        runtime.spawn(job.run(), "board-packet")
        return ctx, handlers.HANDLERS.bind(ctx)

    app = create_service_app(
        title="Bureau escalation",
        service="escalation",
        cors_origins=settings.cors_origins,
        lifespan=runtime_lifespan(
            settings, clock=clock, outbox_collections=[CLOCKS, board_mail.PACKETS], wire=wire
        ),
    )
    app.include_router(api.router)
    app.include_router(board.router)
    return app
