"""The outbox relay on the real store and, once, the real broker: nothing lost, no repeats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from shared.clock import FakeClock, SystemClock
from shared.events import (
    Channel,
    CloudEvent,
    ConcernContactShared,
    ConcernStatus,
    ConcernStatusChanged,
    ConcernSubmitted,
    RequesterContact,
    encode,
    new_event,
)
from shared.messaging.publisher import Publisher
from shared.messaging.topology import declare_exchanges
from shared.outbox import (
    FIELD,
    OutboxPublishFailed,
    OutboxRelay,
    ensure_outbox_index,
    outbox_push,
    with_outbox,
)
from shared.settings import ServiceSettings
from shared.store import Document
from tests.conftest import Isolation, eventually, next_message, store_operations

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def submitted(concern_id: str) -> CloudEvent:
    data = ConcernSubmitted(
        concern_id=concern_id,
        tracking_number=f"CS-2026-{concern_id}",
        channel=Channel.WEB,
        category="transportation",
        submitted_at=AT,
        resolution_due_at=AT + timedelta(hours=72),
    )
    return new_event(data, source="/bureau/test", subject=concern_id, time=AT)


def status_changed(concern_id: str, from_status: str, to_status: str) -> CloudEvent:
    data = ConcernStatusChanged(
        concern_id=concern_id,
        from_status=ConcernStatus(from_status),
        to_status=ConcernStatus(to_status),
        changed_at=AT,
    )
    return new_event(data, source="/bureau/test", subject=concern_id, time=AT)


class RecordingSink:
    """Records what the relay publishes; fails while told to."""

    def __init__(
        self, *, failing: Callable[[str], bool] = lambda event_id: False, delay_s: float = 0.0
    ) -> None:
        self.failing = failing
        self.delay_s = delay_s
        self.published: list[tuple[str, str, bytes]] = []
        self.refused = 0

    async def publish(self, *, name: str, event_id: str, event_type: str, body: bytes) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # lets two relays interleave
        if self.failing(event_id):
            self.refused += 1
            raise ConnectionError("broker unreachable")
        self.published.append((name, event_id, body))

    @property
    def ids(self) -> list[str]:
        return [event_id for _, event_id, _ in self.published]


@pytest.fixture
async def concerns(
    mongo: AsyncMongoClient, isolation: Isolation
) -> AsyncIterator[AsyncCollection[Document]]:
    collection: AsyncCollection[Document] = mongo[isolation.db("svc")]["concerns"]
    await ensure_outbox_index(collection)
    yield collection


def relay_for(collection: AsyncCollection[Document], sink: Any, **kwargs: Any) -> OutboxRelay:
    options: dict[str, Any] = {"clock": SystemClock(), "lease_s": 30.0, "poll_s": 0.05}
    return OutboxRelay(collections=[collection], sink=sink, **{**options, **kwargs})


async def test_relay_publishes_an_inserted_documents_events_and_empties_its_outbox(
    concerns: AsyncCollection[Document],
) -> None:
    event = submitted("c-1")
    await concerns.insert_one(with_outbox({"_id": "c-1", "status": "received"}, [event]))
    sink = RecordingSink()
    relay = relay_for(concerns, sink)

    published = await relay.drain()

    assert published == 1
    assert sink.published == [("concern.submitted", event.id, encode(event))]
    stored = await concerns.find_one({"_id": "c-1"})
    assert stored is not None
    assert stored[FIELD] == []
    assert stored["status"] == "received"
    assert await relay.backlog() == 0
    assert await relay.drain() == 0  # nothing is published a second time


async def test_events_stay_pending_while_the_sink_fails_and_go_out_when_it_recovers(
    concerns: AsyncCollection[Document],
) -> None:
    events = [submitted(f"c-{i}") for i in range(3)]
    for event in events:
        await concerns.insert_one(with_outbox({"_id": event.subject}, [event]))
    broker_down = True
    sink = RecordingSink(failing=lambda event_id: broker_down)
    relay = relay_for(concerns, sink)

    with pytest.raises(OutboxPublishFailed):
        await relay.drain()

    assert sink.published == []
    assert await relay.backlog() == 3

    # the relay's own loop keeps trying and publishes once the broker is back
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: sink.refused >= 6, what="the running relay to retry")
        assert sink.published == []
        broker_down = False
        await eventually(lambda: len(sink.published) == 3, what="the events after recovery")
    finally:
        await relay.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert sorted(sink.ids) == sorted(e.id for e in events)
    assert await relay.backlog() == 0


async def test_two_relays_sweeping_a_dead_writers_events_together_publish_each_once(
    concerns: AsyncCollection[Document],
) -> None:
    events = [submitted(f"c-{i:03d}") for i in range(60)]
    # written by this test process, as if by a replica that died before publishing them
    await concerns.insert_many([with_outbox({"_id": e.subject}, [e]) for e in events])
    # one clock for both, as replicas share wall time; the lease is longer than the test
    clock = FakeClock(AT)
    sinks = [RecordingSink(delay_s=0.002), RecordingSink(delay_s=0.002)]
    relays = [
        relay_for(concerns, sink, clock=clock, writer=f"replica-{n}")
        for n, sink in enumerate(sinks)
    ]
    assert [await relay.drain() for relay in relays] == [0, 0]  # fresh: the writer's own
    clock.advance(timedelta(seconds=6))  # older than `fresh_s`: anyone's to sweep

    await asyncio.gather(*(relay.drain() for relay in relays), relays[0].drain(), relays[1].drain())

    published = sinks[0].ids + sinks[1].ids
    assert sorted(published) == sorted(e.id for e in events)
    assert len(published) == len(set(published))
    assert relays[0].published + relays[1].published == len(events)
    assert await relays[0].backlog() == 0


async def test_a_writer_publishes_its_own_events_in_two_round_trips_and_others_leave_them(
    concerns: AsyncCollection[Document], mongo: AsyncMongoClient
) -> None:
    events = [submitted(f"c-{i:03d}") for i in range(20)]
    await concerns.insert_many([with_outbox({"_id": e.subject}, [e]) for e in events])
    clock = FakeClock(AT)  # the events' own time: they were just written
    other = RecordingSink()
    assert await relay_for(concerns, other, clock=clock, writer="another-replica").drain() == 0
    sink = RecordingSink()
    relay = relay_for(concerns, sink, clock=clock)  # this process wrote them
    before = await store_operations(mongo, concerns.database.name)

    assert await relay.drain(sweep=False) == 20

    used = await store_operations(mongo, concerns.database.name) - before
    assert +used == {"concerns": 2}  # one find, one pull
    assert sorted(sink.ids) == sorted(e.id for e in events) and other.published == []
    assert await relay.backlog() == 0


async def test_a_claimed_document_is_left_to_its_claimant_until_the_lease_expires(
    concerns: AsyncCollection[Document],
) -> None:
    event = submitted("c-1")
    await concerns.insert_one(with_outbox({"_id": "c-1"}, [event]))
    clock = FakeClock(AT)
    await concerns.update_one(
        {"_id": "c-1"},
        {
            "$set": {
                "outbox_claim_by": "another-replica",
                "outbox_claim_until": AT + timedelta(seconds=30),
            }
        },
    )
    sink = RecordingSink()
    relay = relay_for(concerns, sink, clock=clock)

    assert await relay.drain() == 0
    assert sink.published == []

    clock.advance(timedelta(seconds=31))  # the other replica died holding the lease

    assert await relay.drain() == 1
    assert sink.ids == [event.id]


async def test_events_of_one_document_are_published_in_the_order_they_were_recorded(
    concerns: AsyncCollection[Document],
) -> None:
    first = submitted("c-1")
    later = [
        status_changed("c-1", "received", "acknowledged"),
        status_changed("c-1", "acknowledged", "awaiting_requester"),
        status_changed("c-1", "awaiting_requester", "acknowledged"),
        status_changed("c-1", "acknowledged", "resolved"),
    ]
    await concerns.insert_one(with_outbox({"_id": "c-1", "status": "received"}, [first]))
    await concerns.update_one(
        {"_id": "c-1"}, {"$set": {"status": "acknowledged"}, "$push": outbox_push(later[:2])}
    )
    await concerns.update_one(
        {"_id": "c-1"}, {"$set": {"status": "resolved"}, "$push": outbox_push(later[2:])}
    )
    expected = [first.id] + [e.id for e in later]
    # the third event fails once: the relay must not publish the fourth and fifth before it
    refused_once: set[str] = set()

    def fails_once(event_id: str) -> bool:
        if event_id == expected[2] and event_id not in refused_once:
            refused_once.add(event_id)
            return True
        return False

    sink = RecordingSink(failing=fails_once)
    relay = relay_for(concerns, sink)

    with pytest.raises(OutboxPublishFailed):
        await relay.drain()
    assert sink.ids == expected[:2]
    stored = await concerns.find_one({"_id": "c-1"})
    assert stored is not None
    assert [entry["id"] for entry in stored[FIELD]] == expected[2:]

    await relay.drain()

    assert sink.ids == expected
    assert await relay.backlog() == 0


async def test_backlog_counts_documents_with_pending_events(
    concerns: AsyncCollection[Document],
) -> None:
    await concerns.insert_many(
        [
            with_outbox(
                {"_id": "c-1"},
                [submitted("c-1"), status_changed("c-1", "received", "acknowledged")],
            ),
            with_outbox({"_id": "c-2"}, [submitted("c-2")]),
            with_outbox({"_id": "c-3"}, [submitted("c-3")]),
            {"_id": "c-4", "status": "received"},
            with_outbox({"_id": "c-5"}, []),
        ]
    )
    relay = relay_for(concerns, RecordingSink())

    assert await relay.backlog() == 3

    assert await relay.drain() == 4
    assert await relay.backlog() == 0


async def test_relay_publishes_through_the_real_publisher_to_the_catalogue_exchange(
    concerns: AsyncCollection[Document],
    amqp: aio_pika.abc.AbstractRobustConnection,
    isolation: Isolation,
    mongo_url: str,
    amqp_url: str,
) -> None:
    settings = ServiceSettings(
        service_name="svc",
        mongo_url=mongo_url,
        mongo_db=isolation.db("svc"),
        amqp_url=amqp_url,
        queue_prefix=isolation.queue_prefix,
        events_exchange=isolation.events_exchange,
        private_exchange=isolation.private_exchange,
    )
    channel = await amqp.channel(publisher_confirms=True)
    exchanges = await declare_exchanges(channel, settings)
    # exclusive queues vanish with the test's connection
    public_queue = await channel.declare_queue(exclusive=True)
    await public_queue.bind(exchanges.events, routing_key="#")
    private_queue = await channel.declare_queue(exclusive=True)
    await private_queue.bind(exchanges.private, routing_key="#")

    public = submitted("c-1")
    private = new_event(
        ConcernContactShared(
            concern_id="c-1",
            tracking_number="CS-2026-c-1",
            category="transportation",
            submitted_at=AT,
            resolution_due_at=AT + timedelta(hours=72),
            requester=RequesterContact(name="Alex Doe", email="alex@example.org"),
        ),
        source="/bureau/test",
        subject="c-1",
        time=AT,
    )
    await concerns.insert_one(with_outbox({"_id": "c-1"}, [public, private]))
    relay = relay_for(concerns, Publisher(exchanges, timeout_s=5.0))

    assert await relay.drain() == 2

    on_public = await next_message(public_queue)
    assert on_public.body == encode(public)
    assert on_public.routing_key == "concern.submitted"
    assert on_public.message_id == public.id
    assert on_public.type == public.type
    assert on_public.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert str(on_public.content_type).startswith("application/cloudevents+json")
    on_private = await next_message(private_queue)
    assert on_private.body == encode(private)
    assert on_private.routing_key == "concern.contact_shared"
    # the requester's contact never reaches the public exchange
    assert await public_queue.get(no_ack=True, fail=False) is None
    assert await relay.backlog() == 0
    await channel.close()


async def test_own_entry_past_half_its_freshness_goes_once_while_a_peer_sweeps(
    concerns: AsyncCollection[Document],
) -> None:
    # A writer's relay publishes its own fresh entries without a claim; once an entry could
    # become a peer's to sweep before that publish ends, it is left to the claimed sweep.
    clock = FakeClock(AT)
    event = submitted("c-late")
    await concerns.insert_one(
        {
            "_id": "c-late",
            FIELD: [
                {
                    "id": event.id,
                    "name": event.name,
                    "type": event.type,
                    "body": encode(event),
                    "by": "writer-a",
                    "at": clock.now(),
                }
            ],
        }
    )
    clock.advance(timedelta(seconds=5.5))  # stale for every relay, fresh_s = 5
    sink = RecordingSink(delay_s=0.05)
    writer = relay_for(concerns, sink, clock=clock, writer="writer-a", fresh_s=5.0)
    peer = relay_for(concerns, sink, clock=clock, writer="writer-b", fresh_s=5.0)

    await asyncio.gather(writer.drain(), peer.drain())

    assert sink.ids == [event.id]
