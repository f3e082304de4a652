"""Subscriptions: district systems receive signed CloudEvents webhooks of public events, with
retries, through a real local receiver that verifies each signature."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from services.notify import handlers, signing
from services.notify.channels import OutboundChannel, RecordingChannel, WebhookChannel
from services.notify.context import NotifyContext
from services.notify.dispatcher import dispatch_due
from services.notify.domain import ChannelName
from services.notify.main import build_context
from services.notify.settings import NotifySettings
from services.notify.testing import WebhookReceiver
from shared.clock import FakeClock
from shared.district import load_district
from shared.events import (
    Channel,
    CloudEvent,
    ConcernContactShared,
    ConcernSubmitted,
    ConcernTriaged,
    EventData,
    Priority,
    RequesterContact,
    SlaBreached,
    SlaTarget,
    envelopes,
)
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.integration.notify_api import api_client

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
SECRET = "sis-shared-secret-0123456789"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def receiver(clock: FakeClock) -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(SECRET, now=clock.now).start()
    yield server
    server.stop()


@pytest.fixture
async def ctx(mongo: AsyncMongoClient[Any], isolation: Any, clock: FakeClock) -> NotifyContext:
    settings = NotifySettings(delivery_attempts=3, delivery_backoff_s=[5, 30])
    channels: dict[ChannelName, OutboundChannel] = {
        ChannelName.EMAIL: RecordingChannel(),
        ChannelName.WEBHOOK: WebhookChannel(
            clock=clock, timeout_s=5, allowed_targets=["127.0.0.1"]
        ),
    }
    return await build_context(
        mongo[isolation.db("notify")],
        settings=settings,
        clock=clock,
        district=load_district(DEFAULT_DISTRICT_CONFIG),
        channels=channels,
    )


@pytest.fixture
async def client(ctx: NotifyContext) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(ctx, "admin") as http:
        yield http


async def subscribe(client: httpx.AsyncClient, url: str, *types: str, secret: str = SECRET) -> str:
    answer = await client.post(
        "/v1/subscriptions", json={"url": url, "event_types": list(types), "secret": secret}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def submitted(concern: str | None = None) -> EventData:
    return ConcernSubmitted(
        concern_id=concern or str(uuid.uuid4()),
        tracking_number="CS-2026-000001",
        channel=Channel.WEB,
        category="transportation",
        submitted_at=NOW,
        resolution_due_at=NOW + timedelta(hours=72),
    )


async def publish(ctx: NotifyContext, data: EventData) -> CloudEvent:
    [event] = envelopes([data], source="/bureau/intake", time=NOW)
    await handlers.on_event(event, event.parsed(), ctx=ctx)
    await ctx.dispatch.settle()
    await dispatch_due(ctx=ctx)
    return event


def advance(clock: FakeClock, seconds: float) -> None:
    clock.advance(timedelta(seconds=seconds))


async def test_subscriber_receives_a_signed_cloudevent_it_can_verify(
    ctx: NotifyContext, client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await subscribe(client, receiver.url + "/hooks/bureau", "concern.submitted")

    event = await publish(ctx, submitted())

    [hook] = receiver.received
    assert hook.verified
    assert hook.headers["content-type"] == "application/cloudevents+json"
    assert hook.event["id"] == event.id
    assert hook.event["type"] == "org.bureau.concern.submitted.v1"
    assert hook.event["specversion"] == "1.0"
    assert hook.event["data"]["tracking_number"] == "CS-2026-000001"
    assert hook.headers[signing.TIMESTAMP_HEADER.lower()] == str(int(NOW.timestamp()))
    # the receiver's check is the notify function any district system can copy
    assert signing.verify(
        SECRET,
        hook.body,
        timestamp=hook.headers["x-bureau-timestamp"],
        signature=hook.headers["x-bureau-signature"],
        now=NOW,
    )
    assert not signing.verify(
        "another-secret-entirely",
        hook.body,
        timestamp=hook.headers["x-bureau-timestamp"],
        signature=hook.headers["x-bureau-signature"],
        now=NOW,
    )
    [delivery] = await ctx.repo.for_concern(event.subject or "")
    assert (delivery.kind.value, delivery.status.value) == ("webhook", "sent")


async def test_subscriber_gets_only_the_event_types_it_asked_for(
    ctx: NotifyContext, client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await subscribe(client, receiver.url, "sla.breached")
    concern = str(uuid.uuid4())

    await publish(ctx, submitted(concern))
    await publish(
        ctx,
        SlaBreached(
            concern_id=concern,
            target=SlaTarget.RESOLUTION,
            due_at=NOW,
            breached_at=NOW,
            policy="standard",
        ),
    )

    assert [h.event["type"] for h in receiver.received] == ["org.bureau.sla.breached.v1"]


async def test_private_events_never_reach_a_subscriber_even_one_asking_for_everything(
    ctx: NotifyContext, client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await subscribe(client, receiver.url, "*")
    concern = str(uuid.uuid4())

    await publish(
        ctx,
        ConcernContactShared(
            concern_id=concern,
            tracking_number="CS-2026-000001",
            category="transportation",
            submitted_at=NOW,
            resolution_due_at=NOW,
            requester=RequesterContact(name="Ana", email="ana@example.org"),
        ),
    )
    await publish(ctx, submitted(concern))

    assert [h.event["type"] for h in receiver.received] == ["org.bureau.concern.submitted.v1"]
    assert all(b"ana@example.org" not in h.body for h in receiver.received)


async def test_a_subscriber_gets_the_public_copy_of_a_routing_event_never_the_full_one(
    ctx: NotifyContext, client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    """Security #2: webhooks forwarded the special-education routing of a concern."""
    await subscribe(client, receiver.url, "concern.triaged")
    concern = str(uuid.uuid4())
    routing = ConcernTriaged(
        concern_id=concern,
        category="transportation",
        team_id="special-education",
        team_name="Special Education Department",
        priority=Priority.HIGH,
        rule="rule:special-education-students",
        triaged_at=NOW,
        sensitive=True,
    )
    full = await publish(ctx, routing)  # bureau services' copy
    assert full.restricted and receiver.received == []
    shown = routing.model_copy(
        update={
            "team_id": "transportation",
            "sensitive": False,
            "team_name": "Transportation Department",
        }
    )
    [public] = envelopes([shown], source="/bureau/triage", time=NOW, restricted=False)
    await handlers.on_event(public, public.parsed(), ctx=ctx)
    await ctx.dispatch.settle()
    await dispatch_due(ctx=ctx)
    [hook] = receiver.received
    assert hook.event["id"] == public.id and "Special" not in hook.body.decode()


