"""Wiring: the one place notify's parts are built and connected."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.notify import api, handlers, opt_outs, surveys_api
from services.notify.channels import (
    HttpSmsChannel,
    OutboundChannel,
    SmtpEmailChannel,
    WebhookChannel,
)
from services.notify.config import NotifyConfig
from services.notify.context import NotifyContext
from services.notify.dispatcher import DispatchLoop
from services.notify.domain import ChannelName
from services.notify.repository import (
    DELIVERIES,
    SURVEYS,
    ConcernRepository,
    DeliveryRepository,
    SubscriptionRepository,
    SurveyRepository,
    TemplateRepository,
)
from services.notify.settings import NotifySettings
from services.notify.templates import load_seed
from shared.board import BoardConfig
from shared.clock import Clock, SystemClock
from shared.district import DistrictConfig, load_district
from shared.http import create_service_app, runtime_lifespan
from shared.messaging.consumer import Handler
from shared.runtime import Runtime
from shared.safety_desk import safety_desk
from shared.store import Document

log = logging.getLogger(__name__)


def build_channels(
    settings: NotifySettings,
    clock: Clock,
    overrides: Mapping[ChannelName, OutboundChannel] | None = None,
) -> dict[ChannelName, OutboundChannel]:
    """The channels the settings configure; `overrides` replace some (tests pass fakes)."""
    channels: dict[ChannelName, OutboundChannel] = {
        ChannelName.EMAIL: SmtpEmailChannel.from_settings(settings),
        ChannelName.WEBHOOK: WebhookChannel(
            clock=clock,
            timeout_s=settings.io_timeout_s,
            allowed_targets=settings.webhook_allowed_targets,
        ),
    }
    if settings.sms_enabled:
        if not (
            settings.sms_api_url
            and settings.sms_account_sid
            and settings.sms_auth_token
            and settings.sms_from
        ):  # NotifySettings refuses them apart; kept for the types
            raise ValueError(
                "SMS_API_URL, SMS_ACCOUNT_SID, SMS_AUTH_TOKEN and SMS_FROM go together"
            )
        channels[ChannelName.SMS] = HttpSmsChannel(
            api_url=settings.sms_api_url,
            account_sid=settings.sms_account_sid,
            auth_token=settings.sms_auth_token,
            sender=settings.sms_from,
            timeout_s=settings.io_timeout_s,
        )
    channels.update(overrides or {})
    return channels


async def build_context(
    db: AsyncDatabase[Document],
    *,
    settings: NotifySettings,
    clock: Clock,
    district: DistrictConfig,
    channels: Mapping[ChannelName, OutboundChannel],
    published: Callable[..., None] = lambda *_: None,
) -> NotifyContext:
    """Notify's stores over `db` (indexes made, templates seeded) and its context; its
    dispatch loop sends what handlers record (`run` it for retries and crash recovery)."""
    repo, templates = DeliveryRepository(db), TemplateRepository(db)
    subscriptions, surveys = SubscriptionRepository(db), SurveyRepository(db)
    concerns = ConcernRepository(db)
    await repo.ensure_indexes()
    await concerns.ensure_indexes()
    await subscriptions.ensure_indexes()
    await surveys.ensure_indexes()
    seeded = await templates.seed(load_seed(), clock.now())
    if seeded:
        log.info("shipped templates stored or reworded", extra={"templates": seeded})
    return assemble_context(
        repo=repo,
        concerns=concerns,
        templates=templates,
        subscriptions=subscriptions,
        surveys=surveys,
        settings=settings,
        clock=clock,
        district=district,
        channels=channels,
        published=published,
    )


def assemble_context(
    *,
    repo: DeliveryRepository,
    concerns: ConcernRepository,
    templates: TemplateRepository,
    subscriptions: SubscriptionRepository,
    surveys: SurveyRepository,
    settings: NotifySettings,
    clock: Clock,
    district: DistrictConfig,
    channels: Mapping[ChannelName, OutboundChannel],
    published: Callable[..., None] = lambda *_: None,
) -> NotifyContext:
    """Notify's context over these repositories: the store's (`build_context`), or the
    in-memory ones of `services/notify/repository/fakes.py` in handler tests."""
    return NotifyContext(
        repo=repo,
        concerns=concerns,
        templates=templates,
        subscriptions=subscriptions,
        surveys=surveys,
        channels=dict(channels),
        clock=clock,
        district=district,
        config=district.section("notify", NotifyConfig).at(settings.public_base_url),
        source=settings.source,
        published=published,
        dispatch=DispatchLoop(
            tick_s=settings.dispatch_tick_s,
            concurrency=settings.dispatch_batch,
            grace_s=settings.shutdown_grace_s,
        ),
        delivery_attempts=settings.delivery_attempts,
        delivery_lease=timedelta(seconds=settings.delivery_lease_s),
        backoff_s=tuple(settings.delivery_backoff_s),
        dispatch_batch=settings.dispatch_batch,
        survey_key=settings.survey_token_key,
        board=district.section("board", BoardConfig).at(settings.public_base_url),
    )


def create_app(
    settings: NotifySettings,
    *,
    clock: Clock | None = None,
    email: OutboundChannel | None = None,
    channels: Mapping[ChannelName, OutboundChannel] | None = None,
) -> FastAPI:
    """Build the notify app; connections open in its lifespan, not at import.

    `email` or `channels` replace configured channels (tests may pass a `RecordingChannel`).
    """
    clock = clock or SystemClock()
    district = load_district(settings.district_config)
    district.section("notify", NotifyConfig)  # fail fast on a bad section
    safety_desk(district)  # and on a bad safety desk roster (critical concerns read it)
    district.section("board", BoardConfig)
    overrides = dict(channels or {})
    if email is not None:
        overrides[ChannelName.EMAIL] = email
    outbound = build_channels(settings, clock, overrides)

    async def wire(runtime: Runtime) -> tuple[NotifyContext, Mapping[str, Handler]]:
        ctx = await build_context(
            runtime.db,
            settings=settings,
            clock=runtime.clock,
            district=district,
            channels=outbound,
            published=runtime.wake_relay,
        )
        # The loop is cancelled when the runtime closes: sends in flight get the shutdown
        # grace; one cut short keeps its lease until it expires, then a peer (or the next
        # start) sends the delivery.
        runtime.spawn(ctx.dispatch.run(ctx), "notify-dispatcher")
        return ctx, handlers.HANDLERS.bind(ctx)

    app = create_service_app(
        title="Bureau notify",
        service="notify",
        cors_origins=settings.cors_origins,
        lifespan=runtime_lifespan(
            settings, clock=clock, outbox_collections=[DELIVERIES, SURVEYS], wire=wire
        ),
    )
    app.include_router(api.router)
    app.include_router(surveys_api.router)
    app.include_router(opt_outs.router)
    return app


__all__ = ["create_app"]
