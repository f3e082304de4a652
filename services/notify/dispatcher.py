"""Sends deliveries: at once from the replica that recorded them, else when due; leases keep
replicas apart.

A new delivery that is due at once is recorded already claimed, and the recording replica
sends it straight away (`send_soon`): one write to record, one to settle. Every other
delivery waits for a loop that runs in every replica: it is due when it is queued and its
`next_attempt_at` has come (retried with backoff, or held by quiet hours), or when the replica
sending it died and its lease expired.
Each attempt is recorded with the provider's answer; a failure is retried with backoff until
the last attempt, then the delivery fails for good and `notification.failed` is published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pymongo.errors import PyMongoError

from services.notify import domain, opt_outs, repository, sms
from services.notify.channels import DeliveryResult, OutgoingMessage
from services.notify.domain import ChannelName, DeliveryStatus
from services.notify.repository import Delivery
from shared.events import CloudEvent, NotificationFailed, NotificationSent, envelopes
from shared.metrics import DELIVERIES

if TYPE_CHECKING:  # the context holds the loop
    from services.notify.context import NotifyContext

log = logging.getLogger(__name__)
RECORD_FIRST_PAUSE_S = 0.1
RECORD_MAX_PAUSE_S = 2.0


def published_id(delivery: Delivery, ctx: NotifyContext) -> str:
    """The delivery's id in its `notification.*` event (a staff recipient made opaque)."""
    return domain.public_delivery_id(delivery.id, delivery.recipient, ctx.survey_key)


async def attempt(delivery: Delivery, *, ctx: NotifyContext) -> DeliveryStatus | None:
    """One attempt of a claimed delivery; returns its new status (None when the lease was lost)."""
    token = delivery.lease_token or ""
    fields: dict[str, object] = {
        "concern_id": delivery.concern_id,
        "delivery_id": delivery.id,
        "kind": delivery.kind.value,
        "channel": delivery.channel.value,
        "attempt": delivery.attempts,
    }
    result = await _send(delivery, ctx)
    # Providers quote addresses back, in forms no redaction foresees: their words stay in the
    # delivery's stored history; events, logs and the staff view get the summary (codes only).
    answer = domain.redact(result.answer, delivery.address)
    summary = domain.provider_summary(answer, ok=result.ok, permanent=result.permanent)
    done = ctx.clock.now()

    if result.ok:
        if await _record(
            delivery,
            ctx,
            NotificationSent(
                concern_id=delivery.concern_id,
                delivery_id=published_id(delivery, ctx),
                kind=delivery.kind.value,
                channel=delivery.channel.value,
                sent_at=done,
            ),
            done,
            lambda events: ctx.repo.mark_sent(
                delivery.id,
                token=token,
                now=done,
                answer=answer,
                reference=result.reference,
                attempt=delivery.attempts,
                events=events,
            ),
        ):
            log.info("delivery sent", extra=fields)
            DELIVERIES.labels(delivery.channel.value, "sent").inc()
            return DeliveryStatus.SENT
        # Our lease ran out mid-send and a peer took over: it may send a second copy (an email
        # carries the same Message-ID, so the receiving server can drop it).
        log.warning("delivery sent after its lease expired", extra=fields)
        return None

    outcome = domain.after_failure(
        attempts=delivery.attempts, max_attempts=ctx.delivery_attempts, permanent=result.permanent
    )
    if outcome is DeliveryStatus.FAILED:
        if await _record(
            delivery,
            ctx,
            NotificationFailed(
                concern_id=delivery.concern_id,
                delivery_id=published_id(delivery, ctx),
                kind=delivery.kind.value,
                channel=delivery.channel.value,
                failed_at=done,
                error=summary,
            ),
            done,
            lambda events: ctx.repo.mark_failed(
                delivery.id,
                token=token,
                now=done,
                error=answer,
                attempt=delivery.attempts,
                events=events,
            ),
        ):
            log.warning("delivery failed for good", extra={**fields, "error": summary})
            DELIVERIES.labels(delivery.channel.value, "failed").inc()
            return DeliveryStatus.FAILED
        return None
    later = domain.retry_at(done, attempts=delivery.attempts, backoff_s=ctx.backoff_s)
    if delivery.channel is ChannelName.SMS and not delivery.urgent:
        later = hold_for_quiet_hours(later, ctx)
    if await ctx.repo.release(
        delivery.id,
        token=token,
        now=done,
        error=answer,
        next_attempt_at=later,
        attempt=delivery.attempts,
    ):
        log.warning(
            "delivery attempt failed; will retry",
            extra={**fields, "error": summary, "retry_at": later.isoformat()},
        )
        return DeliveryStatus.QUEUED
    return None


