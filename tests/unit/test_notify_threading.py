"""Every mail notify sends a requester about a concern that came by email answers the parent's
own mail: `In-Reply-To` its Message-ID, `References` the concern's thread and it, the tracking
number in the subject. Through notify's handlers on in-memory repositories (the Message-ID
comes from notify's own store of the contact) and the SMTP channel's headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from services.notify import handlers
from services.notify.channels import OutgoingMessage, RecordingChannel, SmtpEmailChannel
from services.notify.context import NotifyContext
from services.notify.domain import ChannelName, Kind
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
    CloudEvent,
    ConcernContactShared,
    ConcernMerged,
    ConcernReopened,
    ConcernReplyShared,
    ConcernResolutionShared,
    EventData,
    RequesterContact,
    new_event,
)
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
CONCERN = "0b8d7c36-8a6e-4d3e-9f5a-2c1e0d9b7a11"
TRACKING = "CSB-2026-000001"
PARENT = "<CAF7k2x9Q@mail.example.org>"
ROOT = f"<concern.{CONCERN}@district.example>"
SMTP = SmtpEmailChannel(
    host="127.0.0.1", port=1, timeout_s=1, mail_from="Bureau <bureau@district.example>"
)


class Notify:
    """Notify's context over fakes, and the mails it sent, as the SMTP channel builds them."""

    def __init__(self) -> None:
        self.deliveries = FakeDeliveryRepository()
        self.email = RecordingChannel("email")
        self.templates = FakeTemplateRepository()
        self.ctx: NotifyContext = assemble_context(
            repo=self.deliveries,  # type: ignore[arg-type]  # the fakes have the interface
            concerns=FakeConcernRepository(),
            templates=self.templates,  # type: ignore[arg-type]
            subscriptions=FakeSubscriptionRepository(),  # type: ignore[arg-type]
            surveys=FakeSurveyRepository(),  # type: ignore[arg-type]
            settings=NotifySettings(),
            clock=FakeClock(T0),
            district=load_district(DEFAULT_DISTRICT_CONFIG),
            channels={ChannelName.EMAIL: self.email},
        )

    async def on(self, data: EventData) -> None:
        if not self.templates.templates:
            await self.templates.seed(load_seed(), T0)
        event: CloudEvent = new_event(data, source="/bureau/intake", subject=CONCERN, time=T0)
        await handlers.on_event(event, event.parsed(), ctx=self.ctx)
        await self.ctx.dispatch.settle()

    async def mail(self, kind: Kind) -> EmailMessage:
        """The one mail of `kind` sent, with its headers."""
        ids = {d.id for d in await self.deliveries.for_concern(CONCERN) if d.kind is kind}
        [sent] = [m for m in self.email.sent if m.delivery_id in ids]
        return SMTP.build(sent)


def contact(
    *, reply_to_message_id: str | None = PARENT, language: str = "en"
) -> ConcernContactShared:
    return ConcernContactShared(
        concern_id=CONCERN,
        tracking_number=TRACKING,
        category="transportation",
        submitted_at=T0,
        resolution_due_at=T0 + timedelta(days=3),
        requester=RequesterContact(
            name="Maria Lopez", email="maria@example.org", language=language
        ),
        reply_to_message_id=reply_to_message_id,
    )


LATER = T0 + timedelta(hours=1)
# each mail a requester hears after the acknowledgement, by the event that causes it
REQUESTER_MAILS: list[tuple[Kind, EventData]] = [
    (
        Kind.INFORMATION_REQUEST,
        ConcernReplyShared(
            concern_id=CONCERN,
            message_id="m-1",
            text="Which stop does your child take?",
            author_name="Ana",
            added_at=LATER,
            information_request=True,
        ),
    ),
    (
        Kind.REPLY,
        ConcernReplyShared(
            concern_id=CONCERN, message_id="m-2", text="We called the bus company.", added_at=LATER
        ),
    ),
    (
        Kind.RESOLUTION,
        ConcernResolutionShared(concern_id=CONCERN, summary="Route fixed.", resolved_at=LATER),
    ),
    (Kind.REOPENING, ConcernReopened(concern_id=CONCERN, reopened_at=LATER)),
    (
        Kind.MERGED,
        ConcernMerged(
            concern_id=CONCERN, into_concern_id="c-other", merged_at=LATER, decided_by="sd-lead"
        ),
    ),
]


