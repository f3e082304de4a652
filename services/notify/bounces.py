"""Bounces: a mail of the bureau came back undelivered (an RFC 3464 report the email front door
took, which intake shares as `concern.delivery_bounced`). The delivery of that mail, found by
its Message-ID, fails: staff see it on the case's deliveries, and `notification.failed` tells
the bureau, as for a mail the relay refused."""

from __future__ import annotations

import logging

from services.notify import domain
from services.notify.context import NotifyContext
from services.notify.dispatcher import published_id
from services.notify.domain import ChannelName, DeliveryStatus
from services.notify.repository import DELIVERIES
from shared.events import CloudEvent, ConcernDeliveryBounced, NotificationFailed, envelopes
from shared.metrics import DELIVERIES as DELIVERY_OUTCOMES

log = logging.getLogger(__name__)


async def on_bounced(
    event: CloudEvent, data: ConcernDeliveryBounced, *, ctx: NotifyContext
) -> None:
    """Fail each sent mail the report names; the same report again changes nothing."""
    now = ctx.clock.now()
    sent = {
        d.id: d
        for d in await ctx.repo.for_concern(data.concern_id)
        if d.channel is ChannelName.EMAIL and d.status is DeliveryStatus.SENT
    }
    error = domain.bounce_answer(data.status)
    for delivery_id in domain.bounced_deliveries(data.message_ids, sent):
        delivery = sent[delivery_id]
        failed = NotificationFailed(
            concern_id=delivery.concern_id,
            delivery_id=published_id(delivery, ctx),
            kind=delivery.kind.value,
            channel=delivery.channel.value,
            failed_at=now,
            error=error,
        )
        events = envelopes([failed], source=ctx.source, time=now) if delivery.publishes else []
        if not await ctx.repo.mark_bounced(
            delivery.id, now=now, error=error, attempt=delivery.attempts, events=events
        ):
            continue  # failed meanwhile, or this report was taken already
        if events:
            ctx.published(DELIVERIES)
        DELIVERY_OUTCOMES.labels(delivery.channel.value, "bounced").inc()
        log.warning(
            "delivery bounced",
            extra={
                "concern_id": delivery.concern_id,
                "delivery_id": delivery.id,
                "event_id": event.id,
                "error": error,
            },
        )