async def _while_leased(
    delivery: Delivery, ctx: NotifyContext, write: Callable[[], Awaitable[bool]]
) -> bool:
    """Record the outcome of a send that happened, through a store outage however long:
    given up, the delivery would be taken over and the message go twice. Meanwhile the
    lease is renewed whenever the store answers, so that peers see this sender is alive
    (they take a delivery over only when its lease stays as it was: see `claim_abandoned`).
    Only the end of this process (shutdown, crash) stops it."""
    pause_s = RECORD_FIRST_PAUSE_S
    failures = 0
    while True:
        try:
            return await write()
        except PyMongoError as exc:
            failures += 1
            log.warning(
                "could not record a delivery's outcome; retrying",
                extra={
                    "delivery_id": delivery.id,
                    "failures": failures,
                    "error": type(exc).__name__,
                },
            )
        await asyncio.sleep(pause_s)
        pause_s = min(pause_s * 2, RECORD_MAX_PAUSE_S)
        with contextlib.suppress(PyMongoError):
            if not await ctx.repo.renew(
                delivery.id,
                token=delivery.lease_token or "",
                lease_until=ctx.clock.now() + ctx.delivery_lease,
            ):
                return False  # settled or taken over meanwhile (the write may have landed)


def hold_for_quiet_hours(moment: datetime, ctx: NotifyContext) -> datetime:
    """The time a non-urgent SMS may go, given the district's quiet hours."""
    quiet = ctx.config.quiet_hours
    return sms.release_time(
        moment, timezone=ctx.district.district.timezone, start=quiet.start, end=quiet.end
    )


async def _record(
    delivery: Delivery,
    ctx: NotifyContext,
    data: NotificationSent | NotificationFailed,
    at: datetime,
    write: Callable[[list[CloudEvent]], Awaitable[bool]],
) -> bool:
    """Record a send's final outcome (`write`) with its event, if the delivery publishes one,
    and have the event published; False when the lease was lost."""
    events = envelopes([data], source=ctx.source, time=at) if delivery.publishes else []
    if not await _while_leased(delivery, ctx, lambda: write(events)):
        return False
    if events:
        ctx.published(repository.DELIVERIES)
    return True


async def _send(delivery: Delivery, ctx: NotifyContext) -> DeliveryResult:
    channel = ctx.channels.get(delivery.channel)
    if channel is None:
        return DeliveryResult.refused(f"{delivery.channel.value} is not configured", permanent=True)
    if not delivery.address:
        return DeliveryResult.refused("no address", permanent=True)
    if delivery.channel is ChannelName.SMS and await opt_outs.opted_out(ctx, delivery.address):
        return DeliveryResult.refused(opt_outs.REFUSAL, permanent=True)
    secret = None
    if delivery.channel is ChannelName.WEBHOOK:
        subscription = await ctx.subscriptions.get(delivery.recipient)
        if subscription is None:
            return DeliveryResult.refused("subscription was deleted", permanent=True)
        secret = subscription.secret
    message = OutgoingMessage(
        delivery_id=delivery.id,
        to=delivery.address,
        to_name=delivery.to_name,
        subject=delivery.subject,
        text=delivery.text,
        language=delivery.language,
        created_at=delivery.created_at,
        secret=secret,
        html=delivery.html,
        attachments=delivery.attachments,
        in_reply_to=delivery.in_reply_to,
    )
    try:
        return await channel.send(message)
    except Exception as exc:  # a bug in a channel counts as a failed attempt, not a lost lease
        # no traceback: its frames and message may hold the address
        log.error("channel raised", extra={"delivery_id": delivery.id, "error": type(exc).__name__})
        return DeliveryResult.refused(f"{type(exc).__name__}: {exc}")


