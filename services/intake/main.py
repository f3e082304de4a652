"""Wiring: the one place intake's parts are built and connected."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.intake import api, backfills, call_months, calls, handlers, pending
from services.intake.attachments import router as attachments_router
from services.intake.config import IntakeConfig
from services.intake.context import IntakeContext
from services.intake.idempotency import IdempotencyKeys
from services.intake.inbound import router as inbound_router
from services.intake.promise import Promise
from services.intake.repository import CONCERNS, ConcernRepository, DisclosureRepository
from services.intake.settings import IntakeSettings
from shared.clock import Clock, SystemClock
from shared.district import load_district
from shared.http import create_service_app, runtime_lifespan
from shared.messaging.consumer import Handler
from shared.migrations import MIGRATIONS, once
from shared.ratelimit import RateLimiter
from shared.runtime import Runtime

log = logging.getLogger(__name__)


async def _sweeping(ctx: IntakeContext) -> None:
    """Remind, then close, concerns long waiting on the requester (see `sweep_awaiting`)."""
    while True:
        try:
            await handlers.sweep_awaiting(ctx=ctx)
        except Exception:
            log.warning("awaiting-requester sweep failed; will retry", exc_info=True)
        await asyncio.sleep(ctx.config.awaiting_requester.sweep_s)


def create_app(settings: IntakeSettings, *, clock: Clock | None = None) -> FastAPI:
    """Build the intake app; connections open in its lifespan, not at import."""
    clock = clock or SystemClock()
    district = load_district(settings.district_config)
    config = district.section("intake", IntakeConfig)
    if settings.environment != "development":
        open311 = config.open311.without_example_keys()
        if len(open311.clients) != len(config.open311.clients):
            log.warning(
                "the example Open311 api key of deploy/district.yaml is refused "
                "outside development: configure your clients' own keys"
            )
        config = config.model_copy(update={"open311": open311})
    vault = settings.student_vault()
    promise = Promise.of(district)  # fails fast on a bad escalation section
    pending_settings = pending.PendingSettings()

    async def wire(runtime: Runtime) -> tuple[IntakeContext, Mapping[str, Handler]]:
        repo = ConcernRepository(runtime.db, vault, tracking_block=settings.tracking_block)
        await repo.ensure_indexes()
        # students stored in clear before encryption, or under a retired key: sealed now
        resealed = await repo.reseal_students()
        if resealed:
            log.info(
                "student information re-sealed",
                extra={"concerns": resealed, "key_id": vault.current},
            )
        contact_secret = settings.contact_hash_key.get_secret_value().encode()
        # concerns from before the lookup by a family's phone or email: their keys, once
        await once(
            runtime.db[MIGRATIONS],
            backfills.REQUESTER_KEYS,
            lambda: backfills.requester_keys(repo.collection, contact_secret),
        )
        disclosures = DisclosureRepository(runtime.db)
        await disclosures.ensure_indexes()
        await calls.ensure_indexes(runtime.db)
        await call_months.ensure_indexes(runtime.db)
        # call records from before the Board's monthly summaries: counted once (time-bounded)
        timezone = ZoneInfo(district.district.timezone)
        await call_months.backfill(runtime.db, timezone)
        keys = IdempotencyKeys(runtime.db, ttl_s=settings.idempotency_ttl_s)
        await keys.ensure_indexes()
        ctx = IntakeContext(
            repo=repo,
            keys=keys,
            clock=runtime.clock,
            district=district,
            config=config,
            source=settings.source,
            published=runtime.wake_relay,
            contact_secret=contact_secret,
            access_key=settings.access_token_key.get_secret_value().encode(),
            disclosures=disclosures,
            sms_updates=settings.sms_updates,
            promise=promise,
        )
        runtime.spawn(_sweeping(ctx), "awaiting-requester-sweep")
        await pending.ensure_indexes(runtime.db)
        runtime.spawn(pending.sweeping(ctx, pending_settings), "pending-files-sweep")
        bound = handlers.HANDLERS.bind(ctx)
        for routed in ("concern.triaged", "concern.assigned"):  # the Board's calls follow
            bound[routed] = call_months.regrouping(bound[routed], runtime.db, timezone)
        return ctx, bound

    app = create_service_app(
        title="Bureau intake",
        service="intake",
        cors_origins=settings.cors_origins,
        lifespan=runtime_lifespan(settings, clock=clock, outbox_collections=[CONCERNS], wire=wire),
    )
    app.state.tracking_limiter = RateLimiter(settings.tracking_lookups_per_minute, 60.0)
    for router in [*api.routers, calls.router, call_months.router]:
        app.include_router(router)
    # mail and SMS to a concern, and the files sent with it (the email and phone frontends)
    app.include_router(inbound_router)
    app.include_router(attachments_router)
    # files of a family's form not sent yet (the family web, whichever replica answers)
    app.state.pending_settings = pending_settings
    app.include_router(pending.router)
    return app
