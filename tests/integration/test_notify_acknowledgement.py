"""Notify acknowledges each concern exactly once, over a real SMTP server and the real store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from devtools.launcher import free_port
from devtools.smtp_sink import SmtpSink
from services.notify import handlers
from services.notify.channels import SmtpEmailChannel
from services.notify.context import NotifyContext
from services.notify.dispatcher import dispatch_due
from services.notify.domain import ChannelName
from services.notify.main import build_context, create_app
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
from tests.conftest import next_message
from tests.integration.notify_api import api_client

pytestmark = pytest.mark.integration

ADDRESS = "ana.perez@example.org"
MAIL_FROM = "Customer Service Bureau <bureau@district.example>"
NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
DISTRICT = load_district(DEFAULT_DISTRICT_CONFIG)
TOKEN = "tok3n-Of-43-url-safe-characters_0123456789A"
PIN = "482913"


def contact_event(
    *,
    email: str | None = ADDRESS,
    tracking: str = "CS-2026-000123",
    concern_id: str | None = None,
    pin: str | None = None,
    reply_to: str | None = None,
) -> tuple[CloudEvent, ConcernContactShared]:
    data = ConcernContactShared(
        concern_id=concern_id or str(uuid.uuid4()),
        tracking_number=tracking,
        category="transportation",
        submitted_at=NOW,
        resolution_due_at=NOW + timedelta(hours=72),
        requester=RequesterContact(name="Ana Pérez", email=email, language="en"),
        access_token=TOKEN,
        pin=pin,
        reply_to_message_id=reply_to,
    )
    return envelopes([data], source="/bureau/intake", time=NOW)[0], data


async def notify_context(
    client: AsyncMongoClient[Any], db_name: str, smtp_port: int, *, attempts: int = 5
) -> NotifyContext:
    channel = SmtpEmailChannel(host="127.0.0.1", port=smtp_port, mail_from=MAIL_FROM, timeout_s=5.0)
    settings = NotifySettings(
        delivery_attempts=attempts, delivery_lease_s=60, delivery_backoff_s=[5, 30]
    )
    return await build_context(
        client[db_name],
        settings=settings,
        clock=FakeClock(NOW),
        district=DISTRICT,
        channels={ChannelName.EMAIL: channel},
    )


async def handle(ctx: NotifyContext, event: CloudEvent, data: ConcernContactShared) -> int:
    """What one replica does with one delivery of the event: record, then send what is due."""
    await handlers.on_event(event, data, ctx=ctx)
    await ctx.dispatch.settle()
    return await dispatch_due(ctx=ctx)


def advance(ctx: NotifyContext, seconds: float) -> None:
    clock = ctx.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(seconds=seconds))


async def delivery_document(ctx: NotifyContext, concern_id: str) -> dict[str, Any]:
    doc = await ctx.repo.get_document(f"{concern_id}:acknowledgement:email")
    assert doc is not None
    return doc


def outbox_events(doc: dict[str, Any]) -> list[CloudEvent]:
    return [decode(bytes(entry["body"])) for entry in doc.get("outbox", [])]


async def everything_stored(client: AsyncMongoClient[Any], db_name: str) -> str:
    """Every document of notify's store, outboxes included, as one text to search."""
    db = client[db_name]
    texts: list[str] = []
    for name in await db.list_collection_names():
        async for doc in db[name].find({}):
            texts.append(repr(doc))
            texts.extend(bytes(e["body"]).decode() for e in doc.get("outbox") or [])
    return "\n".join(texts)


async def test_sends_one_acknowledgement_with_tracking_number_to_the_requester(
    mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink
) -> None:
    ctx = await notify_context(mongo, isolation.db("notify"), sink.port)
    event, data = contact_event()

    await handle(ctx, event, data)

    assert len(sink.mails) == 1
    mail = sink.mails[0]
    assert mail.recipients == (ADDRESS,)
    assert "CS-2026-000123" in mail.subject
    assert "Your tracking number is CS-2026-000123." in mail.text
    # 72 hours after 15:30 UTC on 2 March, in the district's zone (America/Chicago)
    assert "Thursday, March 5, 2026 at 9:30 AM CST" in mail.text
    # how to check the status: the personal link to the web frontend's status page
    assert f"http://127.0.0.1:8000/status/CS-2026-000123?token={TOKEN}" in mail.text
    doc = await delivery_document(ctx, data.concern_id)
    assert doc["status"] == "sent"
    assert doc["attempts"] == 1
    assert mail.message["Message-ID"] == doc["provider_reference"]
    assert "text" not in doc  # once settled, the message body is not kept
    [sent] = outbox_events(doc)
    assert sent.name == "notification.sent"
    assert sent.subject == data.concern_id
    assert sent.data["delivery_id"] == f"{data.concern_id}:acknowledgement:email"
    body = bytes(doc["outbox"][0]["body"]).decode()
    assert "@" not in body and "ana" not in body.lower()


