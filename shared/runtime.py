"""The I/O a service runs on: its store, the broker, the outbox relay, the consumer.

`Runtime.open` waits (with progress in the log) until the store and the broker answer, so a
service started before them comes up when they do. `close` drains in-flight work first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.clock import Clock
from shared.inbox import Inbox
from shared.messaging.consumer import EventConsumer, Handler
from shared.messaging.publisher import Publisher
from shared.messaging.topology import (
    declare_bureau_queues,
    declare_exchanges,
    declare_service_queues,
)
from shared.metrics import OUTBOX_BACKLOG, QUEUE_MESSAGES
from shared.outbox import OutboxRelay, ensure_outbox_index
from shared.settings import ServiceSettings
from shared.store import Document, connect_store, ping

log = logging.getLogger(__name__)

T = TypeVar("T")
STARTUP_WAIT_S = 120.0
GAUGE_INTERVAL_S = 5.0


async def wait_until_up(what: str, attempt: Callable[[], Awaitable[T]],
                        deadline_s: float = STARTUP_WAIT_S) -> T:
    """Retry `attempt` with backoff until it succeeds or the deadline passes."""
    started = time.monotonic()
    delay = 0.25
    while True:
        try:
            return await attempt()
        except Exception as exc:
            waited = time.monotonic() - started
            if waited > deadline_s:
                raise RuntimeError(f"{what} unreachable after {waited:.0f}s: {exc}") from exc
            log.warning("waiting for %s", what, extra={"waited_s": round(waited, 1),
                                                        "error": str(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class Runtime:
    """Connections and background work of one service process."""

    def __init__(self, settings: ServiceSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.mongo: AsyncMongoClient[Document] = connect_store(settings)
        self.db: AsyncDatabase[Document] = self.mongo[settings.database]
        self.inbox = Inbox(self.db)
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractRobustChannel | None = None
        self.consume_channel: AbstractRobustChannel | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: EventConsumer | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._relay_task: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(cls, settings: ServiceSettings, *, clock: Clock,
                   outbox_collections: Sequence[str]) -> Runtime:
        """Connect to store and broker, declare the topology, start the outbox relay."""
        runtime = cls(settings, clock)
        await wait_until_up("store", lambda: ping(runtime.db))
        await runtime.inbox.ensure_indexes()
        collections = [runtime.db[name] for name in outbox_collections]
        for collection in collections:
            await ensure_outbox_index(collection)
        runtime.connection = await wait_until_up(
            "broker", lambda: aio_pika.connect_robust(
                settings.amqp_url, timeout=settings.io_timeout_s,
                reconnect_interval=settings.reconnect_interval_s,
                client_properties={"connection_name": settings.source}))
        runtime.channel = await runtime.connection.channel(publisher_confirms=True)  # type: ignore[assignment]
        runtime.consume_channel = await runtime.connection.channel(publisher_confirms=True)  # type: ignore[assignment]
        assert runtime.channel is not None and runtime.consume_channel is not None
        await runtime.consume_channel.set_qos(prefetch_count=settings.prefetch)
        exchanges = await declare_exchanges(runtime.channel, settings)
        await declare_bureau_queues(runtime.channel, settings, exchanges)
        publisher = Publisher(exchanges, timeout_s=settings.io_timeout_s)
        runtime.relay = OutboxRelay(collections=collections, sink=publisher, clock=clock,
                                    lease_s=settings.outbox_lease_s, poll_s=settings.outbox_poll_s,
                                    service=settings.service_name)
        # kept apart from other background work: it must outlive it, for a last pass
        runtime._relay_task = asyncio.create_task(runtime.relay.run(), name="outbox-relay")
        runtime.spawn(runtime._sample_gauges(), "metrics-gauges")
        log.info("runtime open", extra={"database": settings.database,
                                        "queue": settings.queue("events")})
        return runtime

    def spawn(self, work: Awaitable[Any], name: str) -> None:
        """Run background work until `close`."""
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task crashed", extra={"task": name})

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def start_consuming(self, handlers: Mapping[str, Handler]) -> None:
        """Declare this service's queues, bound to the handled events, and consume them."""
        assert self.consume_channel is not None
        queues = await declare_service_queues(self.consume_channel, self.settings, handlers)
        self.consumer = EventConsumer(
            channel=self.consume_channel, queues=queues, handlers=handlers,
            inbox=self.inbox, clock=self.clock,
            handler_timeout_s=self.settings.handler_timeout_s,
            publish_timeout_s=self.settings.io_timeout_s, service=self.settings.service_name,
        )
        await self.consumer.start()

    async def _sample_gauges(self) -> None:
        """Every few seconds: outbox backlog, queue depth (consumer lag) and dead letters."""
        service = self.settings.service_name
        while True:
            try:
                if self.relay is not None:
                    OUTBOX_BACKLOG.labels(service).set(await self.relay.backlog())
                if self.channel is not None and self.consumer is not None:
                    for suffix in ("events", "dlq"):
                        queue = await self.channel.declare_queue(self.settings.queue(suffix),
                                                                 passive=True)
                        count = queue.declaration_result.message_count or 0
                        QUEUE_MESSAGES.labels(service, suffix).set(count)
            except Exception as exc:  # a gauge may go stale; the service must not
                log.debug("could not sample gauges", extra={"error": str(exc)})
            await asyncio.sleep(GAUGE_INTERVAL_S)

    def wake_relay(self, collection: str | None = None) -> None:
        """After a write that added outbox events: to `collection`, or any."""
        if self.relay is not None:
            self.relay.wake(collection)

    async def check_ready(self) -> dict[str, str]:
        """What `/readyz` reports; raises `NotReady` when store or broker is unreachable."""
        problems: dict[str, str] = {}
        try:
            await asyncio.wait_for(ping(self.db), timeout=self.settings.io_timeout_s)
        except Exception as exc:
            problems["store"] = type(exc).__name__
        connection = self.connection
        if connection is None or connection.is_closed or not connection.connected.is_set():
            problems["broker"] = "disconnected"
        if problems:
            raise NotReady(problems)
        return {"store": "ok", "broker": "ok"}

    async def close(self) -> None:
        """Drain in-flight events, stop background work, publish what is pending, disconnect."""
        if self._closed:
            return
        self._closed = True
        grace = self.settings.shutdown_grace_s
        if self.consumer is not None:
            await self.consumer.stop(grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.relay is not None:
            await self.relay.stop()
        if self._relay_task is not None:
            self._relay_task.cancel()
            await asyncio.gather(self._relay_task, return_exceptions=True)
        if self.connection is not None:
            await self.connection.close()
        await self.mongo.close()
        log.info("runtime closed")


class NotReady(RuntimeError):
    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems
