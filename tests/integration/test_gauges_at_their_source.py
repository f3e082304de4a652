"""True gauges (issue 14): the queues are read from the broker on every scrape, apart from the
store (shared/runtime.py `sample_queues`): a store away or slower than the scrape's time limit
never freezes them, and the events waiting to be retried (a peer, the store or a handler that
keeps failing) are counted as well as the dead letters, for `/metrics`, `bureau health` and the
alert rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import aio_pika
import pytest

from devtools.launcher import free_port, kill_process, start_secantus
from shared.clock import SystemClock
from shared.events import encode
from shared.messaging.transient import TransientError
from shared.metrics import fresh_exposition
from shared.runtime import Runtime
from tests.conftest import Isolation, eventually
from tests.integration.test_messaging import (
    EVENT,
    Broker,
    Recorder,
    gauge,
    settings_for,
    submitted_event,
)

pytestmark = pytest.mark.integration


async def test_a_message_parked_while_the_store_is_away_shows_on_the_next_scrape(
    amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation, amqp_url: str, tmp_path: Path
) -> None:
    port = free_port()
    store = start_secantus(port=port, storage_path=str(tmp_path), log_path=f"{tmp_path}/log")
    settings = settings_for(
        isolation, f"mongodb://127.0.0.1:{port}/?directConnection=true", amqp_url, io_timeout_s=1.0
    )
    runtime = await Runtime.open(settings, clock=SystemClock(), outbox_collections=["cases"])
    channel = await amqp.channel(publisher_confirms=True)
    try:
        await runtime.start_consuming({EVENT: Recorder()})
        before, _ = await fresh_exposition()
        assert gauge(before, "bureau_queue_messages", queue="dlq", service="svc") == 0

        kill_process(store)
        exchange = await channel.get_exchange(isolation.events_exchange)
        await exchange.publish(aio_pika.Message(b"{poison"), routing_key=EVENT)  # parked at once
        await eventually(
            lambda: runtime.consumer is not None and runtime.consumer.parked == 1,
            what="the poison message to park (the consumer needs no store for it)",
        )
        after, _ = await fresh_exposition()

        assert gauge(after, "bureau_queue_messages", queue="dlq", service="svc") == 1
    finally:
        await channel.close()
        await runtime.close()
        kill_process(store)


class PeerAway(Recorder):
    """A handler whose peer is never ready: every event it takes waits to be retried."""

    async def __call__(self, *args: object) -> None:
        raise TransientError("peer not ready")


async def test_events_waiting_to_be_retried_show_on_the_next_scrape(
    amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation, mongo_url: str, amqp_url: str
) -> None:
    # the first retry waits a minute: the event sits in the retry queue while the test looks
    settings = settings_for(isolation, mongo_url, amqp_url, retry_delays_ms=[60_000])
    runtime = await Runtime.open(settings, clock=SystemClock(), outbox_collections=["cases"])
    channel = await amqp.channel(publisher_confirms=True)
    try:
        handler = PeerAway()
        await runtime.start_consuming({EVENT: handler})
        before, _ = await fresh_exposition()
        assert gauge(before, "bureau_queue_messages", queue="retry", service="svc") == 0

        exchange = await channel.get_exchange(isolation.events_exchange)
        broker = Broker(channel, exchange, settings)
        await broker.publish(encode(submitted_event("c-1")))
        await eventually(
            lambda: runtime.consumer is not None and runtime.consumer.failed == 1,
            what="the event to fail once, transiently",
        )

        async def retrying() -> float:
            exposition, _ = await fresh_exposition()
            return gauge(exposition, "bureau_queue_messages", queue="retry", service="svc")

        assert await eventually(lambda: _at_least_one(retrying), what="the retry gauge") == 1
        after, _ = await fresh_exposition()
        assert gauge(after, "bureau_queue_messages", queue="dlq", service="svc") == 0
    finally:
        await channel.close()
        await runtime.close()


async def _at_least_one(read: Callable[[], Awaitable[float]]) -> float | None:
    value = await read()
    return value if value >= 1 else None
