"""The survey from the link in the resolution message to `survey.answered` on the broker,
and several notify processes sending each message once: the notify service over the real
RabbitMQ, the store and a real SMTP server."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient

from devtools.smtp_sink import SmtpSink
from services.notify.main import create_app
from services.notify.settings import NotifySettings
from shared.clock import FakeClock
from shared.events import (
    CloudEvent,
    ConcernContactShared,
    ConcernResolutionShared,
    EventData,
    RequesterContact,
    decode,
    encode,
    envelopes,
)
from tests.conftest import eventually, next_message

pytestmark = pytest.mark.integration

SUMMARY = "The driver now stops at Oak Street."  # what staff wrote when resolving


def resolution_of(concern_id: str, at: datetime) -> ConcernResolutionShared:
    """A resolution as intake shares it with notify (with the summary staff wrote)."""
    return ConcernResolutionShared(concern_id=concern_id, summary=SUMMARY, resolved_at=at)


NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
ADDRESS = "rosa@example.org"
LINK = re.compile(r"https://bureau\.district\.example/survey/([A-Za-z0-9_-]+)")


def settings_for(isolation: Any, mongo_url: str, amqp_url: str, sink: SmtpSink) -> NotifySettings:
    env = isolation.env("notify", mongo_url=mongo_url, amqp_url=amqp_url)
    return NotifySettings(
        mongo_url=env["MONGO_URL"],
        mongo_db=env["MONGO_DB"],
        amqp_url=env["AMQP_URL"],
        queue_prefix=env["QUEUE_PREFIX"],
        events_exchange=env["EVENTS_EXCHANGE"],
        private_exchange=env["PRIVATE_EXCHANGE"],
        smtp_port=sink.port,
        retry_delays_ms=[200],
        outbox_poll_s=0.1,
        dispatch_tick_s=0.1,
        public_base_url="https://bureau.district.example",
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def notify_app(
    mongo: AsyncMongoClient[Any],
    amqp_url: str,
    mongo_url: str,
    isolation: Any,
    sink: SmtpSink,
    clock: FakeClock,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> AsyncIterator[FastAPI]:
    app = create_app(settings_for(isolation, mongo_url, amqp_url, sink), clock=clock)
    async with app.router.lifespan_context(app):
        yield app


async def publish(
    amqp: aio_pika.abc.AbstractRobustConnection, isolation: Any, event: CloudEvent
) -> None:
    channel = await amqp.channel()
    private = event.spec.exchange.value == "private"
    exchange = await channel.get_exchange(
        isolation.private_exchange if private else isolation.events_exchange
    )
    await exchange.publish(
        aio_pika.Message(encode(event), content_type="application/json"), routing_key=event.name
    )
    await channel.close()


def envelope(data: EventData) -> CloudEvent:
    return envelopes([data], source="/bureau/intake", time=NOW)[0]


def taken(names: set[str]) -> float:
    """Messages of these events notify took off its queue for good (handled, skipped as
    duplicates, parked or dropped), by any replica of this process."""
    return sum(
        REGISTRY.get_sample_value(
            "bureau_events_consumed_total", {"service": "notify", "event": name, "outcome": outcome}
        )
        or 0.0
        for name in names
        for outcome in ("handled", "duplicate", "parked", "dropped")
    )


def contact(concern: str) -> ConcernContactShared:
    return ConcernContactShared(
        concern_id=concern,
        tracking_number="CS-2026-000900",
        category="transportation",
        submitted_at=NOW,
        resolution_due_at=NOW + timedelta(hours=72),
        requester=RequesterContact(name="Rosa", email=ADDRESS, language="es"),
    )


async def test_survey_from_the_resolution_link_to_survey_answered(
    notify_app: FastAPI,
    amqp: aio_pika.abc.AbstractRobustConnection,
    isolation: Any,
    sink: SmtpSink,
    clock: FakeClock,
    mongo: AsyncMongoClient[Any],
) -> None:
    channel = await amqp.channel()
    probe = await channel.declare_queue(f"{isolation.queue_prefix}probe.survey", auto_delete=True)
    await probe.bind(
        await channel.get_exchange(isolation.events_exchange), routing_key="survey.answered"
    )
    concern = str(uuid.uuid4())

    await publish(amqp, isolation, envelope(contact(concern)))
    await eventually(lambda: len(sink.mails) == 1, what="the acknowledgement")
    await publish(amqp, isolation, envelope(resolution_of(concern, NOW)))
    await eventually(lambda: len(sink.mails) == 2, what="two mails")

    resolution = sink.mails[1]
    assert resolution.subject == "Su inquietud CS-2026-000900 ha sido resuelta"
    match = LINK.search(resolution.text)
    assert match is not None
    token = match.group(1)
    stored = await mongo[isolation.db("notify")]["surveys"].find_one({"_id": concern})
    assert stored is not None and token not in str(stored)  # only its hash is kept

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=notify_app), base_url="http://notify"
    ) as client:
        shown = await client.get(f"/v1/surveys/{token}")
        answered = await client.post(
            f"/v1/surveys/{token}",
            json={"score": 4, "comment": "Rápido, gracias. Mi hija Lucía ya tiene autobús."},
        )
        second = await client.post(f"/v1/surveys/{token}", json={"score": 1})
        unknown = await client.get(f"/v1/surveys/{'x' * 43}")
        out_of_range = await client.post(f"/v1/surveys/{token}", json={"score": 6})

    assert shown.status_code == 200
    assert shown.json()["question"].startswith("¿Qué tan satisfecho")
    assert shown.json()["status"] == "open"
    assert answered.status_code == 201
    assert second.status_code == 409
    assert unknown.status_code == 404
    assert out_of_range.status_code == 422
    assert out_of_range.json()["errors"][0]["field"] == "score"

    message = await next_message(probe)
    event = decode(message.body)
    assert event.name == "survey.answered"
    assert event.data == {
        "concern_id": concern,
        "score": 4,
        "answered_at": event.data["answered_at"],
        "has_comment": True,
    }
    assert b"Luc" not in message.body and b"gracias" not in message.body


async def test_survey_expires_thirty_days_after_resolution(
    notify_app: FastAPI,
    amqp: aio_pika.abc.AbstractRobustConnection,
    isolation: Any,
    sink: SmtpSink,
    clock: FakeClock,
) -> None:
    concern = str(uuid.uuid4())
    await publish(amqp, isolation, envelope(contact(concern)))
    await publish(amqp, isolation, envelope(resolution_of(concern, NOW)))
    await eventually(lambda: len(sink.mails) == 2, what="two mails")
    # the acknowledgement and the resolution are sent at once, in either order
    links = [m for m in (LINK.search(mail.text) for mail in sink.mails) if m is not None]
    assert len(links) == 1
    match = links[0]

    clock.advance(timedelta(days=30))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=notify_app), base_url="http://notify"
    ) as client:
        shown = await client.get(f"/v1/surveys/{match.group(1)}")
        answered = await client.post(f"/v1/surveys/{match.group(1)}", json={"score": 5})

    assert shown.status_code == 410
    assert answered.status_code == 410


async def test_two_notify_processes_and_redelivered_events_send_each_message_once(
    mongo: AsyncMongoClient[Any],
    amqp_url: str,
    mongo_url: str,
    isolation: Any,
    sink: SmtpSink,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> None:
    concerns = [str(uuid.uuid4()) for _ in range(5)]
    async with AsyncExitStack() as stack:
        for _ in range(2):  # two replicas competing on notify's queue, each with its dispatcher
            app = create_app(settings_for(isolation, mongo_url, amqp_url, sink))
            await stack.enter_async_context(app.router.lifespan_context(app))
        published: list[CloudEvent] = []
        for concern in concerns:
            first = envelope(contact(concern))
            resolved = envelope(resolution_of(concern, NOW))
            # each event twice (a redelivery), and the contact again in a new envelope
            published += [first, first, envelope(contact(concern)), resolved, resolved]
        names = {event.name for event in published}
        before = taken(names)
        for event in published:
            await publish(amqp, isolation, event)

        # No more mail can come once every copy is taken and every delivery settled; closing
        # the replicas (leaving the stack) then lets no send in flight escape the count.
        await eventually(
            lambda: taken(names) - before >= len(published), what="every copy of every event taken"
        )

        async def settled() -> bool:
            unsettled = await mongo[isolation.db("notify")]["deliveries"].count_documents(
                {"concern_id": {"$in": concerns}, "status": {"$nin": ["sent", "failed", "skipped"]}}
            )
            return unsettled == 0

        await eventually(settled, what="every delivery settled")

    assert len(sink.mails) == 2 * len(concerns)
    for concern in concerns:
        docs = (
            await mongo[isolation.db("notify")]["deliveries"]
            .find({"concern_id": concern})
            .to_list()
        )
        assert sorted(d["kind"] for d in docs) == ["acknowledgement", "resolution"]
        assert all(d["status"] == "sent" and d["attempts"] == 1 for d in docs)