async def test_a_family_who_wrote_by_email_is_told_their_pin_and_notify_keeps_it_nowhere(
    mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink
) -> None:
    ctx = await notify_context(mongo, isolation.db("notify"), sink.port)
    event, data = contact_event(pin=PIN, reply_to="<note-1@family.example>")

    await handle(ctx, event, data)

    [mail] = sink.mails
    assert mail.message["In-Reply-To"] == "<note-1@family.example>"  # the family's own mail
    said = " ".join(mail.text.split())
    assert "Your tracking number is CS-2026-000123." in said
    assert f"Your PIN is {PIN}. With your tracking number, it lets you check your concern" in said
    assert "by phone or on our website" in said
    assert (await delivery_document(ctx, data.concern_id))["status"] == "sent"
    # once the mail is settled, neither the PIN nor the token is left in notify's store
    stored = await everything_stored(mongo, isolation.db("notify"))
    assert "CS-2026-000123" in stored  # the search does see what notify keeps
    assert PIN not in stored and TOKEN not in stored


async def test_redelivered_event_sends_no_second_mail(
    mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink
) -> None:
    ctx = await notify_context(mongo, isolation.db("notify"), sink.port)
    event, data = contact_event()
    # the same facts in a new envelope, as after an outbox relay crashed before marking it sent
    republished = envelopes([data], source="/bureau/intake", time=NOW)[0]

    await handle(ctx, event, data)
    await handle(ctx, event, data)
    await handle(ctx, republished, data)

    assert len(sink.mails) == 1
    doc = await delivery_document(ctx, data.concern_id)
    assert doc["attempts"] == 1
    assert len(doc["outbox"]) == 1


async def test_two_replicas_racing_on_the_same_events_send_each_acknowledgement_once(
    mongo: AsyncMongoClient[Any], mongo_url: str, isolation: Any, sink: SmtpSink
) -> None:
    other: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        first = await notify_context(mongo, isolation.db("notify"), sink.port)
        second = await notify_context(other, isolation.db("notify"), sink.port)
        events = [contact_event(tracking=f"CS-2026-{n:06d}") for n in range(1, 6)]

        await asyncio.gather(*(handle(ctx, e, d) for e, d in events for ctx in (first, second)))

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
    mongo: AsyncMongoClient[Any], isolation: Any
) -> None:
    port = free_port()  # nothing listens here yet
    ctx = await notify_context(mongo, isolation.db("notify"), port)
    event, data = contact_event()

    await handle(ctx, event, data)

    doc = await delivery_document(ctx, data.concern_id)
    assert doc["status"] == "queued"
    assert doc["attempts"] == 1
    assert doc["last_error"] and ADDRESS not in doc["last_error"]
    assert doc["next_attempt_at"] > NOW  # backoff: not before 5 s
    assert "outbox" not in doc or doc["outbox"] == []

    server = SmtpSink(port=port).start()
    try:
        assert await dispatch_due(ctx=ctx) == 0  # not due yet
        advance(ctx, 5)
        assert await dispatch_due(ctx=ctx) == 1
        assert [m.recipients for m in server.mails] == [(ADDRESS,)]
    finally:
        server.stop()
    doc = await delivery_document(ctx, data.concern_id)
    assert doc["status"] == "sent"
    assert doc["attempts"] == 2
    assert [h["ok"] for h in doc["history"]] == [False, True]
    assert [e.name for e in outbox_events(doc)] == ["notification.sent"]
    assert ADDRESS not in str(doc["outbox"])