async def test_private_event_types_are_refused_at_subscription(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/v1/subscriptions",
        json={
            "url": "https://sis.example/hook",
            "secret": SECRET,
            "event_types": ["concern.submitted", "concern.contact_shared"],
        },
    )

    assert answer.status_code == 422
    body = answer.json()
    assert body["errors"][0]["field"] == "event_types"
    assert "concern.contact_shared" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "ftp://sis.example/hook"),
        ("secret", "short"),
        ("event_types", []),
        ("event_types", ["concern.unknown"]),
    ],
)
async def test_bad_subscription_is_refused_naming_the_field(
    client: httpx.AsyncClient, field: str, value: Any
) -> None:
    body = {
        "url": "https://sis.example/hook",
        "event_types": ["concern.submitted"],
        "secret": SECRET,
        field: value,
    }

    answer = await client.post("/v1/subscriptions", json=body)

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_subscriptions_are_listed_without_their_secret_and_can_be_deleted(
    client: httpx.AsyncClient,
) -> None:
    created = await subscribe(client, "https://sis.example/hook", "concern.resolved")

    listed = await client.get("/v1/subscriptions")
    one = await client.get(f"/v1/subscriptions/{created}")
    deleted = await client.delete(f"/v1/subscriptions/{created}")
    again = await client.delete(f"/v1/subscriptions/{created}")
    gone = await client.get(f"/v1/subscriptions/{created}")

    assert [s["id"] for s in listed.json()] == [created]
    assert one.json()["event_types"] == ["concern.resolved"]
    assert SECRET not in listed.text and SECRET not in one.text
    assert deleted.status_code == 204
    assert again.status_code == 404 and gone.status_code == 404


