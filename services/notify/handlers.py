"""What notify does on each event it consumes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from services.notify import domain
from services.notify.channels import DeliveryResult, OutboundChannel, OutgoingMessage
from services.notify.domain import FINAL, ChannelName, DeliveryStatus, Kind
from services.notify.repository import DeliveryRepository
from shared.clock import Clock
from shared.district import DistrictConfig
from shared.events import (
    CloudEvent,
    ConcernContactShared,
    NotificationFailed,
    NotificationSent,
    envelopes,
)

log = logging.getLogger(__name__)


class DeliveryBusy(RuntimeError):
    """Another replica is sending this delivery right now; look again later."""


class DeliveryDeferred(RuntimeError):
    """An attempt failed and attempts remain; the consumer retries the event with backoff."""


@dataclass(frozen=True)
class NotifyContext:
    """Everything notify's handlers need, wired once at startup."""

    repo: DeliveryRepository
    email: OutboundChannel
    clock: Clock
    district: DistrictConfig
    source: str
    published: Callable[[], None]
    delivery_attempts: int
    delivery_lease: timedelta


async def on_contact_shared(event: CloudEvent, data: ConcernContactShared, *,
                            ctx: NotifyContext) -> None:
    """Acknowledge a new concern to its requester by email, exactly once per concern."""
    kind, channel = Kind.ACKNOWLEDGEMENT, ChannelName.EMAIL
    delivery_id = domain.delivery_id(data.concern_id, kind, channel)
    fields: dict[str, object] = {"concern_id": data.concern_id, "delivery_id": delivery_id,
                                 "event_id": event.id}
    now = ctx.clock.now()
    address = data.requester.email
    language = domain.language_for(data.requester.language)
    if address is None:
        if await ctx.repo.add(delivery_id=delivery_id, concern_id=data.concern_id, kind=kind,
                              channel=channel, address=None, language=language, now=now,
                              status=DeliveryStatus.SKIPPED, note="requester gave no email"):
            log.info("acknowledgement skipped: no email address", extra=fields)
        return

    # Render before claiming: a template problem must not leave a claimed delivery behind.
    category = ctx.district.category(data.category)
    rendered = domain.render_acknowledgement(data, district=ctx.district.district,
                                             category=category.name if category else None)
    await ctx.repo.add(delivery_id=delivery_id, concern_id=data.concern_id, kind=kind,
                       channel=channel, address=address, language=rendered.language, now=now)
    token = uuid.uuid4().hex
    claimed = await ctx.repo.claim(delivery_id, token=token, now=now,
                                   lease_until=now + ctx.delivery_lease)
    if claimed is None:
        current = await ctx.repo.get(delivery_id)
        if current is not None and current.status in FINAL:
            log.info("acknowledgement already settled", extra={**fields,
                                                             "status": current.status.value})
            return
        raise DeliveryBusy(f"delivery {delivery_id} is being sent by another replica")

    message = OutgoingMessage(
        delivery_id=delivery_id, to=address, to_name=data.requester.name,
        subject=rendered.subject, text=rendered.text, language=rendered.language,
        created_at=now,
    )
    try:
        result = await ctx.email.send(message)
    except Exception as exc:  # a bug in a channel counts as a failed attempt, not a lost lease
        # no traceback: its frames and message may hold the address
        log.error("channel raised", extra={**fields, "error": type(exc).__name__})
        result = DeliveryResult.refused(f"{type(exc).__name__}: {exc}")
    # Providers quote addresses back; the answer goes into logs and events, the address may not.
    answer = domain.redact(result.answer, address)
    done = ctx.clock.now()
    fields["attempt"] = claimed.attempts

    if result.ok:
        sent = NotificationSent(concern_id=data.concern_id, delivery_id=delivery_id,
                                kind=kind.value, channel=channel.value, sent_at=done)
        recorded = await ctx.repo.mark_sent(
            delivery_id, token=token, now=done, answer=answer, reference=result.reference,
            events=envelopes([sent], source=ctx.source, time=done))
        if recorded:
            ctx.published()
            log.info("acknowledgement sent", extra=fields)
        else:
            # Our lease ran out mid-send and a peer took over: it may send a second copy,
            # which carries the same Message-ID so the receiving server can drop it.
            log.warning("acknowledgement sent after its lease expired", extra=fields)
        return

    outcome = domain.after_failure(attempts=claimed.attempts, max_attempts=ctx.delivery_attempts,
                                   permanent=result.permanent)
    if outcome is DeliveryStatus.FAILED:
        failed = NotificationFailed(concern_id=data.concern_id, delivery_id=delivery_id,
                                    kind=kind.value, channel=channel.value, failed_at=done,
                                    error=answer)
        if await ctx.repo.mark_failed(delivery_id, token=token, now=done, error=answer,
                                      events=envelopes([failed], source=ctx.source, time=done)):
            ctx.published()
        log.warning("acknowledgement failed for good", extra={**fields, "error": answer})
        return
    await ctx.repo.release(delivery_id, token=token, now=done, error=answer)
    log.warning("acknowledgement attempt failed; will retry", extra={**fields, "error": answer})
    raise DeliveryDeferred(f"delivery {delivery_id} attempt {claimed.attempts} of "
                           f"{ctx.delivery_attempts} failed: {answer}")