@pytest.mark.parametrize(("kind", "data"), REQUESTER_MAILS, ids=[k for k, _ in REQUESTER_MAILS])
async def test_every_requester_mail_of_an_emailed_concern_answers_the_parents_mail(
    kind: Kind, data: EventData
) -> None:
    notify = Notify()
    await notify.on(contact())
    await notify.on(data)
    mail = await notify.mail(kind)
    assert mail["In-Reply-To"] == PARENT
    assert mail["References"].split() == [ROOT, PARENT]  # as the acknowledgement's
    assert TRACKING in mail["Subject"]
    assert mail["Reply-To"] == "Bureau <bureau@district.example>"
    # and it is the bureau's own mail, which a reply to it names
    assert str(mail["Message-ID"]).startswith(f"<{CONCERN}.")
    assert mail["Message-ID"] != (await notify.mail(Kind.ACKNOWLEDGEMENT))["Message-ID"]


async def test_a_reminder_to_answer_is_threaded_like_the_request() -> None:
    notify = Notify()
    await notify.on(contact())
    reminder = ConcernReplyShared(  # intake's reminder: the bureau's words, no author
        concern_id=CONCERN, message_id="e-9", text="", added_at=LATER, information_request=True
    )
    await notify.on(reminder)
    mail = await notify.mail(Kind.INFORMATION_REQUEST)
    assert (mail["In-Reply-To"], mail["References"].split()) == (PARENT, [ROOT, PARENT])


async def test_the_acknowledgement_answers_the_parents_mail_too() -> None:
    notify = Notify()
    await notify.on(contact())
    mail = await notify.mail(Kind.ACKNOWLEDGEMENT)
    assert (mail["In-Reply-To"], mail["References"].split()) == (PARENT, [ROOT, PARENT])


async def test_a_concern_not_born_of_a_mail_keeps_only_the_concerns_thread() -> None:
    notify = Notify()
    await notify.on(contact(reply_to_message_id=None))  # e.g. the web form
    await notify.on(REQUESTER_MAILS[0][1])
    mail = await notify.mail(Kind.INFORMATION_REQUEST)
    assert (mail["In-Reply-To"], mail["References"]) == (ROOT, ROOT)


def test_the_channel_answers_the_message_id_it_is_given_after_the_concerns_thread() -> None:
    mail = SMTP.build(
        OutgoingMessage(
            delivery_id=f"{CONCERN}:resolution:2026-03-02T16:00:00.000:email",
            to="maria@example.org",
            to_name="Maria",
            subject=f"Your concern {TRACKING} has been resolved",
            text="Hello\n",
            language="en",
            created_at=T0,
            in_reply_to=PARENT,
        )
    )
    assert (mail["In-Reply-To"], mail["References"].split()) == (PARENT, [ROOT, PARENT])


@pytest.mark.parametrize(
    ("language", "says"),
    [
        ("en", "You can reply to this message"),
        ("es", "Puede responder a este mensaje"),
    ],
)
async def test_the_mailed_request_for_information_says_replying_answers(
    language: str, says: str
) -> None:
    notify = Notify()
    await notify.on(contact(language=language))
    await notify.on(REQUESTER_MAILS[0][1])
    [request] = [
        m
        for m in notify.email.sent
        if m.delivery_id.startswith(f"{CONCERN}:{Kind.INFORMATION_REQUEST.value}:")
    ]
    assert says in request.text
    assert "Which stop does your child take?" in request.text
    # and the acknowledgement, by the same channel, says the same
    [ack] = [m for m in notify.email.sent if m is not request and says in m.text]
    assert ack.delivery_id.endswith(":acknowledgement:email")
