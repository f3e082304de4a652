"""Notify's handlers on in-memory repositories (milliseconds, no store): a new concern's
contact brings one acknowledgement, sent and logged once however often the event arrives; a
reply waits for the contact; public events become one signed webhook per subscription; a
survey is answered once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notify import handlers
from services.notify.audience import ContactUnknown
from services.notify.channels import RecordingChannel
from services.notify.context import NotifyContext
from services.notify.domain import ChannelName, DeliveryStatus, Kind
from services.notify.main import assemble_context
from services.notify.repository.fakes import (
    FakeConcernRepository,
    FakeDeliveryRepository,
    FakeSubscriptionRepository,
    FakeSurveyRepository,
    FakeTemplateRepository,
)
from services.notify.settings import NotifySettings
from services.notify.templates import load_seed
from shared.clock import FakeClock
from shared.district import load_district
from shared.events import (
    Channel,
    CloudEvent,
    ConcernAssigned,
    ConcernContactShared,
    ConcernReplyShared,
    ConcernSubmitted,
    ConcernUnassigned,
    EventData,
    RequesterContact,
    new_event,
)
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DISTRICT = load_district(DEFAULT_DISTRICT_CONFIG)


class Notify:
    """Notify's context over fakes, and what it sent."""

    def __init__(self) -> None:
        self.deliveries = FakeDeliveryRepository()
        self.subscriptions = FakeSubscriptionRepository()
        self.surveys = FakeSurveyRepository()
        self.email, self.webhook = RecordingChannel("email"), RecordingChannel("webhook")
        self.templates = FakeTemplateRepository()
        self.ctx: NotifyContext = assemble_context(
            repo=self.deliveries,  # type: ignore[arg-type]  # the fakes have the interface
            concerns=FakeConcernRepository(),
            templates=self.templates,  # type: ignore[arg-type]
            subscriptions=self.subscriptions,  # type: ignore[arg-type]
            surveys=self.surveys,  # type: ignore[arg-type]
            settings=NotifySettings(),
            clock=FakeClock(T0),
            district=DISTRICT,
            channels={ChannelName.EMAIL: self.email, ChannelName.WEBHOOK: self.webhook},
        )

    async def on(self, event: CloudEvent) -> None:
        if not self.templates.templates:
            await self.templates.seed(load_seed(), T0)
        await handlers.on_event(event, event.parsed(), ctx=self.ctx)
        await self.ctx.dispatch.settle()


def event(data: EventData) -> CloudEvent:
    return new_event(
        data, source="/bureau/intake", subject=getattr(data, "concern_id", None), time=T0
    )


CONTACT = ConcernContactShared(
    concern_id="c-1",
    tracking_number="CSB-2026-000001",
    category="transportation",
    submitted_at=T0,
    resolution_due_at=T0 + timedelta(days=3),
    requester=RequesterContact(name="Maria Lopez", email="maria@example.org", language="es"),
)


async def test_a_new_concerns_contact_brings_one_acknowledgement_however_often_it_arrives() -> None:
    notify = Notify()
    shared = event(CONTACT)
    await notify.on(shared)
    await notify.on(shared)  # redelivered
    [delivery] = await notify.deliveries.for_concern("c-1")
    assert (delivery.kind, delivery.status) == (Kind.ACKNOWLEDGEMENT, DeliveryStatus.SENT)
    assert delivery.language == "es" and delivery.attempts == 1
    assert [m.to for m in notify.email.sent] == ["maria@example.org"]
    assert "CSB-2026-000001" in notify.email.sent[0].text
    assert [e.type for e in notify.deliveries.outbox] == ["org.bureau.notification.sent.v1"]


async def test_a_refused_acknowledgement_is_queued_again_for_a_later_attempt() -> None:
    notify = Notify()
    notify.email.refuse_next("451 try again later")
    await notify.on(event(CONTACT))
    [delivery] = await notify.deliveries.for_concern("c-1")
    assert delivery.status is DeliveryStatus.QUEUED
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at > T0
    assert delivery.last_error == "451 try again later"
    assert notify.deliveries.outbox == []


async def test_a_reply_before_the_contact_is_known_waits_for_a_retry() -> None:
    notify = Notify()
    reply = ConcernReplyShared(concern_id="c-1", message_id="m-1", text="On it.", added_at=T0)
    with pytest.raises(ContactUnknown):
        await notify.on(event(reply))
    await notify.on(event(CONTACT))
    await notify.on(event(reply))  # the retry, once the contact arrived
    kinds = [d.kind for d in await notify.deliveries.for_concern("c-1")]
    assert sorted(kinds) == sorted([Kind.ACKNOWLEDGEMENT, Kind.REPLY])


