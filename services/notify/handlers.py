"""What notify does on each event it consumes: remember, decide who hears what, record.

A handler only records deliveries (each once, by its id, all in one write) and hands those
due now to the dispatcher of its own process, which sends them in the background; so a slow
provider never holds up the queue, and a crash after recording loses nothing. The concern's
facts are read only for events that can notify someone, and come back from the write that
remembers an event's own facts. A handler raises only to be retried: a requester message
whose contact has not arrived yet, or a store outage.
"""

from __future__ import annotations

import logging
from datetime import datetime

from services.notify import audience, board_packet, bounces, sms, surveys
from services.notify.audience import ContactUnknown, Planned
from services.notify.context import NotifyContext
from services.notify.dispatcher import hold_for_quiet_hours, send_soon
from services.notify.domain import (
    ChannelName,
    DeliveryStatus,
    Kind,
    delivery_id,
)
from services.notify.repository import ConcernFacts, NewDelivery
from services.notify.templates import render
from shared.events import (
    CATALOGUE,
    DUAL_EVENTS,
    BoardPacketReady,
    CloudEvent,
    ConcernAssigned,
    ConcernResolutionShared,
    ConcernUnassigned,
    EventData,
    Exchange,
    encode,
)
from shared.messaging.handler_table import HandlerTable
from shared.messaging.transient import TransientError

log = logging.getLogger(__name__)

__all__ = ["ContactUnknown", "NotifyContext", "TemplateMissing", "on_event"]


class TeamUnknown(TransientError):
    """A staff message for a concern whose team triage has not named yet (retry later)."""


class TemplateMissing(LookupError):
    """No template for a kind and channel, not even in English (the seeds were removed)."""


async def on_event(event: CloudEvent, data: EventData, *, ctx: NotifyContext) -> None:
    """Remember what the event teaches, then record every message and webhook it causes."""
    now = ctx.clock.now()
    concern_id: str = getattr(data, "concern_id", None) or event.subject or "-"
    webhooks = await _webhooks(event, concern_id, ctx)
    if event.name in DUAL_EVENTS and not event.restricted:
        # the public copy of a routing event is for subscribers; people hear of the full one
        await _record(webhooks, event, concern_id, ctx, now)
        return
    try:
        messages = await _messages(event, data, concern_id, ctx, now)
    except Exception:
        # Subscribers first: a requester message that must wait for its contact (or a
        # missing template) holds up no one.
        await _record(webhooks, event, concern_id, ctx, now)
        raise
    await _record(webhooks + messages, event, concern_id, ctx, now)


async def _messages(
    event: CloudEvent, data: EventData, concern_id: str, ctx: NotifyContext, now: datetime
) -> list[NewDelivery]:
    """The messages to people the event causes, after remembering what it teaches."""
    if isinstance(data, BoardPacketReady):  # the Board's monthly packet, to its list
        return board_packet.deliveries(event, data, config=ctx.board, district=ctx.district)
    await _tell_former_assignee(event, data, concern_id, ctx, now)
    notifying = audience.may_notify(data)
    facts = await ctx.concerns.remember(data, now, read=notifying)
    if not notifying:
        return []
    if facts is None:
        facts = await ctx.concerns.get(concern_id)
    survey_url = None
    if (
        isinstance(data, ConcernResolutionShared)
        and facts is not None
        and facts.contact is not None
    ):
        survey_url = await open_survey(data, facts, ctx)
    planned = audience.plan(
        event.name,
        data,
        facts=facts,
        district=ctx.district,
        config=ctx.config,
        available=ctx.available,
        survey_url=survey_url,
    )
    if not planned and event.name == "sla.warning":
        if facts is None or (facts.team_id is None and facts.assignee_id is None):
            # fired before triage named the team: it waits for it (retried, never dropped)
            raise TeamUnknown(f"no team known yet for concern {concern_id}")
        log.info(
            "nobody to warn: the team has no one to reach",
            extra={"concern_id": concern_id, "event_id": event.id},
        )
    return [
        await _prepare(p, concern_id=concern_id, facts=facts, event=event, ctx=ctx, now=now)
        for p in planned
    ]


async def _tell_former_assignee(
    event: CloudEvent, data: EventData, concern_id: str, ctx: NotifyContext, now: datetime
) -> None:
    """A concern re-assigned (or left unassigned) away from its member: tell them, recorded
    before the new assignee is remembered, so that a redelivery after a crash between the
    two still finds them (and plans the same delivery ids: nothing twice)."""
    if not isinstance(data, (ConcernAssigned, ConcernUnassigned)):
        return
    before = await ctx.concerns.get(concern_id)
    planned = audience.assignment_ended(
        data, facts=before, district=ctx.district, available=ctx.available
    )
    deliveries = [
        await _prepare(p, concern_id=concern_id, facts=before, event=event, ctx=ctx, now=now)
        for p in planned
    ]
    await _record(deliveries, event, concern_id, ctx, now)