async def test_delivery_claimed_by_a_replica_that_died_is_sent_after_a_lease_of_silence(
    mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink
) -> None:
    dead = await notify_context(mongo, isolation.db("notify"), sink.port)
    ctx = await notify_context(mongo, isolation.db("notify"), sink.port)
    event, data = contact_event()
    # a replica recorded the delivery (claimed, to send it at once), then died before sending
    await handlers.on_event(event, data, ctx=dead)
    dead.dispatch.abandon()
    await dead.dispatch.settle()
    recorded = await delivery_document(ctx, data.concern_id)
    assert (recorded["status"], recorded["attempts"]) == ("sending", 1)

    assert await handle(ctx, event, data) == 0  # redelivered: recorded already, leased
    assert sink.mails == []

    advance(ctx, 61)
    await dispatch_due(ctx=ctx)  # the lease ran out: watched, not taken yet
    assert sink.mails == []
    advance(ctx, 61)
    await dispatch_due(ctx=ctx)  # it stayed as it was a whole lease more: its sender is gone

    assert len(sink.mails) == 1
    doc = await delivery_document(ctx, data.concern_id)
    assert doc["status"] == "sent"
    assert doc["attempts"] == 2
    # the dead replica's late report cannot overwrite what the live one recorded
    assert not await ctx.repo.release(
        doc["_id"],
        token=recorded["lease_token"],
        now=NOW,
        error="late",
        next_attempt_at=NOW,
        attempt=1,
    )


async def test_delivery_fails_for_good_after_the_last_attempt_and_says_so(
    mongo: AsyncMongoClient[Any], isolation: Any
) -> None:
    ctx = await notify_context(mongo, isolation.db("notify"), free_port(), attempts=2)
    event, data = contact_event(pin=PIN)

    await handle(ctx, event, data)
    advance(ctx, 5)
    assert await dispatch_due(ctx=ctx) == 1  # last attempt
    advance(ctx, 3600)
    assert await dispatch_due(ctx=ctx) == 0  # settled: nothing more happens

    doc = await delivery_document(ctx, data.concern_id)
    assert doc["status"] == "failed"
    assert doc["attempts"] == 2
    [failed] = outbox_events(doc)
    assert failed.name == "notification.failed"
    assert failed.data["error"]
    assert ADDRESS not in bytes(doc["outbox"][0]["body"]).decode()
    # a mail that was never sent leaves its PIN and token nowhere either
    stored = await everything_stored(mongo, isolation.db("notify"))
    assert PIN not in stored and TOKEN not in stored


async def test_requester_without_email_is_recorded_as_skipped_without_an_event(
    mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink
) -> None:
    ctx = await notify_context(mongo, isolation.db("notify"), sink.port)
    event, data = contact_event(email=None)

    await handle(ctx, event, data)

    assert sink.mails == []
    doc = await delivery_document(ctx, data.concern_id)
    assert doc["status"] == "skipped"
    assert doc.get("outbox", []) == []


async def test_deliveries_api_shows_the_delivery_with_a_masked_address(
    mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink
) -> None:
    ctx = await notify_context(mongo, isolation.db("notify"), sink.port)
    event, data = contact_event()
    await handle(ctx, event, data)
    async with api_client(ctx, "specialist") as client:
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
    assert [h["ok"] for h in delivery["history"]] == [True]
    assert ADDRESS not in found.text
    assert unknown.status_code == 200 and unknown.json() == []


@pytest.fixture
async def notify_app(
    mongo: AsyncMongoClient[Any],
    amqp_url: str,
    mongo_url: str,
    isolation: Any,
    sink: SmtpSink,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> AsyncIterator[FastAPI]:
    env = isolation.env("notify", mongo_url=mongo_url, amqp_url=amqp_url)
    settings = NotifySettings(
        mongo_url=env["MONGO_URL"],
        mongo_db=env["MONGO_DB"],
        amqp_url=env["AMQP_URL"],
        queue_prefix=env["QUEUE_PREFIX"],
        events_exchange=env["EVENTS_EXCHANGE"],
        private_exchange=env["PRIVATE_EXCHANGE"],
        smtp_port=sink.port,
        mail_from=MAIL_FROM,
        retry_delays_ms=[200],
        delivery_attempts=2,
        outbox_poll_s=0.1,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def test_service_acknowledges_a_private_event_and_publishes_notification_sent(
    notify_app: FastAPI, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Any, sink: SmtpSink
) -> None:
    channel = await amqp.channel()
    public = await channel.get_exchange(isolation.events_exchange)
    private = await channel.get_exchange(isolation.private_exchange)
    probe = await channel.declare_queue(f"{isolation.queue_prefix}probe.events", auto_delete=True)
    await probe.bind(public, routing_key="notification.sent")
    event, data = contact_event()

    await private.publish(
        aio_pika.Message(encode(event), content_type="application/json"),
        routing_key="concern.contact_shared",
    )

    message = await next_message(probe)
    published = decode(message.body)
    assert published.name == "notification.sent"
    assert published.subject == data.concern_id
    assert b"@" not in message.body
    assert [m.recipients for m in sink.mails] == [(ADDRESS,)]
    assert data.tracking_number in sink.mails[0].subject
