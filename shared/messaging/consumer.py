"""A reliable consumer of `<service>.events`.

- acks a message only after its handler returned (its writes are durable by then);
- skips an event whose id the inbox already holds (redelivery, or a duplicate publish), unless
  its handler is marked `idempotent` (then a duplicate simply changes nothing);
- on a transient failure (store or broker away, a timeout, a peer's 503) sends the message
  through the retry queues, the last one over and over: capped backoff for as long as the
  fault lasts, never parked (overload slows the bureau down, it does not park work);
- on any other failure sends it to the next retry queue (TTL, then back to the main queue);
  after the last retry, or at once for a message that is not a valid CloudEvent, parks it in
  `<service>.dlq` with the error, so a poison message never blocks its queue;
- parks a message the broker delivered `delivery_limit` times without an outcome (each time
  the process crashed or hung on it: the quorum queue counts them in `x-delivery-count`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared import tracing
from shared.clock import Clock
from shared.events import CloudEvent, EventData, MalformedEvent, decode
from shared.inbox import Inbox
from shared.messaging.topology import ServiceQueues
from shared.messaging.transient import is_transient
from shared.metrics import EVENT_AGE, EVENT_HANDLING, EVENTS_CONSUMED, REDELIVERIES

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent, Any], Awaitable[None]]
"""An event handler: takes the envelope and its parsed data; raises to ask for a retry."""

IDEMPOTENT = "bureau_idempotent"


def idempotent(handler: Handler) -> Handler:
    """Mark a handler whose writes are idempotent by nature (an insert keyed by the event's
    facts, a conditional update naming the event id, ...): the consumer then skips the
    inbox, two store round trips per event, since handling a duplicate changes nothing."""
    setattr(handler, IDEMPOTENT, True)
    return handler


ATTEMPT_HEADER = "x-bureau-attempt"
TRANSIENT_HEADER = "x-bureau-transient-attempt"
DELIVERY_COUNT = "x-delivery-count"  # set by a quorum queue on each redelivery
ERROR_HEADER = "x-bureau-error"
ORIGINAL_ROUTING_KEY = "x-bureau-original-routing-key"
ORIGINAL_EXCHANGE = "x-bureau-original-exchange"
MAX_ERROR_CHARS = 1_000


class EventConsumer:
    """Consumes the service queue and dispatches each event to its handler by name."""

    def __init__(
        self,
        *,
        channel: AbstractChannel,
        queues: ServiceQueues,
        handlers: Mapping[str, Handler],
        inbox: Inbox,
        clock: Clock,
        handler_timeout_s: float,
        publish_timeout_s: float,
        service: str = "unknown",
        delivery_limit: int = 5,
    ) -> None:
        self._service = service
        self._delivery_limit = delivery_limit
        self._channel = channel
        self._queues = queues
        self._handlers = dict(handlers)
        self._inbox = inbox
        self._clock = clock
        self._handler_timeout_s = handler_timeout_s
        self._publish_timeout_s = publish_timeout_s
        self._tag: str | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self.handled = 0
        self.failed = 0
        self.parked = 0

    async def start(self) -> None:
        queue = self._queues.main
        self._tag = await queue.consume(self._on_message, no_ack=False)
        log.info("consuming", extra={"queue": queue.name, "events": sorted(self._handlers)})

    async def stop(self, grace_s: float) -> None:
        """Stop taking messages, then wait for those in flight (unacked ones are redelivered)."""
        queue = self._queues.main
        tag, self._tag = self._tag, None
        if tag is not None:
            try:  # a robust channel would wait for the broker to return before cancelling
                await asyncio.wait_for(queue.cancel(tag), timeout=grace_s)
            except Exception:  # broker gone: unacked messages return to the queue anyway
                log.warning("could not cancel consumer", exc_info=True)
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=grace_s)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._process(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        try:
            event = decode(message.body)
        except MalformedEvent as exc:
            await self._park(message, f"malformed event: {exc}")
            EVENTS_CONSUMED.labels(self._service, "malformed", "parked").inc()
            return
        handler = self._handlers.get(event.name)
        fields = {"event_id": event.id, "event": event.name, "concern_id": event.subject}
        if message.redelivered:
            REDELIVERIES.labels(self._service, event.name).inc()
        deliveries = _int_header(message, DELIVERY_COUNT)
        if deliveries >= self._delivery_limit:
            log.error(
                "event delivered again and again without an outcome; parked",
                extra={**fields, "deliveries": deliveries},
            )
            await self._park(
                message,
                f"delivered {deliveries} times without an outcome: the "
                "process crashed or hung handling it",
            )
            EVENTS_CONSUMED.labels(self._service, event.name, "parked").inc()
            return
        if handler is None:
            log.warning("no handler for event; dropped", extra=fields)
            await message.ack()
            EVENTS_CONSUMED.labels(self._service, event.name, "dropped").inc()
            return
        use_inbox = not getattr(handler, IDEMPOTENT, False)
        started = time.perf_counter()
        try:
            if use_inbox and await self._inbox.seen(event.id):
                log.info("duplicate event skipped", extra=fields)
                await message.ack()
                EVENTS_CONSUMED.labels(self._service, event.name, "duplicate").inc()
                return
            data: EventData = event.parsed()
            with tracing.handling(
                event.traceparent,
                name=f"handle {event.name}",
                service=self._service,
                attributes={
                    "cloudevents.event_id": event.id,
                    "cloudevents.event_subject": event.subject or "",
                },
            ):
                await asyncio.wait_for(handler(event, data), timeout=self._handler_timeout_s)
            if use_inbox:
                await self._inbox.record(event.id, event.name, self._clock.now())
        except Exception as exc:
            self.failed += 1
            outcome = await self._retry_or_park(message, exc, fields)
            EVENTS_CONSUMED.labels(self._service, event.name, outcome).inc()
            return
        await message.ack()
        self.handled += 1
        EVENTS_CONSUMED.labels(self._service, event.name, "handled").inc()
        EVENT_HANDLING.labels(self._service, event.name).observe(time.perf_counter() - started)
        EVENT_AGE.labels(self._service, event.name).observe(
            max(0.0, (self._clock.now() - event.time).total_seconds())
        )
        log.info("event handled", extra=fields)

    async def _retry_or_park(
        self, message: AbstractIncomingMessage, exc: Exception, fields: dict[str, Any]
    ) -> str:
        """Send a failed message to its next retry queue, or park it; returns which."""
        attempt = _int_header(message, ATTEMPT_HEADER)
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        retries = self._queues.retry
        if is_transient(exc):
            waits = _int_header(message, TRANSIENT_HEADER)
            log.warning(
                "event met a transient fault; will retry",
                extra={**fields, "transient_attempt": waits + 1, "error": error},
            )
            await self._send_to(
                retries[min(waits, len(retries) - 1)],
                message,
                {TRANSIENT_HEADER: waits + 1, ERROR_HEADER: error, **_origin(message)},
            )
            await message.ack()
            return "retried"
        if attempt >= len(retries):
            log.error("event failed every retry; parked", extra={**fields, "error": error})
            await self._park(message, error, attempt)
            return "parked"
        log.warning(
            "event failed; will retry", extra={**fields, "attempt": attempt + 1, "error": error}
        )
        await self._send_to(
            retries[attempt],
            message,
            {ATTEMPT_HEADER: attempt + 1, ERROR_HEADER: error, **_origin(message)},
        )
        await message.ack()
        return "retried"

    async def _park(self, message: AbstractIncomingMessage, error: str, attempts: int = 0) -> None:
        await self._send_to(
            self._queues.dead_letter,
            message,
            {
                ERROR_HEADER: error[:MAX_ERROR_CHARS],
                ATTEMPT_HEADER: attempts,
                **_origin(message),
            },
        )
        await message.ack()
        self.parked += 1

    async def _send_to(
        self, queue_name: str, message: AbstractIncomingMessage, headers: dict[str, Any]
    ) -> None:
        copy = aio_pika.Message(
            body=message.body,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            type=message.type,
            headers={
                **{k: v for k, v in (message.headers or {}).items() if k != DELIVERY_COUNT},
                **headers,
            },
        )
        await self._channel.default_exchange.publish(
            copy, routing_key=queue_name, timeout=self._publish_timeout_s
        )


def _int_header(message: AbstractIncomingMessage, name: str) -> int:
    value = (message.headers or {}).get(name, 0)
    return value if isinstance(value, int) else 0


def _origin(message: AbstractIncomingMessage) -> dict[str, str]:
    """Where the event was first published; a retried copy arrives via the default exchange."""
    headers = message.headers or {}
    return {
        ORIGINAL_ROUTING_KEY: str(headers.get(ORIGINAL_ROUTING_KEY) or message.routing_key or ""),
        ORIGINAL_EXCHANGE: str(headers.get(ORIGINAL_EXCHANGE) or message.exchange or ""),
    }
