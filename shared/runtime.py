"""The I/O a service runs on: its store, the broker, the outbox relay, the consumer.

`Runtime.open` waits (with progress in the log) until the store and the broker answer, so a
service started before them comes up when they do; a transient fault (a store slow to answer,
a broker restarting) never ends the start, only a deterministic one does. `close` drains
in-flight work first, within `SHUTDOWN_GRACE_S` whatever the store or the broker do.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    Exchanges,
    declare_bureau_queues,
    declare_exchanges,
    declare_service_queues,
    retry_queue_names,
)
from shared.messaging.transient import is_transient
from shared.metrics import OUTBOX_BACKLOG, QUEUE_MESSAGES, refresh_on_scrape, unregister_refresh
from shared.outbox import OutboxRelay, ensure_outbox_index
from shared.settings import ServiceSettings
from shared.store import Document, connect_store, ping

log = logging.getLogger(__name__)

T = TypeVar("T")
STARTUP_WAIT_S = 120.0
"""How long a deterministic fault (wrong address, refused credentials) may last at start."""
MAX_STARTUP_PAUSE_S = 5.0

waiting_for: dict[str, str] = {}
"""What the start of this process waits for (`/readyz` tells), by step: the last error."""


async def wait_until_up(
    what: str, attempt: Callable[[], Awaitable[T]], deadline_s: float = STARTUP_WAIT_S
) -> T:
    """Retry `attempt` with capped backoff until it succeeds: for as long as its failures
    are transient (timeouts, connection refused or lost), else until `deadline_s` passes."""
    started = time.monotonic()
    delay = 0.25
    while True:
        try:
            result = await attempt()
        except Exception as exc:
            waited = time.monotonic() - started
            if waited > deadline_s and not is_transient(exc):
                waiting_for.pop(what, None)
                raise RuntimeError(f"{what} unreachable after {waited:.0f}s: {exc}") from exc
            waiting_for[what] = type(exc).__name__
            log.warning(
                "waiting for %s", what, extra={"waited_s": round(waited, 1), "error": str(exc)}
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_STARTUP_PAUSE_S)
        else:
            waiting_for.pop(what, None)
            return result


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
        self._samplers: list[Callable[[], Awaitable[None]]] = []
        self._closed = False

    @classmethod
    async def open(
        cls, settings: ServiceSettings, *, clock: Clock, outbox_collections: Sequence[str]
    ) -> Runtime:
        """Connect to store and broker, declare the topology, start the outbox relay."""
        runtime = cls(settings, clock)
        collections = [runtime.db[name] for name in outbox_collections]

        async def store_ready() -> None:
            await ping(runtime.db)
            await runtime.inbox.ensure_indexes()
            for collection in collections:
                await ensure_outbox_index(collection)

        await wait_until_up("store", store_ready)
        exchanges = await wait_until_up("broker", runtime._open_broker)
        publisher = Publisher(exchanges, timeout_s=settings.io_timeout_s)
        runtime.relay = OutboxRelay(
            collections=collections,
            sink=publisher,
            clock=clock,
            lease_s=settings.outbox_lease_s,
            poll_s=settings.outbox_poll_s,
            service=settings.service_name,
        )
        # kept apart from other background work: it must outlive it, for a last pass
        runtime._relay_task = asyncio.create_task(runtime.relay.run(), name="outbox-relay")
        refresh_on_scrape(runtime.sample_queues)
        refresh_on_scrape(runtime.sample_backlog)
        log.info(
            "runtime open", extra={"database": settings.database, "queue": settings.queue("events")}
        )
        return runtime

    async def _open_broker(self) -> Exchanges:
        """Connect, open the channels, declare the topology; all or nothing (the broker may
        go away half way: the next attempt starts afresh)."""
        settings = self.settings
        connection = await aio_pika.connect_robust(
            settings.amqp_url,
            timeout=settings.io_timeout_s,
            reconnect_interval=settings.reconnect_interval_s,
            client_properties={"connection_name": settings.source},
        )
        try:
            channel = await connection.channel(publisher_confirms=True)
            consume_channel = await connection.channel(publisher_confirms=True)
            await consume_channel.set_qos(prefetch_count=settings.prefetch)
            exchanges = await declare_exchanges(channel, settings)
            await declare_bureau_queues(channel, settings, exchanges)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=settings.io_timeout_s)
            raise
        self.connection = connection
        self.channel = channel  # type: ignore[assignment]
        self.consume_channel = consume_channel  # type: ignore[assignment]
        return exchanges

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
        if self.consume_channel is None:
            raise RuntimeError("start_consuming before the runtime opened its broker channels")
        queues = await declare_service_queues(self.consume_channel, self.settings, handlers)
        self.consumer = EventConsumer(
            channel=self.consume_channel,
            queues=queues,
            handlers=handlers,
            inbox=self.inbox,
            clock=self.clock,
            handler_timeout_s=self.settings.handler_timeout_s,
            publish_timeout_s=self.settings.io_timeout_s,
            service=self.settings.service_name,
            delivery_limit=self.settings.message_delivery_limit,
        )
        await self.consumer.start()

    def sample_on_scrape(self, sample: Callable[[], Awaitable[None]]) -> None:
        """Have `sample` set the service's own gauges on every scrape while the runtime is
        open (read at their source, each apart, as the runtime's own are)."""
        self._samplers.append(sample)
        refresh_on_scrape(sample)

    def _gauge_refreshers(self) -> list[Callable[[], Awaitable[None]]]:
        return [self.sample_queues, self.sample_backlog, *self._samplers]

    async def sample_backlog(self) -> None:
        """The outbox backlog, as the store has it now."""
        if self.relay is not None:
            OUTBOX_BACKLOG.labels(self.settings.service_name).set(await self.relay.backlog())

    async def sample_queues(self) -> None:
        """Queue depth (consumer lag), the events waiting to be retried and the dead letters,
        as the broker has them now: asked apart from the store, so that a store away or slow
        never freezes them. On a channel of their own: a robust channel answers a passive
        declare from its cache, with the count of the first one."""
        if self.connection is None or self.consumer is None:
            return
        settings, service = self.settings, self.settings.service_name
        channel = await self.connection.channel(publisher_confirms=False)
        try:
            raw = await channel.get_underlay_channel()

            async def waiting(queue: str) -> int:
                return (await raw.queue_declare(queue, passive=True)).message_count or 0

            QUEUE_MESSAGES.labels(service, "events").set(await waiting(settings.queue("events")))
            retrying = [await waiting(queue) for queue in retry_queue_names(settings)]
            QUEUE_MESSAGES.labels(service, "retry").set(sum(retrying))
            QUEUE_MESSAGES.labels(service, "dlq").set(await waiting(settings.queue("dlq")))
        finally:
            await channel.close()

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
        """Drain in-flight events, stop background work, publish what is pending, disconnect;
        within `SHUTDOWN_GRACE_S` (plus the time to disconnect), whatever the store does:
        what is not done by then is redelivered (unacked messages) or published by the next
        relay (pending outbox entries)."""
        if self._closed:
            return
        self._closed = True
        for refresh in self._gauge_refreshers():
            unregister_refresh(refresh)
        grace = self.settings.shutdown_grace_s
        try:
            await asyncio.wait_for(self._drain(grace), timeout=grace)
        except TimeoutError:
            log.warning(
                "shutdown grace over; leaving the rest to redelivery", extra={"grace_s": grace}
            )
        background = [*self._tasks, *([self._relay_task] if self._relay_task else [])]
        for task in background:
            task.cancel()
        if background:
            await asyncio.wait(background, timeout=1.0)
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.connection.close(), timeout=self.settings.io_timeout_s)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.mongo.close(), timeout=self.settings.io_timeout_s)
        log.info("runtime closed")

    async def _drain(self, grace: float) -> None:
        if self.consumer is not None:
            await self.consumer.stop(grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.relay is not None:
            await self.relay.stop()


class NotReady(RuntimeError):
    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems
