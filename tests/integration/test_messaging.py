"""The consumer on the real broker and store: retries, parking, duplicates, ack after handling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect

from devtools.launcher import free_port, kill_process, start_secantus
from shared.clock import SystemClock
from shared.events import Channel, CloudEvent, ConcernSubmitted, encode, new_event
from shared.messaging.consumer import ATTEMPT_HEADER, ERROR_HEADER, idempotent
from shared.messaging.topology import retry_queue_names
from shared.metrics import fresh_exposition
from shared.runtime import Runtime
from shared.settings import ServiceSettings
from tests.conftest import Isolation, eventually, next_message

pytestmark = pytest.mark.integration

EVENT = "concern.submitted"
RETRY_DELAYS_MS = [100, 200]


def settings_for(
    isolation: Isolation, mongo_url: str, amqp_url: str, **overrides: Any
) -> ServiceSettings:
    """Settings of a throwaway service `svc` on this test's own names."""
    values: dict[str, Any] = {
        "service_name": "svc",
        "mongo_url": mongo_url,
        "mongo_db": isolation.db("svc"),
        "amqp_url": amqp_url,
        "queue_prefix": isolation.queue_prefix,
        "events_exchange": isolation.events_exchange,
        "private_exchange": isolation.private_exchange,
        "retry_delays_ms": RETRY_DELAYS_MS,
        "outbox_poll_s": 0.05,
        "shutdown_grace_s": 0.5,
        "io_timeout_s": 5.0,
    }
    return ServiceSettings(**{**values, **overrides})


def submitted_event(concern_id: str) -> CloudEvent:
    at = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    data = ConcernSubmitted(
        concern_id=concern_id,
        tracking_number=f"CS-2026-{concern_id}",
        channel=Channel.WEB,
        category="transportation",
        submitted_at=at,
        resolution_due_at=at + timedelta(hours=72),
    )
    return new_event(data, source="/bureau/test", subject=concern_id)


class Recorder:
    """A handler that records every attempt and fails as told."""

    def __init__(self, *, fail: Callable[[str, int], bool] = lambda concern_id, n: False) -> None:
        self._fail = fail
        self.attempts: dict[str, int] = {}
        self.handled: list[str] = []

    async def __call__(self, event: CloudEvent, data: ConcernSubmitted) -> None:
        attempt = self.attempts.get(data.concern_id, 0) + 1
        self.attempts[data.concern_id] = attempt
        if self._fail(data.concern_id, attempt):
            raise RuntimeError(f"boom for {data.concern_id} (attempt {attempt})")
        self.handled.append(event.id)


class Broker:
    """What the test does on the broker outside the runtime: publish, read the dead letters."""

    def __init__(
        self, channel: AbstractChannel, exchange: AbstractExchange, settings: ServiceSettings
    ) -> None:
        self.channel = channel
        self.exchange = exchange
        self.settings = settings

    async def publish(self, body: bytes, routing_key: str = EVENT) -> None:
        await self.exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=routing_key,
        )

    async def dead_letter(self, timeout_s: float = 5.0) -> AbstractIncomingMessage:
        """The next message parked in `svc.dlq` (fails the test if none arrives)."""
        queue = await self.channel.declare_queue(self.settings.queue("dlq"), passive=True)
        return await next_message(queue, timeout_s=timeout_s)

    async def dead_letter_count(self) -> int:
        return (await self.waiting())[self.settings.queue("dlq")]

    async def waiting(self) -> dict[str, int]:
        """Messages the broker holds now in each of `svc`'s queues (asked on the underlying
        channel: a robust channel answers a passive declare with its first count)."""
        raw = await self.channel.get_underlay_channel()
        names = [
            self.settings.queue("events"),
            *retry_queue_names(self.settings),
            self.settings.queue("dlq"),
        ]
        return {
            name: (await raw.queue_declare(name, passive=True)).message_count or 0 for name in names
        }


