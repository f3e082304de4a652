"""Wiring: the one place intake's parts are built and connected."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from fastapi import FastAPI

from services.intake import api, handlers
from services.intake.handlers import IntakeContext
from services.intake.repository import CONCERNS, ConcernRepository
from services.intake.settings import IntakeSettings
from shared.clock import Clock, SystemClock
from shared.district import load_district
from shared.http import create_service_app, runtime_lifespan
from shared.messaging.consumer import Handler
from shared.runtime import Runtime


def create_app(settings: IntakeSettings, *, clock: Clock | None = None) -> FastAPI:
    """Build the intake app; connections open in its lifespan, not at import."""
    clock = clock or SystemClock()
    district = load_district(settings.district_config)

    async def wire(runtime: Runtime) -> tuple[IntakeContext, Mapping[str, Handler]]:
        repo = ConcernRepository(runtime.db)
        await repo.ensure_indexes()
        ctx = IntakeContext(repo=repo, clock=runtime.clock, district=district,
                            source=settings.source, published=runtime.wake_relay,
                            contact_secret=settings.contact_hash_key.get_secret_value().encode())
        return ctx, {
            "concern.triaged": functools.partial(handlers.on_triaged, ctx=ctx),
            "concern.escalated": functools.partial(handlers.on_escalated, ctx=ctx),
        }

    app = create_service_app(title="Bureau intake", lifespan=runtime_lifespan(
        settings, clock=clock, outbox_collections=[CONCERNS], wire=wire))
    app.include_router(api.router)
    return app
