"""Inspecting and replaying the messages a service parked in `<service>.dlq`.

A parked message keeps its body and headers: the error (`x-bureau-error`), the attempts, and
where it was first published (`x-bureau-original-exchange` / `-routing-key`). Replay sends it
back to the service's own queue (`<service>.events`), not to the exchange, so that only the
service that failed sees it again; it leaves the dead-letter queue only after the broker
confirmed the replay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared.messaging.consumer import (
    ATTEMPT_HEADER,
    DELIVERY_COUNT,
    ERROR_HEADER,
    ORIGINAL_EXCHANGE,
    ORIGINAL_ROUTING_KEY,
    TRANSIENT_HEADER,
)

BUREAU_HEADERS = (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    ORIGINAL_EXCHANGE,
    ORIGINAL_ROUTING_KEY,
    TRANSIENT_HEADER,
    DELIVERY_COUNT,
)


@dataclass(frozen=True)
class ParkedMessage:
    """One message in a dead-letter queue, as an operator sees it."""

    position: int
    message_id: str | None
    event_type: str | None
    subject: str | None
    error: str
    attempts: int
    original_exchange: str
    original_routing_key: str
    body: bytes

    def summary(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "message_id": self.message_id,
            "type": self.event_type,
            "subject": self.subject,
            "error": self.error,
            "attempts": self.attempts,
            "exchange": self.original_exchange,
            "routing_key": self.original_routing_key,
        }


def _parked(position: int, message: AbstractIncomingMessage) -> ParkedMessage:
    headers = message.headers or {}
    subject = None
    try:
        subject = json.loads(message.body).get("subject")
    except (ValueError, AttributeError):
        pass  # a malformed body is exactly what may be parked
    attempts = headers.get(ATTEMPT_HEADER, 0)
    return ParkedMessage(
        position=position,
        message_id=message.message_id,
        event_type=message.type,
        subject=subject if isinstance(subject, str) else None,
        error=str(headers.get(ERROR_HEADER, "")),
        attempts=attempts if isinstance(attempts, int) else 0,
        original_exchange=str(headers.get(ORIGINAL_EXCHANGE, "")),
        original_routing_key=str(headers.get(ORIGINAL_ROUTING_KEY, "")),
        body=message.body,
    )


async def list_parked(
    channel: AbstractChannel, queue_name: str, limit: int = 100
) -> list[ParkedMessage]:
    """The first `limit` parked messages; they stay in the queue (fetched, then returned)."""
    queue = await channel.declare_queue(queue_name, passive=True)
    fetched: list[AbstractIncomingMessage] = []
    try:
        while len(fetched) < limit:
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            fetched.append(message)
        return [_parked(i, m) for i, m in enumerate(fetched)]
    finally:
        for message in fetched:
            await message.nack(requeue=True)


async def replay_parked(
    channel: AbstractChannel,
    queue_name: str,
    target_queue: str,
    *,
    message_id: str | None = None,
    limit: int = 1000,
) -> int:
    """Send parked messages (all, or the one with `message_id`) back to `target_queue` with a
    fresh attempt count; returns how many were replayed."""
    queue = await channel.declare_queue(queue_name, passive=True)
    replayed = 0
    skipped: list[AbstractIncomingMessage] = []
    try:
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            if message_id is not None and message.message_id != message_id:
                skipped.append(message)
                continue
            headers = {k: v for k, v in (message.headers or {}).items() if k not in BUREAU_HEADERS}
            copy = aio_pika.Message(
                body=message.body,
                content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message.message_id,
                type=message.type,
                headers=headers,
            )
            await channel.default_exchange.publish(copy, routing_key=target_queue)
            await message.ack()
            replayed += 1
    finally:
        for message in skipped:
            await message.nack(requeue=True)
    return replayed


async def purge_parked(channel: AbstractChannel, queue_name: str) -> int:
    """Drop every parked message; returns how many there were."""
    queue = await channel.declare_queue(queue_name, passive=True)
    result = await queue.purge()
    return int(result.message_count or 0)
