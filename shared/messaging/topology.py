"""Declares the exchanges and a service's queues.

Topology of one service `svc`:
- `bureau.events` and `bureau.private`: durable topic exchanges, routing key = event name.
- `svc.events`: durable (quorum) queue bound to the event names the service handles; every
  replica of the service consumes it (competing consumers).
- `svc.retry.<n>`: one queue per retry delay; a message waits there for its TTL and is then
  dead-lettered back to `svc.events` through the default exchange.
- `svc.dlq`: where a message that failed every retry, or cannot be parsed, is parked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from shared.events import CATALOGUE, Exchange
from shared.settings import ServiceSettings


@dataclass(frozen=True)
class Exchanges:
    events: AbstractExchange
    private: AbstractExchange

    def for_event(self, event_name: str) -> AbstractExchange:
        """The exchange an event travels on, as the catalogue says."""
        return self.private if CATALOGUE[event_name].exchange is Exchange.PRIVATE else self.events


@dataclass(frozen=True)
class ServiceQueues:
    main: AbstractQueue
    retry: tuple[str, ...]
    dead_letter: str


def retry_queue_names(settings: ServiceSettings) -> tuple[str, ...]:
    return tuple(settings.queue(f"retry.{i}") for i in range(len(settings.retry_delays_ms)))


async def declare_exchanges(channel: AbstractChannel, settings: ServiceSettings) -> Exchanges:
    events = await channel.declare_exchange(
        settings.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    private = await channel.declare_exchange(
        settings.private_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    return Exchanges(events, private)


async def declare_service_queues(channel: AbstractChannel, settings: ServiceSettings,
                                 handled: Iterable[str]) -> ServiceQueues:
    """Declare this service's queues and bind the events it handles (idempotent)."""
    exchanges = await declare_exchanges(channel, settings)
    durable_args: dict[str, str] = {"x-queue-type": "quorum"} if settings.quorum_queues else {}
    main = await channel.declare_queue(settings.queue("events"), durable=True,
                                       arguments=durable_args)
    for name in sorted(set(handled)):
        await main.bind(exchanges.for_event(name), routing_key=name)
    retry_names = retry_queue_names(settings)
    for name, delay in zip(retry_names, settings.retry_delays_ms, strict=True):
        await channel.declare_queue(name, durable=True, arguments={
            "x-message-ttl": delay,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": settings.queue("events"),
        })
    dead_letter = settings.queue("dlq")
    await channel.declare_queue(dead_letter, durable=True, arguments=durable_args)
    return ServiceQueues(main, retry_names, dead_letter)
