"""Wiring: the one place triage's parts are built and connected."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from fastapi import FastAPI

from services.triage import api, handlers, rules_api, safety_api, training
from services.triage.config import load_config
from services.triage.context import TriageContext
from services.triage.repository import (
    DECISIONS,
    DecisionRepository,
    MemberRepository,
    RuleRepository,
)
from services.triage.settings import TriageSettings
from shared.clock import Clock, SystemClock
from shared.district import load_district
from shared.http import create_service_app, runtime_lifespan
from shared.messaging.consumer import Handler
from shared.runtime import Runtime

log = logging.getLogger(__name__)


def create_app(settings: TriageSettings, *, clock: Clock | None = None) -> FastAPI:
    """Build the triage app; connections open in its lifespan, not at import."""
    clock = clock or SystemClock()
    district = load_district(settings.district_config)
    config = load_config(district)

    async def wire(runtime: Runtime) -> tuple[TriageContext, Mapping[str, Handler]]:
        ctx = TriageContext(
            decisions=DecisionRepository(runtime.db),
            rules=RuleRepository(runtime.db, ttl_s=settings.cache_ttl_s),
            members=MemberRepository(runtime.db, ttl_s=settings.cache_ttl_s),
            clock=runtime.clock,
            district=district,
            config=config,
            source=settings.source,
            published=runtime.wake_relay,
        )
        await ctx.decisions.ensure_indexes()
        window = timedelta(days=config.duplicates.window_days)
        if added := await ctx.decisions.add_match_keys(runtime.clock.now() - window):
            log.info("duplicate match keys added to earlier decisions", extra={"decisions": added})
        await ctx.members.ensure_indexes()
        await training.ensure_indexes(runtime.db)
        await ctx.members.ensure(sorted({m for t in district.teams for m in t.members}))
        if await ctx.rules.seed(config.rules):
            log.info("routing rules seeded", extra={"rules": len(config.rules)})
        return ctx, handlers.HANDLERS.bind(ctx)

    app = create_service_app(
        title="Bureau triage",
        service="triage",
        cors_origins=settings.cors_origins,
        lifespan=runtime_lifespan(settings, clock=clock, outbox_collections=[DECISIONS], wire=wire),
    )
    app.include_router(api.router)
    app.include_router(rules_api.router)
    app.include_router(safety_api.router)
    app.include_router(training.router)
    return app
