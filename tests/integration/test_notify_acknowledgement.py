"""Notify acknowledges each concern exactly once, over a real SMTP server and the real store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from devtools.launcher import free_port
from devtools.smtp_sink import SmtpSink
from services.notify import api, handlers
from services.notify.channels import SmtpEmailChannel
from services.notify.domain import ChannelName, Kind
from services.notify.handlers import DeliveryBusy, DeliveryDeferred, NotifyContext
from services.notify.main import create_app
from services.notify.repository import DeliveryRepository
from services.notify.settings import NotifySettings
from shared.clock import FakeClock
from shared.district import load_district
from shared.events import (
    CloudEvent,
    ConcernContactShared,
    RequesterContact,
    decode,
    encode,
    envelopes,
)
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.integration

ADDRESS = "ana.perez@example.org"
MAIL_FROM = "Customer Service Bureau <bureau@district.example>"
NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
DISTRICT = load_district(DEFAULT_DISTRICT_CONFIG)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink(port=0).start()
    yield server
    server.stop()


def contact_event(*, email: str | None = ADDRESS, tracking: str = "CS-2026-000123",
                  concern_id: str | None = None) -> tuple[CloudEvent, ConcernContactShared]:
    data = ConcernContactShared(
        concern_id=concern_id or str(uuid.uuid4()), tracking_number=tracking,
        category="transportation", submitted_at=NOW, resolution_due_at=NOW + timedelta(hours=72),
        requester=RequesterContact(name="Ana Pérez", email=email, language="en"),
    )
    return envelopes([data], source="/bureau/intake", time=NOW)[0], data


async def notify_context(client: AsyncMongoClient[Any], db_name: str, smtp_port: int, *,
                         attempts: int = 5) -> NotifyContext:
    repo = DeliveryRepository(client[db_name])
    await repo.ensure_indexes()
    channel = SmtpEmailChannel(host="127.0.0.1", port=smtp_port, mail_from=MAIL_FROM,
                               timeout_s=5.0)
    return NotifyContext(repo=repo, email=channel, clock=FakeClock(NOW), district=DISTRICT,
                         source="/bureau/notify", published=lambda: None,
                         delivery_attempts=attempts, delivery_lease=timedelta(seconds=60))


async def delivery_document(ctx: NotifyContext, concern_id: str) -> dict[str, Any]:
    doc = await ctx.repo.get_document(f"{concern_id}:acknowledgement:email")
    assert doc is not None
    return doc


def outbox_events(doc: dict[str, Any]) -> list[CloudEvent]:
    return [decode(bytes(entry["body"])) for entry in doc.get("outbox", [])]


async def test_sends_one_acknowledgement_with_tracking_number_to_the_requester(
        mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink) -> None:
    ctx = await notify_context(mongo, isolation.db("notify"), sink.port)
    event, data = contact_event()

    await handlers.on_contact_shared(event, data, ctx=ctx)

    assert len(sink.mails) == 1
    mail = sink.mails[0]
    assert mail.recipients == (ADDRESS,)
    assert "CS-2026-000123" in mail.subject
    assert "Your tracking number is CS-2026-000123." in mail.text
    # 72 hours after 15:30 UTC on 2 March, in the district's zone (America/Chicago)
    assert "Thursday, March 5, 2026 at 9:30 AM CST" in mail.text
    doc = await delivery_document(ctx, data.concern_id)
    assert doc["status"] == "sent"
    assert doc["attempts"] == 1
    assert mail.message["Message-ID"] == doc["provider_reference"]
    [sent] = outbox_events(doc)
    assert sent.name == "notification.sent"
    assert sent.subject == data.concern_id
    assert sent.data["delivery_id"] == f"{data.concern_id}:acknowledgement:email"
    body = bytes(doc["outbox"][0]["body"]).decode()
    assert "@" not in body and "ana" not in body.lower()


async def test_redelivered_event_sends_no_second_mail(
        mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink) -> None:
    ctx = await notify_context(mongo, isolation.db("notify"), sink.port)
    event, data = contact_event()
    # the same facts in a new envelope, as after an outbox relay crashed before marking it sent
    republished = envelopes([data], source="/bureau/intake", time=NOW)[0]

    await handlers.on_contact_shared(event, data, ctx=ctx)
    await handlers.on_contact_shared(event, data, ctx=ctx)
    await handlers.on_contact_shared(republished, data, ctx=ctx)

    assert len(sink.mails) == 1
    doc = await delivery_document(ctx, data.concern_id)
    assert doc["attempts"] == 1
    assert len(doc["outbox"]) == 1


async def test_two_replicas_racing_on_the_same_events_send_each_acknowledgement_once(
        mongo: AsyncMongoClient[Any], mongo_url: str, isolation: Any, sink: SmtpSink) -> None:
    other: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        first = await notify_context(mongo, isolation.db("notify"), sink.port)
        second = await notify_context(other, isolation.db("notify"), sink.port)
        events = [contact_event(tracking=f"CS-2026-{n:06d}") for n in range(1, 6)]

        outcomes = await asyncio.gather(
            *(handlers.on_contact_shared(e, d, ctx=ctx)
              for e, d in events for ctx in (first, second)),
            return_exceptions=True,
        )

        # the loser either saw the delivery settled or was told to retry while it was sent
        assert all(o is None or isinstance(o, DeliveryBusy) for o in outcomes), outcomes
        for _, data in events:
            mails = [m for m in sink.mails if data.tracking_number in m.subject]
            assert len(mails) == 1, data.tracking_number
            doc = await delivery_document(first, data.concern_id)
            assert doc["status"] == "sent"
            assert [e.name for e in outbox_events(doc)] == ["notification.sent"]
        assert len(sink.mails) == len(events)
    finally:
        await other.close()


async def test_smtp_outage_keeps_the_delivery_queued_and_a_later_attempt_sends_it(
        mongo: AsyncMongoClient[Any], isolation: Any) -> None:
    port = free_port()  # nothing listens here yet
    ctx = await notify_context(mongo, isolation.db("notify"), port)
    event, data = contact_event()

    with pytest.raises(DeliveryDeferred) as raised:
        await handlers.on_contact_shared(event, data, ctx=ctx)

    assert ADDRESS not in str(raised.value)
    doc = await delivery_document(ctx, data.concern_id)
    assert doc["status"] == "queued"
    assert doc["attempts"] == 1
    assert doc["last_error"]
    assert "outbox" not in doc or doc["outbox"] == []

    server = SmtpSink(port=port).start()
    try:
        await handlers.on_contact_shared(event, data, ctx=ctx)
        assert [m.recipients for m in server.mails] == [(ADDRESS,)]
    finally:
        server.stop()
    doc = await delivery_document(ctx, data.concern_id)
    assert doc["status"] == "sent"
    assert doc["attempts"] == 2
    assert [e.name for e in outbox_events(doc)] == ["notification.sent"]
    assert ADDRESS not in str(doc["outbox"])


async def test_delivery_claimed_by_a_replica_that_died_is_sent_once_its_lease_expires(
        mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink) -> None:
    ctx = await notify_context(mongo, isolation.db("notify"), sink.port)
    clock = ctx.clock
    assert isinstance(clock, FakeClock)
    event, data = contact_event()
    delivery = f"{data.concern_id}:acknowledgement:email"
    # a replica queued and claimed the delivery, then died before sending
    await ctx.repo.add(delivery_id=delivery, concern_id=data.concern_id,
                       kind=Kind.ACKNOWLEDGEMENT, channel=ChannelName.EMAIL, address=ADDRESS,
                       language="en", now=NOW)
    assert await ctx.repo.claim(delivery, token="dead-replica", now=NOW,
                                lease_until=NOW + timedelta(seconds=60)) is not None

    with pytest.raises(DeliveryBusy):
        await handlers.on_contact_shared(event, data, ctx=ctx)
    assert sink.mails == []

    clock.advance(timedelta(seconds=61))
    await handlers.on_contact_shared(event, data, ctx=ctx)

    assert len(sink.mails) == 1
    doc = await delivery_document(ctx, data.concern_id)
    assert doc["status"] == "sent"
    assert doc["attempts"] == 2
    # the dead replica's late report cannot overwrite what the live one recorded
    assert not await ctx.repo.release(delivery, token="dead-replica", now=NOW, error="late")


async def test_delivery_fails_for_good_after_the_last_attempt_and_says_so(
        mongo: AsyncMongoClient[Any], isolation: Any) -> None:
    ctx = await notify_context(mongo, isolation.db("notify"), free_port(), attempts=2)
    event, data = contact_event()

    with pytest.raises(DeliveryDeferred):
        await handlers.on_contact_shared(event, data, ctx=ctx)
    await handlers.on_contact_shared(event, data, ctx=ctx)  # last attempt: no retry asked
    await handlers.on_contact_shared(event, data, ctx=ctx)  # settled: nothing more happens

    doc = await delivery_document(ctx, data.concern_id)
    assert doc["status"] == "failed"
    assert doc["attempts"] == 2
    [failed] = outbox_events(doc)
    assert failed.name == "notification.failed"
    assert failed.data["error"]
    assert ADDRESS not in bytes(doc["outbox"][0]["body"]).decode()


async def test_requester_without_email_is_recorded_as_skipped_without_an_event(
        mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink) -> None:
    ctx = await notify_context(mongo, isolation.db("notify"), sink.port)
    event, data = contact_event(email=None)

    await handlers.on_contact_shared(event, data, ctx=ctx)

    assert sink.mails == []
    doc = await delivery_document(ctx, data.concern_id)
    assert doc["status"] == "skipped"
    assert doc.get("outbox", []) == []


async def test_deliveries_api_shows_the_delivery_with_a_masked_address(
        mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink) -> None:
    ctx = await notify_context(mongo, isolation.db("notify"), sink.port)
    event, data = contact_event()
    await handlers.on_contact_shared(event, data, ctx=ctx)
    app = FastAPI()
    app.include_router(api.router)
    app.state.ctx = ctx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://notify") as client:
        found = await client.get(f"/v1/concerns/{data.concern_id}/deliveries")
        unknown = await client.get(f"/v1/concerns/{uuid.uuid4()}/deliveries")

    assert found.status_code == 200
    [delivery] = found.json()
    assert delivery["kind"] == "acknowledgement"
    assert delivery["channel"] == "email"
    assert delivery["status"] == "sent"
    assert delivery["attempts"] == 1
    assert delivery["address"] == "a***@example.org"
    assert delivery["sent_at"] is not None
    assert ADDRESS not in found.text
    assert unknown.status_code == 200 and unknown.json() == []


@pytest.fixture
async def notify_app(mongo: AsyncMongoClient[Any], amqp_url: str, mongo_url: str,
                     isolation: Any, sink: SmtpSink,
                     amqp: aio_pika.abc.AbstractRobustConnection) -> AsyncIterator[FastAPI]:
    env = isolation.env("notify", mongo_url=mongo_url, amqp_url=amqp_url)
    settings = NotifySettings(
        mongo_url=env["MONGO_URL"], mongo_db=env["MONGO_DB"], amqp_url=env["AMQP_URL"],
        queue_prefix=env["QUEUE_PREFIX"], events_exchange=env["EVENTS_EXCHANGE"],
        private_exchange=env["PRIVATE_EXCHANGE"], smtp_port=sink.port, mail_from=MAIL_FROM,
        retry_delays_ms=[200], delivery_attempts=2, outbox_poll_s=0.1,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def test_service_acknowledges_a_private_event_and_publishes_notification_sent(
        notify_app: FastAPI, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Any,
        sink: SmtpSink) -> None:
    channel = await amqp.channel()
    public = await channel.get_exchange(isolation.events_exchange)
    private = await channel.get_exchange(isolation.private_exchange)
    probe = await channel.declare_queue(f"{isolation.queue_prefix}probe.events",
                                        auto_delete=True)
    await probe.bind(public, routing_key="notification.sent")
    event, data = contact_event()

    await private.publish(aio_pika.Message(encode(event), content_type="application/json"),
                          routing_key="concern.contact_shared")

    async with asyncio.timeout(10):
        message = None
        while message is None:
            message = await probe.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
    published = decode(message.body)
    assert published.name == "notification.sent"
    assert published.subject == data.concern_id
    assert b"@" not in message.body
    assert [m.recipients for m in sink.mails] == [(ADDRESS,)]
    assert data.tracking_number in sink.mails[0].subject
