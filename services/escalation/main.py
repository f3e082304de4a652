"""Wiring: the one place escalation's parts are built and connected."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import timedelta

from fastapi import FastAPI

from services.escalation import api, handlers
from services.escalation.handlers import EscalationContext
from services.escalation.repository import CLOCKS, ClockRepository
from services.escalation.scheduler import Scheduler
from services.escalation.settings import EscalationSettings
from shared.clock import Clock, SystemClock
from shared.district import load_district
from shared.http import create_service_app, runtime_lifespan
from shared.messaging.consumer import Handler
from shared.runtime import Runtime


def create_app(settings: EscalationSettings, *, clock: Clock | None = None) -> FastAPI:
    """Build the escalation app; connections open in its lifespan, not at import."""
    clock = clock or SystemClock()
    district = load_district(settings.district_config)

    async def wire(runtime: Runtime) -> tuple[EscalationContext, Mapping[str, Handler]]:
        repo = ClockRepository(runtime.db)
        await repo.ensure_indexes()
        ctx = EscalationContext(repo=repo, clock=runtime.clock, district=district,
                                source=settings.source, published=runtime.wake_relay,
                                lease=timedelta(seconds=settings.clock_lease_s))
        # The scheduler stops (cancelled between passes) when the runtime closes.
        runtime.spawn(Scheduler(ctx=ctx, tick_s=settings.scheduler_tick_s).run(), "sla-scheduler")
        return ctx, {
            "concern.submitted": functools.partial(handlers.on_submitted, ctx=ctx),
            "concern.triaged": functools.partial(handlers.on_triaged, ctx=ctx),
            "concern.resolved": functools.partial(handlers.on_resolved, ctx=ctx),
            "concern.reopened": functools.partial(handlers.on_reopened, ctx=ctx),
        }

    app = create_service_app(title="Bureau escalation", lifespan=runtime_lifespan(
        settings, clock=clock, outbox_collections=[CLOCKS], wire=wire))
    app.include_router(api.router)
    return app