def send_soon(claimed: Sequence[Delivery], *, ctx: NotifyContext) -> None:
    """Send deliveries this replica claimed as it recorded them, in the background."""
    for delivery in claimed:
        ctx.dispatch.start(send_claimed(delivery, ctx=ctx))


async def send_claimed(delivery: Delivery, *, ctx: NotifyContext) -> DeliveryStatus | None:
    """Attempt a delivery claimed when it was recorded (None when it is left to the loop).

    One that waited so long for a free slot that its lease could run out mid-send is handed
    back unsent (due at once, for the loop of any replica), or, if even that fails, left
    for its lease to run out.
    """
    now = ctx.clock.now()
    if delivery.lease_until is None or now + ctx.delivery_lease / 2 > delivery.lease_until:
        log.warning(
            "claimed delivery waited too long; handed back to the dispatcher",
            extra={"concern_id": delivery.concern_id, "delivery_id": delivery.id},
        )
        with contextlib.suppress(PyMongoError):
            if await ctx.repo.hand_back(delivery.id, token=delivery.lease_token or "", now=now):
                ctx.dispatch.wake()
        return None
    return await attempt(delivery, ctx=ctx)


async def dispatch_due(*, ctx: NotifyContext) -> int:
    """Attempt every delivery due now, a batch at a time; returns how many were attempted."""
    total = 0
    while True:
        now = ctx.clock.now()
        claimed: list[Delivery] = []
        if not total:  # once a pass: deliveries whose sender is gone
            claimed += await ctx.repo.claim_abandoned(
                now=now, lease_until=now + ctx.delivery_lease, silent_for=ctx.delivery_lease
            )
        while len(claimed) < ctx.dispatch_batch:
            delivery = await ctx.repo.claim_due(now=now, lease_until=now + ctx.delivery_lease)
            if delivery is None:
                break
            claimed.append(delivery)
        if not claimed:
            return total
        await asyncio.gather(*(attempt(d, ctx=ctx) for d in claimed))
        total += len(claimed)
        if len(claimed) < ctx.dispatch_batch:
            return total


class DispatchLoop:
    """Runs `dispatch_due` every tick, and the sends `send_soon` starts, at most `concurrency`
    of those at a time."""

    def __init__(self, *, tick_s: float, concurrency: int, grace_s: float) -> None:
        self._tick_s = tick_s
        self._grace_s = grace_s
        self._slots = asyncio.Semaphore(concurrency)
        self._sending: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stop = False
        self.attempted = 0

    def wake(self) -> None:
        """Ask for a pass now."""
        self._wake.set()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()

    def start(self, send: Coroutine[Any, Any, object]) -> None:
        """Run one send in the background, once a slot is free; a failure is logged (the
        delivery's lease then runs out and a later pass attempts it again)."""

        async def limited() -> None:
            try:
                async with self._slots:
                    await send
            except Exception:
                log.warning(
                    "send failed; the delivery is retried once its lease expires", exc_info=True
                )

        def done(task: asyncio.Task[None]) -> None:
            self._sending.discard(task)
            send.close()  # a send cancelled before it began was never awaited

        task = asyncio.create_task(limited(), name="notify-send")
        self._sending.add(task)
        task.add_done_callback(done)

    async def settle(self) -> None:
        """Wait until every send started so far has finished."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    async def run(self, ctx: NotifyContext) -> None:
        """Pass after pass until stopped; a failed pass is logged and retried next tick. When
        cancelled (shutdown), sends in flight get `grace_s` to finish."""
        try:
            while not self._stop:
                self._wake.clear()
                try:
                    self.attempted += await dispatch_due(ctx=ctx)
                except Exception:
                    log.warning("dispatch pass failed; will retry next tick", exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._tick_s)
        finally:
            if self._sending:
                await asyncio.wait(self._sending, timeout=self._grace_s)
            self.abandon()

    def abandon(self) -> None:
        """Cancel the sends in flight, as a dying process would lose them: their leases run
        out and a later pass, of a peer or of the next start, attempts them."""
        for task in list(self._sending):
            task.cancel()