async def test_webhook_is_retried_with_backoff_until_the_receiver_takes_it(
    ctx: NotifyContext, client: httpx.AsyncClient, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    await subscribe(client, receiver.url, "concern.submitted")
    receiver.answer_next(503, times=2)

    event = await publish(ctx, submitted())
    advance(clock, 5)
    await dispatch_due(ctx=ctx)
    advance(clock, 30)
    await dispatch_due(ctx=ctx)

    assert len(receiver.received) == 3
    assert all(h.verified for h in receiver.received)
    # each attempt is signed afresh with its own time
    assert len({h.headers["x-bureau-timestamp"] for h in receiver.received}) == 3
    assert {h.headers["x-bureau-delivery"] for h in receiver.received} == {
        receiver.received[0].headers["x-bureau-delivery"]
    }
    [delivery] = await ctx.repo.for_concern(event.subject or "")
    assert (delivery.status.value, delivery.attempts) == ("sent", 3)
    assert [h.answer for h in delivery.history] == ["HTTP 503: {}", "HTTP 503: {}", "HTTP 200"]


async def test_webhook_failing_every_attempt_fails_without_publishing_a_notification_event(
    ctx: NotifyContext, client: httpx.AsyncClient, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    await subscribe(client, receiver.url, "concern.submitted")
    receiver.answer_next(500, times=5)

    event = await publish(ctx, submitted())
    for wait in (5, 30):
        advance(clock, wait)
        await dispatch_due(ctx=ctx)

    [delivery] = await ctx.repo.for_concern(event.subject or "")
    assert (delivery.status.value, delivery.attempts) == ("failed", 3)
    doc = await ctx.repo.get_document(delivery.id)
    assert doc is not None and doc.get("outbox", []) == []


async def test_receiver_refusing_the_signature_is_a_permanent_failure(
    ctx: NotifyContext, client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await subscribe(
        client, receiver.url, "concern.submitted", secret="not-the-receivers-secret-at-all"
    )

    event = await publish(ctx, submitted())

    [hook] = receiver.received
    assert not hook.verified
    [delivery] = await ctx.repo.for_concern(event.subject or "")
    assert (delivery.status.value, delivery.attempts) == ("failed", 1)
    assert delivery.last_error and delivery.last_error.startswith("HTTP 401")


async def test_redelivered_event_sends_one_webhook_per_subscription(
    ctx: NotifyContext, client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await subscribe(client, receiver.url, "concern.submitted")
    await subscribe(client, receiver.url + "/second", "*")
    [event] = envelopes([submitted()], source="/bureau/intake", time=NOW)

    for _ in range(3):
        await handlers.on_event(event, event.parsed(), ctx=ctx)
        await ctx.dispatch.settle()
        await dispatch_due(ctx=ctx)

    assert len(receiver.received) == 2
    assert {json.loads(h.body)["id"] for h in receiver.received} == {event.id}


async def test_pending_webhook_of_a_deleted_subscription_is_dropped(
    ctx: NotifyContext, client: httpx.AsyncClient, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    subscription = await subscribe(client, receiver.url, "concern.submitted")
    receiver.answer_next(503)
    event = await publish(ctx, submitted())

    await client.delete(f"/v1/subscriptions/{subscription}")
    advance(clock, 5)
    await dispatch_due(ctx=ctx)

    assert len(receiver.received) == 1
    [delivery] = await ctx.repo.for_concern(event.subject or "")
    assert delivery.status.value == "failed"
    assert delivery.last_error == "subscription was deleted"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://0x7f000001/hook",
        "http://2130706433/hook",
        "http://0177.0.0.1/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest",
        "http://0.0.0.0/hook",
        "https://bob:secret@sis.example/hook",
    ],
)
async def test_a_subscription_to_an_internal_address_or_with_credentials_is_refused(
    ctx: NotifyContext, client: httpx.AsyncClient, url: str
) -> None:
    """Security #7: webhooks reached loopback (hex spellings too) and showed credentials."""
    channel = ctx.channels[ChannelName.WEBHOOK]
    setattr(channel, "allowed_targets", ())  # noqa: B010  (no operator allow-list)
    answer = await client.post(
        "/v1/subscriptions",
        json={"url": url, "event_types": ["concern.submitted"], "secret": SECRET},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "url"
    assert "secret" not in answer.json()["detail"] and "bob" not in answer.json()["detail"]


async def test_a_delivery_to_a_target_no_longer_allowed_never_leaves(
    ctx: NotifyContext, client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    """Checked again at each delivery, on the address it connects to (pinned)."""
    await subscribe(client, receiver.url, "concern.submitted")  # allowed when subscribed
    setattr(ctx.channels[ChannelName.WEBHOOK], "allowed_targets", ())  # noqa: B010

    event = await publish(ctx, submitted())

    assert receiver.received == []
    [delivery] = await ctx.repo.for_concern(event.subject or "")
    assert delivery.status.value == "failed" and delivery.attempts == 1
