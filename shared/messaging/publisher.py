"""Publishing with publisher confirms: `publish` returns only once the broker has the message."""

from __future__ import annotations

import aio_pika

from shared.messaging.topology import Exchanges

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def event_message(
    body: bytes, *, event_id: str, event_type: str, headers: dict[str, object] | None = None
) -> aio_pika.Message:
    """A persistent AMQP message carrying one structured-mode CloudEvent."""
    return aio_pika.Message(
        body=body,
        content_type=STRUCTURED_CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event_id,
        type=event_type,
        headers=dict(headers or {}),  # type: ignore[arg-type]
    )


class Publisher:
    """Publishes encoded events to the exchange the catalogue names, awaiting the confirm."""

    def __init__(self, exchanges: Exchanges, *, timeout_s: float) -> None:
        self._exchanges = exchanges
        self._timeout_s = timeout_s

    async def publish(
        self, *, name: str, event_id: str, event_type: str, body: bytes, private: bool = False
    ) -> None:
        """`private`: a restricted copy of a routing event (shared.events.DUAL_EVENTS)."""
        exchange = self._exchanges.private if private else self._exchanges.for_event(name)
        await exchange.publish(
            event_message(body, event_id=event_id, event_type=event_type),
            routing_key=name,
            timeout=self._timeout_s,
        )