async def test_a_public_event_becomes_one_webhook_per_subscription_that_asked_for_it() -> None:
    notify = Notify()
    wanted = await notify.subscriptions.create(
        url="https://sis.district.example/hook",
        event_types=["concern.submitted"],
        secret="s3cret-s3cret-s3cret",
        now=T0,
    )
    await notify.subscriptions.create(
        url="https://other.district.example/hook",
        event_types=["concern.resolved"],
        secret="s3cret-s3cret-s3cret",
        now=T0,
    )
    submitted = ConcernSubmitted(
        concern_id="c-1",
        tracking_number="CSB-2026-000001",
        channel=Channel.WEB,
        category="transportation",
        submitted_at=T0,
        resolution_due_at=T0 + timedelta(days=3),
    )
    await notify.on(event(submitted))
    [webhook] = await notify.deliveries.for_concern("c-1")
    assert (webhook.kind, webhook.recipient, webhook.publishes) == (Kind.WEBHOOK, wanted.id, False)
    assert [m.to for m in notify.webhook.sent] == [wanted.url]
    assert notify.deliveries.outbox == []  # a webhook publishes no notification event


async def test_a_survey_is_answered_once_before_it_expires() -> None:
    surveys = FakeSurveyRepository()
    await surveys.open(
        concern_id="c-1", token_hash="h", language="en", expires_at=T0 + timedelta(days=30), now=T0
    )
    assert await surveys.answer(token_hash="h", score=5, comment=None, now=T0, events=[])
    assert await surveys.answer(token_hash="h", score=1, comment=None, now=T0, events=[]) is None
    await surveys.open(
        concern_id="c-2", token_hash="h2", language="en", expires_at=T0, now=T0 - timedelta(days=30)
    )
    assert await surveys.answer(token_hash="h2", score=5, comment=None, now=T0, events=[]) is None


def assigned(assignee_id: str, minutes: int, *, by: str = "rules") -> CloudEvent:
    """The full (restricted) copy of an assignment, as bureau services get it."""
    return event(
        ConcernAssigned(
            concern_id="c-1",
            team_id="transportation",
            assignee_id=assignee_id,
            assignee_name=assignee_id,
            assigned_at=T0 + timedelta(minutes=minutes),
            decided_by=by,
        )
    )


async def test_a_member_a_concern_is_taken_from_is_told_once() -> None:
    notify = Notify()
    await notify.on(event(CONTACT))
    await notify.on(assigned("tr-lead", 1))
    moved = assigned("tr-1", 2)
    await notify.on(moved)
    await notify.on(moved)  # redelivered
    await notify.on(assigned("tr-lead", 1))  # an older assignment arriving late tells no one
    ended = [
        d for d in await notify.deliveries.for_concern("c-1") if d.kind is Kind.ASSIGNMENT_ENDED
    ]
    assert [(d.recipient, d.status) for d in ended] == [("tr-lead", DeliveryStatus.SENT)]
    [mail] = [m for m in notify.email.sent if "no longer assigned" in m.subject.lower()]
    assert "CSB-2026-000001" in mail.subject and "tr-1" not in mail.text


async def test_a_concern_left_without_an_assignee_tells_its_former_one() -> None:
    notify = Notify()
    await notify.on(event(CONTACT))
    await notify.on(assigned("tr-1", 1))
    await notify.on(
        event(
            ConcernUnassigned(
                concern_id="c-1", team_id="special-education", unassigned_at=T0 + timedelta(hours=1)
            )
        )
    )
    ended = [
        d for d in await notify.deliveries.for_concern("c-1") if d.kind is Kind.ASSIGNMENT_ENDED
    ]
    assert [d.recipient for d in ended] == ["tr-1"]
    assert not any("Special Education" in m.text for m in notify.email.sent)


async def test_a_member_who_hands_their_own_concern_over_is_not_told_of_it() -> None:
    notify = Notify()
    await notify.on(event(CONTACT))
    await notify.on(assigned("tr-lead", 1))
    await notify.on(assigned("tr-1", 2, by="tr-lead"))  # their own hand-over
    kinds = [d.kind for d in await notify.deliveries.for_concern("c-1")]
    assert Kind.ASSIGNMENT_ENDED not in kinds and Kind.ASSIGNMENT in kinds
