"""Wiring: the one place triage's parts are built and connected."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from fastapi import FastAPI

from services.triage import api, handlers
from services.triage.handlers import TriageContext
from services.triage.repository import DECISIONS, DecisionRepository
from services.triage.settings import TriageSettings
from shared.clock import Clock, SystemClock
from shared.district import load_district
from shared.http import create_service_app, runtime_lifespan
from shared.messaging.consumer import Handler
from shared.runtime import Runtime


def create_app(settings: TriageSettings, *, clock: Clock | None = None) -> FastAPI:
    """Build the triage app; connections open in its lifespan, not at import."""
    clock = clock or SystemClock()
    district = load_district(settings.district_config)

    async def wire(runtime: Runtime) -> tuple[TriageContext, Mapping[str, Handler]]:
        ctx = TriageContext(repo=DecisionRepository(runtime.db), clock=runtime.clock,
                            district=district, source=settings.source,
                            published=runtime.wake_relay)
        return ctx, {"concern.submitted": functools.partial(handlers.on_submitted, ctx=ctx)}

    app = create_service_app(title="Bureau triage", lifespan=runtime_lifespan(
        settings, clock=clock, outbox_collections=[DECISIONS], wire=wire))
    app.include_router(api.router)
    return app