async def _record(
    deliveries: list[NewDelivery],
    event: CloudEvent,
    concern_id: str,
    ctx: NotifyContext,
    now: datetime,
) -> None:
    """Record each delivery once, and send at once those recorded claimed (due now)."""
    if not deliveries:
        return
    recorded = await ctx.repo.record(deliveries, now=now, lease_until=now + ctx.delivery_lease)
    for delivery in recorded:
        log.info(
            "delivery recorded",
            extra={
                "concern_id": concern_id,
                "event_id": event.id,
                "delivery_id": delivery.id,
                "kind": delivery.kind.value,
                "status": delivery.status.value,
            },
        )
    send_soon([d for d in recorded if d.status is DeliveryStatus.SENDING], ctx=ctx)


async def open_survey(
    data: ConcernResolutionShared, facts: ConcernFacts, ctx: NotifyContext
) -> str:
    """Open (or extend) the concern's survey; the link is the same on every redelivery."""
    token = surveys.token_for(ctx.survey_key, data.concern_id)
    language = facts.contact.language if facts.contact else "en"
    await ctx.surveys.open(
        concern_id=data.concern_id,
        token_hash=surveys.token_hash(token),
        language=language,
        expires_at=surveys.expires_at(data.resolved_at),
        now=ctx.clock.now(),
    )
    return surveys.link(ctx.config.survey_base_url, token)


async def _prepare(
    planned: Planned,
    *,
    concern_id: str,
    facts: ConcernFacts | None,
    event: CloudEvent,
    ctx: NotifyContext,
    now: datetime,
) -> NewDelivery:
    """The delivery of one planned message, rendered from its template now."""
    id_ = delivery_id(
        concern_id,
        planned.kind,
        planned.channel or ChannelName.EMAIL,  # a skipped message is filed as an email
        occurrence=planned.occurrence,
        recipient=planned.recipient,
    )
    if planned.channel is None:
        return NewDelivery(
            id=id_,
            concern_id=concern_id,
            kind=planned.kind,
            channel=ChannelName.EMAIL,
            address=None,
            language=planned.language,
            recipient=planned.recipient,
            status=DeliveryStatus.SKIPPED,
            note=planned.note,
            event_id=event.id,
        )
    template = await ctx.templates.find(planned.kind, planned.channel, planned.language)
    if template is None:
        raise TemplateMissing(f"no {planned.kind.value} template for {planned.channel.value}")
    values = audience.template_values(
        planned,
        language=template.language,
        concern_id=concern_id,
        facts=facts,
        district=ctx.district,
        config=ctx.config,
    )
    rendered = render(template, values)
    text = rendered.text
    due = now
    if planned.channel is ChannelName.SMS:
        text = sms.fit(text, ctx.config.sms_max_segments)
        if not planned.urgent:
            due = hold_for_quiet_hours(now, ctx)
    return NewDelivery(
        id=id_,
        concern_id=concern_id,
        kind=planned.kind,
        channel=planned.channel,
        address=planned.address,
        language=rendered.language,
        recipient=planned.recipient,
        to_name=planned.name,
        subject=rendered.subject,
        text=text,
        next_attempt_at=due,
        urgent=planned.urgent,
        event_id=event.id,
        in_reply_to=planned.in_reply_to,
    )


async def _webhooks(event: CloudEvent, concern_id: str, ctx: NotifyContext) -> list[NewDelivery]:
    """One signed webhook per subscription that asked for this event; public events only."""
    if event.exchange is not Exchange.PUBLIC:  # a restricted copy included
        return []
    body = encode(event).decode()
    return [
        NewDelivery(
            # the event id: a redelivered or republished event is the same webhook
            id=f"{concern_id}:{Kind.WEBHOOK.value}:{event.id}:{s.id}",
            concern_id=concern_id,
            kind=Kind.WEBHOOK,
            channel=ChannelName.WEBHOOK,
            address=s.url,
            language="en",
            recipient=s.id,
            subject=event.type,
            text=body,
            publishes=False,
            event_id=event.id,
        )
        for s in await ctx.subscriptions.matching(event.name)
    ]


# What notify consumes, by event type: its queue's bindings are derived from this table. The
# private events only it reads, and every public event (forwarded to webhook subscribers). Each
# delivery's id is derived from the fact that caused it: a duplicate event plans the same ids
# and sends nothing new, so the consumer skips its inbox. A bounce fails a delivery only while
# it is sent: the same report again changes nothing.
PRIVATE_EVENTS = ("concern.contact_shared", "concern.reply_shared", "concern.resolution_shared")
HANDLERS = HandlerTable(
    {
        **dict.fromkeys(
            [*PRIVATE_EVENTS, *(n for n, s in CATALOGUE.items() if s.exchange is Exchange.PUBLIC)],
            on_event,
        ),
        "concern.delivery_bounced": bounces.on_bounced,
    },
    idempotent=True,
)
