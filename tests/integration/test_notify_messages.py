"""Who hears what, in which language and by which channel: a real SMTP server, the SMS
provider stand-in (a local HTTP server in Twilio's shape) and the real store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymongo import AsyncMongoClient

from devtools.smtp_sink import SmtpSink
from services.notify import handlers, sms
from services.notify.audience import ContactUnknown
from services.notify.channels import HttpSmsChannel, OutboundChannel, SmtpEmailChannel
from services.notify.context import NotifyContext
from services.notify.dispatcher import dispatch_due
from services.notify.domain import ChannelName
from services.notify.handlers import TeamUnknown
from services.notify.main import build_context
from services.notify.settings import NotifySettings
from services.notify.testing import SmsProviderStandIn
from shared.clock import FakeClock
from shared.district import DistrictConfig, load_district
from shared.events import (
    CloudEvent,
    ConcernAssigned,
    ConcernContactShared,
    ConcernEscalated,
    ConcernReopened,
    ConcernReplyShared,
    ConcernResolutionShared,
    ConcernStatusChanged,
    ConcernTriaged,
    ConcernUnassigned,
    EventData,
    Priority,
    RequesterContact,
    SlaTarget,
    SlaWarning,
    decode,
    envelopes,
)
from shared.messaging.transient import is_transient
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.integration.notify_api import api_client

pytestmark = pytest.mark.integration

SUMMARY = "The driver now stops at Oak Street."  # what staff wrote when resolving


def resolution_of(concern_id: str, at: datetime) -> ConcernResolutionShared:
    """A resolution as intake shares it with notify (with the summary staff wrote)."""
    return ConcernResolutionShared(concern_id=concern_id, summary=SUMMARY, resolved_at=at)


DAY = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 09:30 in Chicago
NIGHT = datetime(2026, 3, 3, 5, 0, tzinfo=UTC)  # 23:00 in Chicago
NEXT_MORNING = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)  # 08:00 CST
EMAIL = "ana.perez@example.org"
PHONE = "+15125550123"
SID, TOKEN, SENDER = "AC" + "1" * 32, "provider-token", "+15125550000"


def write_district(path: Path) -> Path:
    """The example district with staff emails (and one phone), as a district would set them."""
    config = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    for member in config["staff"]:
        member["email"] = f"{member['id']}@district.example"
        if member["id"] == "tr-lead":
            member["phone"] = "+15125550199"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


@pytest.fixture
def district(tmp_path: Path) -> DistrictConfig:
    return load_district(write_district(tmp_path / "district.yaml"))


@pytest.fixture
def provider() -> Iterator[SmsProviderStandIn]:
    server = SmsProviderStandIn(account_sid=SID, auth_token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
async def ctx(
    mongo: AsyncMongoClient[Any],
    isolation: Any,
    sink: SmtpSink,
    provider: SmsProviderStandIn,
    district: DistrictConfig,
) -> NotifyContext:
    settings = NotifySettings(delivery_attempts=3, delivery_backoff_s=[5, 30])
    channels: dict[ChannelName, OutboundChannel] = {
        ChannelName.EMAIL: SmtpEmailChannel(
            host="127.0.0.1",
            port=sink.port,
            timeout_s=5,
            mail_from="Bureau <bureau@district.example>",
        ),
        ChannelName.SMS: HttpSmsChannel(
            api_url=provider.url, account_sid=SID, auth_token=TOKEN, sender=SENDER, timeout_s=5
        ),
    }
    return await build_context(
        mongo[isolation.db("notify")],
        settings=settings,
        clock=FakeClock(DAY),
        district=district,
        channels=channels,
    )


def at(ctx: NotifyContext, moment: datetime) -> None:
    clock = ctx.clock
    assert isinstance(clock, FakeClock)
    clock.advance(moment - clock.now())


async def deliver(ctx: NotifyContext, data: EventData) -> CloudEvent:
    """One event through notify as the consumer would hand it, then a dispatcher pass."""
    [event] = envelopes([data], source="/bureau/test", time=ctx.clock.now())
    await handlers.on_event(event, event.parsed(), ctx=ctx)
    await ctx.dispatch.settle()
    await dispatch_due(ctx=ctx)
    return event


def contact(
    concern: str, language: str, *, email: str | None = EMAIL, phone: str | None = None
) -> ConcernContactShared:
    return ConcernContactShared(
        concern_id=concern,
        tracking_number="CS-2026-000777",
        category="transportation",
        submitted_at=DAY,
        resolution_due_at=DAY + timedelta(hours=72),
        requester=RequesterContact(name="Ana Pérez", email=email, phone=phone, language=language),
    )


def requester_journey(concern: str) -> list[EventData]:
    """What a requester hears of, after the acknowledgement, in order."""
    return [
        # a request for information: its question (one message), then the wait it starts
        ConcernReplyShared(
            concern_id=concern,
            message_id="m-0",
            author_name="Ana Kowalski",
            text="Which stop does your child wait at?",
            added_at=DAY,
            information_request=True,
        ),
        ConcernStatusChanged(
            concern_id=concern,
            from_status="acknowledged",
            to_status="awaiting_requester",
            changed_at=DAY,
        ),
        ConcernReplyShared(
            concern_id=concern,
            message_id="m-1",
            author_name="Ana Kowalski",
            text="The bus will stop at your corner again from Monday.",
            added_at=DAY,
        ),
        resolution_of(concern, DAY),
        ConcernReopened(concern_id=concern, reopened_at=DAY + timedelta(minutes=1)),
    ]


EMAIL_WORDS = {
    "en": [
        "We received your concern - tracking number CS-2026-000777",
        "We need more information about your concern CS-2026-000777",
        "A reply about your concern CS-2026-000777",
        "Your concern CS-2026-000777 has been resolved",
        "Your concern CS-2026-000777 has been reopened",
    ],
    "es": [
        "Hemos recibido su inquietud - número de seguimiento CS-2026-000777",
        "Necesitamos más información sobre su inquietud CS-2026-000777",
        "Respuesta sobre su inquietud CS-2026-000777",
        "Su inquietud CS-2026-000777 ha sido resuelta",
        "Su inquietud CS-2026-000777 ha sido reabierta",
    ],
}


@pytest.mark.parametrize("language", ["en", "es"])
async def test_email_requester_hears_each_step_in_their_language(
    ctx: NotifyContext, sink: SmtpSink, language: str
) -> None:
    concern = str(uuid.uuid4())

    await deliver(ctx, contact(concern, language))
    for data in requester_journey(concern):
        await deliver(ctx, data)

    assert [m.subject for m in sink.mails] == EMAIL_WORDS[language]
    assert all(m.recipients == (EMAIL,) for m in sink.mails)
    assert all(m.message["Content-Language"] == language for m in sink.mails)
    ack, info, reply, resolution, _ = (m.text for m in sink.mails)
    assert ("Hola, Ana Pérez:" if language == "es" else "Hello Ana Pérez,") in ack
    assert "http://127.0.0.1:8000/status/CS-2026-000777" in info
    assert "The bus will stop at your corner again from Monday." in reply
    assert "Ana Kowalski" in reply
    assert "http://127.0.0.1:8000/survey/" in resolution  # the web frontend (PUBLIC_BASE_URL)
    what_we_did = "Lo que hicimos" if language == "es" else "What we did"
    assert f"{what_we_did}: {SUMMARY}" in resolution  # the family reads what was done
    deliveries = await ctx.repo.for_concern(concern)
    assert [d.status.value for d in deliveries] == ["sent"] * 5


SMS_WORDS = {
    "en": [
        "we received your concern",
        "we need more information",
        "The bus will stop at your corner",
        "has been resolved",
        "has been reopened",
    ],
    "es": [
        "recibimos su inquietud",
        "necesitamos mas informacion",
        "The bus will stop at your corner",
        "ha sido resuelta",
        "ha sido reabierta",
    ],
}


@pytest.mark.parametrize("language", ["en", "es"])
async def test_phone_only_requester_hears_each_step_by_sms_within_the_length_limit(
    ctx: NotifyContext, provider: SmsProviderStandIn, sink: SmtpSink, language: str
) -> None:
    concern = str(uuid.uuid4())

    await deliver(ctx, contact(concern, language, email=None, phone=PHONE))
    for data in requester_journey(concern):
        await deliver(ctx, data)

    assert sink.mails == []
    assert len(provider.messages) == 5
    for message, words in zip(provider.messages, SMS_WORDS[language], strict=True):
        assert words in message.body
        assert (message.to, message.sender, message.authorized) == (PHONE, SENDER, True)
        assert sms.segments(message.body) <= ctx.config.sms_max_segments
    [delivery, *_] = await ctx.repo.for_concern(concern)
    assert delivery.channel is ChannelName.SMS and delivery.provider_answer
    assert PHONE not in (delivery.provider_answer or "")


async def test_unsupported_language_is_answered_in_english(
    ctx: NotifyContext, sink: SmtpSink
) -> None:
    await deliver(ctx, contact(str(uuid.uuid4()), "fr"))

    assert sink.mails[0].subject.startswith("We received your concern")
    assert sink.mails[0].message["Content-Language"] == "en"


async def test_long_reply_by_sms_is_cut_to_the_segment_limit(
    ctx: NotifyContext, provider: SmsProviderStandIn
) -> None:
    concern = str(uuid.uuid4())
    await deliver(ctx, contact(concern, "en", email=None, phone=PHONE))

    await deliver(
        ctx,
        ConcernReplyShared(
            concern_id=concern,
            message_id="m-long",
            text="We looked into the route. " * 40,
            added_at=DAY,
        ),
    )

    reply = provider.messages[-1].body
    assert sms.segments(reply) == ctx.config.sms_max_segments
    assert reply.endswith("...")


async def test_requester_message_before_the_contact_is_known_is_retried(ctx: NotifyContext) -> None:
    [event] = envelopes([resolution_of(str(uuid.uuid4()), DAY)], source="/bureau/test", time=DAY)

    with pytest.raises(ContactUnknown):
        await handlers.on_event(event, event.parsed(), ctx=ctx)


async def test_staff_hear_of_assignment_warning_and_escalation_with_a_case_link(
    ctx: NotifyContext, sink: SmtpSink
) -> None:
    concern = str(uuid.uuid4())
    await deliver(ctx, contact(concern, "es"))
    sink.mails.clear()

    await deliver(
        ctx,
        ConcernAssigned(
            concern_id=concern,
            team_id="transportation",
            assignee_id="tr-lead",
            assignee_name="Ana Kowalski",
            assigned_at=DAY,
        ),
    )
    await deliver(
        ctx,
        SlaWarning(
            concern_id=concern,
            target=SlaTarget.RESOLUTION,
            due_at=DAY + timedelta(hours=72),
            warned_at=DAY,
            percent=75,
            policy="standard",
        ),
    )
    await deliver(
        ctx,
        ConcernEscalated(
            concern_id=concern,
            level=1,
            role="principal",
            escalated_to="p-lincoln",
            escalated_to_name="Dana Whitfield",
            escalated_at=DAY,
            school_id="lincoln-es",
        ),
    )

    assigned, warned, escalated = sink.mails
    assert assigned.recipients == ("tr-lead@district.example",)
    assert assigned.subject == "Assigned to you: concern CS-2026-000777 (Transportation)"
    assert warned.recipients == ("tr-lead@district.example",)  # the assignee
    assert "75% of its resolution time" in warned.subject
    assert escalated.recipients == ("p-lincoln@district.example",)
    assert "at Lincoln Elementary" in escalated.text
    case_link = f"https://bureau.district.example/staff/concerns/{concern}"
    assert all(case_link in m.text for m in sink.mails)
    # staff read English whatever the requester's language
    assert all(m.message["Content-Language"] == "en" for m in sink.mails)


async def test_warning_fired_before_triage_named_the_team_waits_for_it_then_goes_once(
    ctx: NotifyContext, sink: SmtpSink
) -> None:
    concern = str(uuid.uuid4())
    await deliver(ctx, contact(concern, "en"))
    sink.mails.clear()
    warning = SlaWarning(
        concern_id=concern,
        target=SlaTarget.FIRST_RESPONSE,
        due_at=DAY + timedelta(hours=24),
        warned_at=DAY,
        percent=50,
        policy="standard",
    )

    with pytest.raises(TeamUnknown) as waiting:  # the consumer retries it, never parks it
        await deliver(ctx, warning)
    assert is_transient(waiting.value)
    await deliver(
        ctx,
        ConcernTriaged(
            concern_id=concern,
            category="transportation",
            team_id="transportation",
            team_name="Transportation Department",
            priority=Priority.NORMAL,
            rule="category",
            triaged_at=DAY,
        ),
    )
    [event] = envelopes([warning], source="/bureau/test", time=DAY)
    await handlers.on_event(event, event.parsed(), ctx=ctx)  # the retry
    await handlers.on_event(event, event.parsed(), ctx=ctx)  # and a redelivery of it
    await ctx.dispatch.settle()

    warned = [m for m in sink.mails if "50% of its first response time" in m.subject]
    assert len(warned) == 1
    assert warned[0].recipients == ("tr-lead@district.example",)


async def test_critical_concern_reaches_the_team_lead_and_night_desk_at_once_at_night(
    ctx: NotifyContext, sink: SmtpSink, provider: SmsProviderStandIn
) -> None:
    at(ctx, NIGHT)
    concern = str(uuid.uuid4())

    await deliver(
        ctx,
        ConcernTriaged(
            concern_id=concern,
            category="transportation",
            team_id="transportation",
            team_name="Transportation Department",
            priority=Priority.CRITICAL,
            rule="category",
            triaged_at=NIGHT,
        ),
    )

    # the team lead, and the safety desk on duty (the district file's night shift)
    assert sorted(m.recipients for m in sink.mails) == [
        ("security.desk@district.example",),
        ("tr-lead@district.example",),
    ]
    assert all(m.subject.startswith("Critical concern") for m in sink.mails)
    assert sorted(t.to for t in provider.messages) == ["+15125550199", "+15555550191"]
    assert all("CRITICAL" in t.body for t in provider.messages)


async def test_non_critical_triage_sends_nothing(ctx: NotifyContext, sink: SmtpSink) -> None:
    await deliver(
        ctx,
        ConcernTriaged(
            concern_id=str(uuid.uuid4()),
            category="transportation",
            team_id="transportation",
            team_name="Transportation",
            priority=Priority.NORMAL,
            rule="category",
            triaged_at=DAY,
        ),
    )

    assert sink.mails == []


async def test_sms_at_night_waits_for_the_morning_while_email_goes_at_once(
    ctx: NotifyContext, sink: SmtpSink, provider: SmsProviderStandIn
) -> None:
    at(ctx, NIGHT)
    by_sms, by_email = str(uuid.uuid4()), str(uuid.uuid4())

    await deliver(ctx, contact(by_sms, "en", email=None, phone=PHONE))
    await deliver(ctx, contact(by_email, "en"))

    assert len(sink.mails) == 1
    assert provider.messages == []
    [held] = await ctx.repo.for_concern(by_sms)
    assert held.status.value == "queued" and held.next_attempt_at == NEXT_MORNING

    at(ctx, NEXT_MORNING - timedelta(minutes=1))
    assert await dispatch_due(ctx=ctx) == 0
    at(ctx, NEXT_MORNING)
    assert await dispatch_due(ctx=ctx) == 1
    assert [m.to for m in provider.messages] == [PHONE]


async def test_sms_outage_is_retried_with_backoff_then_fails_for_good_and_says_so(
    ctx: NotifyContext, provider: SmsProviderStandIn
) -> None:
    concern = str(uuid.uuid4())
    provider.answer_next(503, {"code": 20503, "message": "Service unavailable"}, times=3)

    await deliver(ctx, contact(concern, "en", email=None, phone=PHONE))
    [delivery] = await ctx.repo.for_concern(concern)
    assert (delivery.status.value, delivery.attempts) == ("queued", 1)
    assert delivery.next_attempt_at == DAY + timedelta(seconds=5)

    at(ctx, DAY + timedelta(seconds=5))
    assert await dispatch_due(ctx=ctx) == 1
    [delivery] = await ctx.repo.for_concern(concern)
    assert delivery.next_attempt_at == DAY + timedelta(seconds=35)
    at(ctx, DAY + timedelta(seconds=35))
    assert await dispatch_due(ctx=ctx) == 1  # the third and last attempt

    doc = await ctx.repo.get_document(delivery.id)
    assert doc is not None and doc["status"] == "failed" and doc["attempts"] == 3
    assert [h["answer"] for h in doc["history"]] == [
        "HTTP 503: code=20503 message=Service unavailable"
    ] * 3
    [failed] = [decode(bytes(e["body"])) for e in doc["outbox"]]
    assert failed.name == "notification.failed"
    assert failed.data["channel"] == "sms" and failed.data["kind"] == "acknowledgement"
    assert PHONE not in bytes(doc["outbox"][0]["body"]).decode()
    assert provider.messages == []


async def test_invalid_number_fails_at_once_without_quoting_it(
    ctx: NotifyContext, provider: SmsProviderStandIn
) -> None:
    concern = str(uuid.uuid4())
    provider.answer_next(
        400,
        {
            "code": 21211,
            "status": 400,
            "message": f"The 'To' number {PHONE} is not a valid phone number.",
        },
    )

    await deliver(ctx, contact(concern, "en", email=None, phone=PHONE))

    [delivery] = await ctx.repo.for_concern(concern)
    assert (delivery.status.value, delivery.attempts) == ("failed", 1)
    assert "21211" in (delivery.last_error or "")
    assert PHONE not in (delivery.last_error or "") and "5550123" not in (delivery.last_error or "")


async def test_a_bounce_quoting_the_number_in_another_form_reaches_no_event_log_or_view(
    ctx: NotifyContext, provider: SmsProviderStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    """Security #4: only exact addresses were scrubbed, so a provider's answer quoting a
    variant reached `notification.failed` (public), the notify log and the staff view."""
    concern = str(uuid.uuid4())
    variant = "(512) 555-0123"
    provider.answer_next(
        400, {"code": 21211, "status": 400, "message": f"The 'To' number {variant} is not valid."}
    )
    caplog.set_level("DEBUG", logger="services.notify")

    await deliver(ctx, contact(concern, "en", email=None, phone=PHONE))
    logged = " ".join(
        f"{r.getMessage()} {r.__dict__}"
        for r in caplog.records
        if r.name.startswith("services.notify")
    )

    [delivery] = await ctx.repo.for_concern(concern)
    doc = await ctx.repo.get_document(delivery.id)
    assert doc is not None
    [failed] = [decode(bytes(e["body"])) for e in doc["outbox"]]
    assert failed.data["error"] == "refused (code 400, code 21211)"
    async with api_client(ctx, "intake_agent") as http:
        view = (await http.get(f"/v1/concerns/{concern}/deliveries")).text
    assert "21211" in view
    for shown in (str(failed.data), view, logged):
        assert "555-0123" not in shown and "not valid" not in shown


async def test_each_message_is_recorded_once_per_event_fact_across_redeliveries(
    ctx: NotifyContext, sink: SmtpSink
) -> None:
    concern = str(uuid.uuid4())
    await deliver(ctx, contact(concern, "en"))
    reply = ConcernReplyShared(concern_id=concern, message_id="m-2", text="Done.", added_at=DAY)

    for _ in range(3):  # redelivered, and republished in new envelopes
        await deliver(ctx, reply)

    assert len(sink.mails) == 2
    assert len(await ctx.repo.for_concern(concern)) == 2


async def test_a_member_a_concern_is_taken_from_hears_it_once_and_not_where_it_went(
    ctx: NotifyContext, sink: SmtpSink
) -> None:
    concern = str(uuid.uuid4())
    await deliver(ctx, contact(concern, "es"))

    def assigned(assignee_id: str, minutes: int) -> ConcernAssigned:
        return ConcernAssigned(
            concern_id=concern,
            team_id="transportation",
            assignee_id=assignee_id,
            assignee_name=assignee_id,
            assigned_at=DAY + timedelta(minutes=minutes),
        )

    await deliver(ctx, assigned("tr-lead", 1))
    moved = await deliver(ctx, assigned("tr-1", 2))
    await handlers.on_event(moved, moved.parsed(), ctx=ctx)  # redelivered
    await deliver(ctx, assigned("tr-lead", 1))  # an older assignment arriving late
    await deliver(
        ctx,
        ConcernUnassigned(
            concern_id=concern, team_id="special-education", unassigned_at=DAY + timedelta(hours=1)
        ),
    )
    await ctx.dispatch.settle()
    await dispatch_due(ctx=ctx)

    ended = [m for m in sink.mails if m.subject.startswith("No longer assigned to you")]
    assert [m.recipients for m in ended] == [
        ("tr-lead@district.example",),
        ("tr-1@district.example",),
    ]
    assert all("CS-2026-000777" in m.subject for m in ended)
    assert not any("Special Education" in m.text or "tr-1" in m.text for m in ended)
