"""Wiring: the one place notify's parts are built and connected."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import timedelta

from fastapi import FastAPI

from services.notify import api, handlers
from services.notify.channels import OutboundChannel, SmtpEmailChannel
from services.notify.handlers import NotifyContext
from services.notify.repository import DELIVERIES, DeliveryRepository
from services.notify.settings import NotifySettings
from shared.clock import Clock, SystemClock
from shared.district import load_district
from shared.http import create_service_app, runtime_lifespan
from shared.messaging.consumer import Handler
from shared.runtime import Runtime


def create_app(settings: NotifySettings, *, clock: Clock | None = None,
               email: OutboundChannel | None = None) -> FastAPI:
    """Build the notify app; connections open in its lifespan, not at import.

    `email` replaces the SMTP channel (tests may pass a `RecordingChannel`).
    """
    clock = clock or SystemClock()
    district = load_district(settings.district_config)
    email_channel = email or SmtpEmailChannel.from_settings(settings)

    async def wire(runtime: Runtime) -> tuple[NotifyContext, Mapping[str, Handler]]:
        repo = DeliveryRepository(runtime.db)
        await repo.ensure_indexes()
        ctx = NotifyContext(repo=repo, email=email_channel, clock=runtime.clock,
                            district=district, source=settings.source,
                            published=runtime.wake_relay,
                            delivery_attempts=settings.delivery_attempts,
                            delivery_lease=timedelta(seconds=settings.delivery_lease_s))
        return ctx, {
            "concern.contact_shared": functools.partial(handlers.on_contact_shared, ctx=ctx),
        }

    app = create_service_app(title="Bureau notify", lifespan=runtime_lifespan(
        settings, clock=clock, outbox_collections=[DELIVERIES], wire=wire))
    app.include_router(api.router)
    return app
