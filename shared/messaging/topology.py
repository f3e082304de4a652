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

import functools
import importlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue
from aiormq.abc import FieldTable

from shared.events import CATALOGUE, DUAL_EVENTS, Exchange
from shared.settings import ServiceSettings

if TYPE_CHECKING:
    from shared.messaging.handler_table import HandlerTable

log = logging.getLogger(__name__)

BUREAU_SERVICES = ("intake", "triage", "escalation", "notify")


@functools.cache
def subscriptions() -> Mapping[str, frozenset[str]]:
    """Which events each bureau service consumes: the keys of its handler table (`HANDLERS`
    in services/<name>/handlers.py). Every service declares all four queues with these
    bindings at startup, so an event published before its consumer first started (a fresh
    deployment, services started in any order) waits in the consumer's queue instead of being
    dropped as unroutable. The tables are imported when first asked for: shared/ does not
    import services/ when it is loaded."""
    tables: dict[str, HandlerTable] = {
        service: importlib.import_module(f"services.{service}.handlers").HANDLERS
        for service in BUREAU_SERVICES
    }
    return {service: table.events for service, table in tables.items()}


# Services that read the public copy of a routing event beside the full one (DUAL_EVENTS).
PUBLIC_COPY_READERS = frozenset({"notify"})


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


def _durable_args(settings: ServiceSettings) -> FieldTable:
    return {"x-queue-type": "quorum"} if settings.quorum_queues else {}


async def _declare_main_queue(
    channel: AbstractChannel,
    settings: ServiceSettings,
    exchanges: Exchanges,
    service: str,
    handled: Iterable[str],
) -> AbstractQueue:
    queue = await channel.declare_queue(
        settings.queue("events", service), durable=True, arguments=_durable_args(settings)
    )
    for name in sorted(set(handled)):
        if name in DUAL_EVENTS:
            # bureau services read the full (restricted) copy of a routing event; only notify
            # also reads the public copy, to forward it to webhook subscribers
            await queue.bind(exchanges.private, routing_key=name)
            if service in PUBLIC_COPY_READERS:
                await queue.bind(exchanges.events, routing_key=name)
            else:  # a binding of an earlier version
                await queue.unbind(exchanges.events, routing_key=name)
        else:
            await queue.bind(exchanges.for_event(name), routing_key=name)
    return queue


async def declare_bureau_queues(
    channel: AbstractChannel, settings: ServiceSettings, exchanges: Exchanges
) -> None:
    """Declare every bureau service's main queue with its bindings (idempotent)."""
    for service, handled in subscriptions().items():
        await _declare_main_queue(channel, settings, exchanges, service, handled)


async def declare_service_queues(
    channel: AbstractChannel, settings: ServiceSettings, handled: Iterable[str]
) -> ServiceQueues:
    """Declare this service's queues and bind the events it handles (idempotent)."""
    handled = set(handled)
    expected = subscriptions().get(settings.service_name)
    if expected is not None and handled != expected:
        # Still works (this declaration binds what the service handles), but events published
        # before its first start would not have waited for it.
        log.warning(
            "service handlers differ from its handler table",
            extra={
                "service": settings.service_name,
                "handled": sorted(handled),
                "table": sorted(expected),
            },
        )
    exchanges = await declare_exchanges(channel, settings)
    main = await _declare_main_queue(channel, settings, exchanges, settings.service_name, handled)
    retry_names = retry_queue_names(settings)
    for name, delay in zip(retry_names, settings.retry_delays_ms, strict=True):
        await channel.declare_queue(
            name,
            durable=True,
            arguments={
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": settings.queue("events"),
            },
        )
    dead_letter = settings.queue("dlq")
    await channel.declare_queue(dead_letter, durable=True, arguments=_durable_args(settings))
    return ServiceQueues(main, retry_names, dead_letter)