@pytest.fixture
async def broker(
    amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation, mongo_url: str, amqp_url: str
) -> AsyncIterator[Broker]:
    channel = await amqp.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange(
        isolation.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    yield Broker(channel, exchange, settings_for(isolation, mongo_url, amqp_url))
    await channel.close()


async def open_runtime(
    settings: ServiceSettings, handler: Callable[[CloudEvent, Any], Awaitable[None]]
) -> Runtime:
    runtime = await Runtime.open(settings, clock=SystemClock(), outbox_collections=[])
    try:
        await runtime.start_consuming({EVENT: handler})
    except BaseException:
        await runtime.close()
        raise
    return runtime


async def test_handler_that_fails_twice_is_retried_and_the_event_handled_once(
    broker: Broker, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    recorder = Recorder(fail=lambda concern_id, attempt: attempt <= 2)
    runtime = await open_runtime(broker.settings, recorder)
    try:
        event = submitted_event("c-flaky")
        await broker.publish(encode(event))

        await eventually(lambda: bool(recorder.handled), what="the third attempt to succeed")
        # Closed, the runtime holds nothing unacknowledged: a wrongly repeated delivery has
        # been handled already or waits in one of the service's queues.
        await runtime.close()

        assert recorder.attempts == {"c-flaky": 3}
        assert recorder.handled == [event.id]
        assert set((await broker.waiting()).values()) == {0}
        inbox = mongo[isolation.db("svc")]["inbox"]
        assert await inbox.count_documents({"_id": event.id}) == 1
    finally:
        await runtime.close()


async def test_always_failing_message_is_parked_with_its_error_and_does_not_block_others(
    broker: Broker, mongo: AsyncMongoClient
) -> None:
    recorder = Recorder(fail=lambda concern_id, attempt: concern_id == "c-poison")
    runtime = await open_runtime(broker.settings, recorder)
    try:
        poison, first, later = (submitted_event(c) for c in ("c-poison", "c-first", "c-later"))
        await broker.publish(encode(poison))
        await broker.publish(encode(first))

        # handled while the poison message is still going round its retries
        await eventually(lambda: first.id in recorder.handled, what="the event behind poison")
        parked = await broker.dead_letter()

        assert parked.body == encode(poison)
        headers = parked.headers or {}
        assert "RuntimeError: boom for c-poison (attempt 3)" in str(headers[ERROR_HEADER])
        assert headers[ATTEMPT_HEADER] == len(RETRY_DELAYS_MS)
        assert recorder.attempts["c-poison"] == 1 + len(RETRY_DELAYS_MS)

        await broker.publish(encode(later))
        await eventually(lambda: later.id in recorder.handled, what="an event after the parking")
        assert poison.id not in recorder.handled
        assert runtime.consumer is not None and runtime.consumer.parked == 1
    finally:
        await runtime.close()


async def test_message_parked_after_retries_keeps_its_original_routing_key_and_exchange(
    broker: Broker, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    # An operator replays parked messages by their original exchange and routing key.
    recorder = Recorder(fail=lambda concern_id, attempt: True)
    runtime = await open_runtime(broker.settings, recorder)
    try:
        await broker.publish(encode(submitted_event("c-poison")))

        headers = (await broker.dead_letter()).headers or {}

        assert headers["x-bureau-original-routing-key"] == EVENT
        assert headers["x-bureau-original-exchange"] == isolation.events_exchange
    finally:
        await runtime.close()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{this is not json", id="not-json"),
        pytest.param(
            encode(submitted_event("c-bad")).replace(b'"channel":"web"', b'"channel":"pigeon"'),
            id="data-breaks-the-contract",
        ),
    ],
)
async def test_malformed_body_is_parked_at_once_without_retries(
    broker: Broker, mongo: AsyncMongoClient, body: bytes
) -> None:
    assert body != encode(submitted_event("c-bad"))  # the replace above did change something
    recorder = Recorder()
    runtime = await open_runtime(broker.settings, recorder)
    try:
        await broker.publish(body)

        parked = await broker.dead_letter(timeout_s=2.0)

        assert parked.body == body
        headers = parked.headers or {}
        assert str(headers[ERROR_HEADER]).startswith("malformed event")
        assert headers[ATTEMPT_HEADER] == 0
        assert headers["x-bureau-original-routing-key"] == EVENT
        assert recorder.attempts == {}

        good = submitted_event("c-good")
        await broker.publish(encode(good))
        await eventually(lambda: good.id in recorder.handled, what="a good event after it")
    finally:
        await runtime.close()


async def test_same_event_delivered_twice_is_handled_once(
    broker: Broker, mongo: AsyncMongoClient, isolation: Isolation, mongo_url: str, amqp_url: str
) -> None:
    # prefetch 1: the duplicate is settled before the marker behind it is delivered
    settings = settings_for(isolation, mongo_url, amqp_url, prefetch=1)
    recorder = Recorder()
    runtime = await open_runtime(settings, recorder)
    try:
        event, marker = submitted_event("c-once"), submitted_event("c-marker")
        await broker.publish(encode(event))
        await eventually(lambda: event.id in recorder.handled, what="the first delivery")

        await broker.publish(encode(event))
        await broker.publish(encode(marker))
        await eventually(lambda: marker.id in recorder.handled, what="the marker event")

        assert recorder.handled == [event.id, marker.id]
        assert recorder.attempts == {"c-once": 1, "c-marker": 1}
        assert await broker.dead_letter_count() == 0
    finally:
        await runtime.close()


async def test_idempotent_handler_skips_the_inbox_and_sees_duplicates(
    broker: Broker, mongo: AsyncMongoClient, isolation: Isolation, mongo_url: str, amqp_url: str
) -> None:
    # a handler idempotent by nature costs no inbox round trips; a duplicate reaches it
    settings = settings_for(isolation, mongo_url, amqp_url, prefetch=1)
    recorder = Recorder()
    runtime = await open_runtime(settings, idempotent(recorder))
    try:
        event = submitted_event("c-natural")
        await broker.publish(encode(event))
        await broker.publish(encode(event))
        await eventually(lambda: recorder.attempts.get("c-natural") == 2, what="both copies")
        assert await mongo[isolation.db("svc")]["inbox"].count_documents({}) == 0
    finally:
        await runtime.close()


async def test_message_is_not_acked_until_the_handler_returns(
    broker: Broker, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def blocked(event: CloudEvent, data: ConcernSubmitted) -> None:
        started.set()
        await release.wait()  # stands for a write that never completes before shutdown
        finished.append(event.id)

    event = submitted_event("c-in-flight")
    first = await open_runtime(broker.settings, blocked)
    first_open = True
    second: Runtime | None = None
    try:
        await broker.publish(encode(event))
        await asyncio.wait_for(started.wait(), timeout=5)

        # the handler is still blocked past the shutdown grace: its message must not be acked
        first_open = False
        await first.close()

        recorder = Recorder()
        second = await open_runtime(broker.settings, recorder)
        await eventually(lambda: event.id in recorder.handled, what="the redelivery")

        assert finished == []
        assert recorder.attempts == {"c-in-flight": 1}
        inbox = mongo[isolation.db("svc")]["inbox"]
        assert await inbox.count_documents({"_id": event.id}) == 1
    finally:
        release.set()
        # close each runtime once: a second `close` waits forever (see the report)
        if first_open:
            await first.close()
        if second is not None:
            await second.close()


class BrokerLink:
    """A TCP relay between the runtime and RabbitMQ that the test can cut, as a broker outage."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self, upstream_port: int) -> int:
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
            self._writers += [writer, up_writer]
            for task in (
                asyncio.create_task(pipe(reader, up_writer)),
                asyncio.create_task(pipe(up_reader, writer)),
            ):
                self._pipes.add(task)
                task.add_done_callback(self._pipes.discard)

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)


async def test_runtime_closes_within_its_grace_when_the_broker_is_gone(
    broker: Broker, mongo: AsyncMongoClient, isolation: Isolation, mongo_url: str, amqp_url: str
) -> None:
    link = BrokerLink()
    upstream = urlparse(amqp_url)
    port = await link.start(upstream.port or 5672)
    via_link = upstream._replace(
        netloc=f"{upstream.username}:{upstream.password}@127.0.0.1:{port}"
    ).geturl()
    settings = settings_for(isolation, mongo_url, via_link, io_timeout_s=1.0)
    runtime = await open_runtime(settings, Recorder())
    closing: asyncio.Task[None] | None = None
    try:
        await link.cut()
        connection = runtime.connection
        assert connection is not None
        await eventually(
            lambda: not connection.connected.is_set(),
            what="the robust connection to notice the broker gone",
        )

        closing = asyncio.create_task(runtime.close())
        done, _ = await asyncio.wait({closing}, timeout=5.0)

        assert closing in done, "Runtime.close() still waiting 5 s after the broker went away"
    finally:
        if closing is not None and not closing.done():
            # free what the stuck close holds, so that later tests do not inherit it
            closing.cancel()
            await asyncio.gather(closing, return_exceptions=True)
            for task in runtime._tasks:
                task.cancel()
            await asyncio.gather(*runtime._tasks, return_exceptions=True)
            if runtime.connection is not None:
                await runtime.connection.close()
            await runtime.mongo.close()
        elif closing is None:
            await runtime.close()


async def test_transient_failure_is_retried_past_the_retry_budget_and_never_parked(
    broker: Broker, mongo: AsyncMongoClient
) -> None:
    # the store away for longer than every retry delay together: the event waits, it does
    # not park (overload and outages slow the bureau down; they do not need an operator)
    outage_attempts = len(RETRY_DELAYS_MS) + 3
    attempts: list[int] = []
    handled: list[str] = []

    async def store_away(event: CloudEvent, data: ConcernSubmitted) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) <= outage_attempts:
            raise AutoReconnect("connection refused")
        handled.append(event.id)

    runtime = await open_runtime(broker.settings, store_away)
    try:
        event = submitted_event("c-outage")
        await broker.publish(encode(event))

        await eventually(lambda: bool(handled), timeout_s=10, what="the end of the outage")

        assert handled == [event.id]
        assert len(attempts) == outage_attempts + 1
        assert await broker.dead_letter_count() == 0
    finally:
        await runtime.close()


async def test_message_that_keeps_coming_back_without_an_outcome_is_parked_unhandled(
    broker: Broker, mongo: AsyncMongoClient, isolation: Isolation, mongo_url: str, amqp_url: str
) -> None:
    # Each time a process crashed (or hung and was killed) holding it, the quorum queue
    # counted a delivery; past the limit the message is parked instead of crashing the next.
    settings = settings_for(isolation, mongo_url, amqp_url, message_delivery_limit=3)
    recorder = Recorder()
    await (await open_runtime(settings, recorder)).close()  # declares the service's queues
    event = submitted_event("c-crasher")
    await broker.publish(encode(event))
    queue = await broker.channel.declare_queue(settings.queue("events"), passive=True)
    for _ in range(3):  # three deliveries that ended without an ack, as a crash ends them
        message = await next_unacked(queue)
        await message.nack(requeue=True)

    runtime = await open_runtime(settings, recorder)
    try:
        parked = await broker.dead_letter()

        assert parked.body == encode(event)
        assert "delivered 3 times without an outcome" in str((parked.headers or {})[ERROR_HEADER])
        assert recorder.attempts == {}
    finally:
        await runtime.close()


async def next_unacked(queue: aio_pika.abc.AbstractQueue) -> AbstractIncomingMessage:
    """The next message on `queue`, left unacknowledged."""
    return await eventually(
        lambda: queue.get(no_ack=False, fail=False), what=f"a message on {queue.name}"
    )


def gauge(exposition: bytes, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in exposition.decode().splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{{{wanted}}}")


async def test_dead_letter_and_outbox_gauges_follow_the_broker_and_store_on_every_scrape(
    broker: Broker, mongo: AsyncMongoClient, isolation: Isolation, mongo_url: str, amqp_url: str
) -> None:
    settings = settings_for(isolation, mongo_url, amqp_url)
    runtime = await Runtime.open(settings, clock=SystemClock(), outbox_collections=["cases"])
    try:
        await runtime.start_consuming({EVENT: Recorder()})
        before, _ = await fresh_exposition()
        assert gauge(before, "bureau_queue_messages", queue="dlq", service="svc") == 0
        assert gauge(before, "bureau_outbox_backlog", service="svc") == 0

        await broker.publish(b"{poison")  # parked at once
        await eventually(
            lambda: runtime.consumer is not None and runtime.consumer.parked == 1,
            what="the poison message to park",
        )
        # pending events of a writer that is still fresh: no relay publishes them yet
        await mongo[isolation.db("svc")]["cases"].insert_one(
            {
                "_id": "c-1",
                "outbox": [{"id": "e-1", "by": "another-replica", "at": datetime.now(UTC)}],
            }
        )
        after, _ = await fresh_exposition()

        assert gauge(after, "bureau_queue_messages", queue="dlq", service="svc") == 1
        assert gauge(after, "bureau_outbox_backlog", service="svc") == 1
    finally:
        await runtime.close()


async def test_runtime_closes_within_its_grace_when_the_store_is_gone(
    broker: Broker, isolation: Isolation, amqp_url: str, tmp_path: Path
) -> None:
    port = free_port()
    store = start_secantus(port=port, storage_path=str(tmp_path), log_path=f"{tmp_path}/log")
    settings = settings_for(
        isolation,
        f"mongodb://127.0.0.1:{port}/?directConnection=true",
        amqp_url,
        io_timeout_s=1.0,
        shutdown_grace_s=1.0,
    )
    runtime = await Runtime.open(settings, clock=SystemClock(), outbox_collections=["cases"])
    try:
        await runtime.start_consuming({EVENT: Recorder()})
        kill_process(store)  # the outbox relay's last pass and the client's close now wait

        started = time.monotonic()
        await runtime.close()

        # the grace, one second for background work, then each disconnect within its timeout
        assert time.monotonic() - started < 1.0 + 1.0 + 2 * 1.0 + 1.0
    finally:
        kill_process(store)
