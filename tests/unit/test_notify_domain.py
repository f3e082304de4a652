"""Notify's pure rules: the acknowledgement's words and the life of a delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.notify import audience, domain, templates
from services.notify.channels import OutgoingMessage, SmtpEmailChannel
from services.notify.config import NotifyConfig
from services.notify.domain import ChannelName, DeliveryStatus, Kind
from services.notify.repository import ConcernFacts, Contact
from services.notify.settings import NotifySettings
from shared.district import load_district
from shared.events import ConcernContactShared, RequesterContact
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

DISTRICT = load_district(DEFAULT_DISTRICT_CONFIG)
SUBMITTED = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
SEEDS = {t.key: t for t in templates.load_seed()}
NO_STATUS_PAGE = NotifyConfig(status_url=None)


def contact(
    language: str = "en",
    *,
    name: str | None = "Ana Pérez",
    email: str | None = "ana.perez@example.org",
    due: datetime = SUBMITTED + timedelta(hours=72),
) -> ConcernContactShared:
    return ConcernContactShared(
        concern_id="c-1",
        tracking_number="CS-2026-000123",
        category="transportation",
        submitted_at=SUBMITTED,
        resolution_due_at=due,
        requester=RequesterContact(name=name, email=email, language=language),
    )


def render_acknowledgement(
    data: ConcernContactShared,
    *,
    category: str | None = "transportation",
    config: NotifyConfig = NO_STATUS_PAGE,
) -> templates.Rendered:
    """The acknowledgement email as notify composes it from the seeded templates."""
    requester = data.requester
    facts = ConcernFacts(
        concern_id=data.concern_id,
        tracking_number=data.tracking_number,
        category=category,
        resolution_due_at=data.resolution_due_at,
        contact=Contact(
            name=requester.name,
            email=requester.email,
            phone=requester.phone,
            language=requester.language,
        ),
    )
    [planned] = audience.plan(
        "concern.contact_shared",
        data,
        facts=facts,
        district=DISTRICT,
        config=config,
        available=frozenset({ChannelName.EMAIL}),
    )
    template = (
        SEEDS.get(f"acknowledgement:email:{planned.language}") or SEEDS["acknowledgement:email:en"]
    )
    values = audience.template_values(
        planned,
        language=template.language,
        concern_id=data.concern_id,
        facts=facts,
        district=DISTRICT,
        config=config,
    )
    return templates.render(template, values)


def test_english_acknowledgement_names_tracking_number_and_due_time_in_district_zone() -> None:
    message = render_acknowledgement(contact("en"))

    assert message.language == "en"
    assert "CS-2026-000123" in message.subject
    assert "Your tracking number is CS-2026-000123." in message.text
    # 15:30 UTC on 5 March is 9:30 in Chicago (CST, UTC-6)
    assert "by Thursday, March 5, 2026 at 9:30 AM CST." in message.text
    assert "Example Unified School District" in message.text
    assert "(category: Transportation)" in message.text
    assert message.text.startswith("Hello Ana Pérez,")


def test_spanish_acknowledgement_is_written_in_spanish_with_24_hour_local_time() -> None:
    message = render_acknowledgement(contact("es"))

    assert message.language == "es"
    assert message.subject == ("Hemos recibido su inquietud - número de seguimiento CS-2026-000123")
    assert "Su número de seguimiento es CS-2026-000123." in message.text
    assert "a más tardar el jueves 5 de marzo de 2026 a las 09:30 (CST)." in message.text
    assert "(categoría: Transporte)" in message.text
    assert "Example Unified School District" in message.text


def test_regional_spanish_is_answered_in_spanish() -> None:
    message = render_acknowledgement(contact("es-MX"))

    assert message.language == "es"
    assert "Hola, Ana Pérez:" in message.text


def test_unsupported_language_falls_back_to_english() -> None:
    message = render_acknowledgement(contact("fr"))

    assert message.language == "en"
    assert message.subject == "We received your concern - tracking number CS-2026-000123"


def test_due_time_follows_daylight_saving_in_the_district_zone() -> None:
    summer = contact("en", due=datetime(2026, 7, 1, 6, 5, tzinfo=UTC))

    text = render_acknowledgement(summer).text

    assert "by Wednesday, July 1, 2026 at 1:05 AM CDT." in text


def test_spanish_says_a_la_for_one_o_clock() -> None:
    early = contact("es", due=datetime(2026, 3, 6, 7, 15, tzinfo=UTC))

    assert "el viernes 6 de marzo de 2026 a la 01:15 (CST)" in render_acknowledgement(early).text


def test_anonymous_requester_gets_a_plain_greeting_and_no_category_line_without_one() -> None:
    message = render_acknowledgement(contact("en", name=None), category=None)

    assert message.text.startswith("Hello,\n")
    assert "(category" not in message.text


def test_acknowledgement_carries_no_student_information() -> None:
    for language in ("en", "es"):
        text = render_acknowledgement(contact(language)).text.lower()
        assert not any(word in text for word in ("student", "estudiante", "alumno", "grade"))


def test_contact_event_refuses_student_fields() -> None:
    fields = contact().model_dump()
    with pytest.raises(ValidationError):
        ConcernContactShared.model_validate({**fields, "student": {"name": "Sam"}})


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        (1, DeliveryStatus.QUEUED),
        (4, DeliveryStatus.QUEUED),
        (5, DeliveryStatus.FAILED),
        (6, DeliveryStatus.FAILED),
    ],
)
def test_failed_attempt_requeues_until_the_last_allowed_attempt(
    attempts: int, expected: DeliveryStatus
) -> None:
    assert domain.after_failure(attempts=attempts, max_attempts=5, permanent=False) is expected


def test_permanent_refusal_fails_at_once() -> None:
    assert domain.after_failure(attempts=1, max_attempts=5, permanent=True) is DeliveryStatus.FAILED


def test_failure_rule_rejects_an_attempt_that_never_started() -> None:
    with pytest.raises(ValueError):
        domain.after_failure(attempts=0, max_attempts=5, permanent=False)


def test_only_failed_and_skipped_are_final_and_a_sent_mail_fails_only_by_bouncing() -> None:
    final = {status for status, nexts in domain.TRANSITIONS.items() if not nexts}
    assert final == {DeliveryStatus.FAILED, DeliveryStatus.SKIPPED}
    assert domain.TRANSITIONS[DeliveryStatus.SENT] == {DeliveryStatus.FAILED}
    assert DeliveryStatus.SENDING in domain.TRANSITIONS[DeliveryStatus.QUEUED]
    assert DeliveryStatus.QUEUED in domain.TRANSITIONS[DeliveryStatus.SENDING]


def test_one_delivery_id_per_concern_kind_and_channel() -> None:
    assert (
        domain.delivery_id("c-1", Kind.ACKNOWLEDGEMENT, ChannelName.EMAIL)
        == "c-1:acknowledgement:email"
    )


def test_message_id_is_stable_per_delivery_and_distinct_between_deliveries() -> None:
    first = domain.message_id("c-1:acknowledgement:email", "district.example")

    assert first == domain.message_id("c-1:acknowledgement:email", "district.example")
    assert first != domain.message_id("c-2:acknowledgement:email", "district.example")
    assert first.startswith("<") and first.endswith("@district.example>")


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("ana.perez@example.org", "a***@example.org"),
        ("b@example.org", "b***@example.org"),
        ("not-an-address", "***"),
    ],
)
def test_address_is_masked_to_first_letter_and_domain(address: str, masked: str) -> None:
    assert domain.mask_address(address) == masked


def test_redact_removes_the_address_in_any_case() -> None:
    answer = "550 5.1.1 <Ana.Perez@Example.org>: mailbox unavailable"

    redacted = domain.redact(answer, "ana.perez@example.org")

    assert "example.org" not in redacted.lower()
    assert redacted == "550 5.1.1 <<recipient>>: mailbox unavailable"


def _outgoing(name: str | None = "Ana Pérez") -> OutgoingMessage:
    return OutgoingMessage(
        delivery_id="c-1:acknowledgement:email",
        to="ana@example.org",
        to_name=name,
        subject="Subject",
        text="Body\n",
        language="es",
        created_at=SUBMITTED,
    )


def test_email_attempts_of_one_delivery_share_a_message_id() -> None:
    channel = SmtpEmailChannel(
        host="127.0.0.1", port=1, timeout_s=1, mail_from="Bureau <bureau@district.example>"
    )

    first, second = channel.build(_outgoing()), channel.build(_outgoing())

    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"] == domain.message_id("c-1:acknowledgement:email", "district.example")
    assert first["Content-Language"] == "es"
    assert first["Auto-Submitted"] == "auto-generated"


def test_requester_name_with_line_break_cannot_add_headers() -> None:
    channel = SmtpEmailChannel(
        host="127.0.0.1", port=1, timeout_s=1, mail_from="Bureau <bureau@district.example>"
    )

    mail = channel.build(_outgoing("Ana\r\nBcc: victim@example.net"))

    assert mail["Bcc"] is None
    assert "\n" not in str(mail["To"])


@pytest.mark.parametrize(
    "name",
    [
        "ceo@district.example",
        "Principal <principal@district.example>",
        'Ana "<boss@evil.example>"',
        "mailto:boss@evil.example",
    ],
)
def test_a_name_that_looks_like_an_address_is_left_out_of_to(name: str) -> None:
    """Security (low): a requester's name could make mail clients show another address."""
    channel = SmtpEmailChannel(
        host="127.0.0.1", port=1, timeout_s=1, mail_from="Bureau <bureau@district.example>"
    )

    mail = channel.build(_outgoing(name))

    assert str(mail["To"]) == "ana@example.org"
    assert channel.build(_outgoing("Ana Pérez"))["To"].addresses[0].display_name == "Ana Pérez"


def test_settings_refuse_tls_and_starttls_together() -> None:
    with pytest.raises(ValidationError):
        NotifySettings(smtp_tls=True, smtp_starttls=True)


def test_settings_refuse_a_lease_shorter_than_the_smtp_timeout() -> None:
    with pytest.raises(ValidationError):
        NotifySettings(delivery_lease_s=5, io_timeout_s=10)


def test_settings_refuse_the_development_survey_key_outside_development() -> None:
    # the shared settings refuse other development secrets; give them real ones here
    production = {"environment": "production", "jwt_signing_key": "p" * 48}
    with pytest.raises(ValidationError, match="SURVEY_TOKEN_KEY"):
        NotifySettings(**production)  # type: ignore[arg-type]

    assert NotifySettings(**production, survey_token_key="k" * 32)  # type: ignore[arg-type]


def test_settings_refuse_a_partial_sms_provider() -> None:
    with pytest.raises(ValidationError, match="SMS_API_URL"):
        NotifySettings(sms_api_url="http://127.0.0.1:9", sms_account_sid="AC1")


@pytest.mark.parametrize(("attempts", "wait_s"), [(1, 5), (2, 30), (4, 600), (9, 600)])
def test_retry_waits_follow_the_backoff_and_then_repeat_the_last(
    attempts: int, wait_s: int
) -> None:
    after = domain.retry_at(SUBMITTED, attempts=attempts, backoff_s=(5, 30, 120, 600))

    assert after - SUBMITTED == timedelta(seconds=wait_s)


def test_delivery_ids_name_occurrence_and_staff_recipient_but_not_the_requester() -> None:
    assert (
        domain.delivery_id(
            "c-1", Kind.REPLY, ChannelName.SMS, occurrence="m-9", recipient="requester"
        )
        == "c-1:reply:m-9:sms"
    )
    assert (
        domain.delivery_id(
            "c-1", Kind.ESCALATION, ChannelName.EMAIL, occurrence="1-0-t", recipient="p-lincoln"
        )
        == "c-1:escalation:1-0-t:email:p-lincoln"
    )


@pytest.mark.parametrize(
    ("email", "phone", "preferred", "expected"),
    [
        ("a@example.org", "+15550100", None, ChannelName.EMAIL),
        ("a@example.org", "+15550100", "sms", ChannelName.SMS),
        (None, "+15550100", None, ChannelName.SMS),
        (None, "+15550100", "email", ChannelName.SMS),
        ("a@example.org", None, "sms", ChannelName.EMAIL),
        (None, None, None, None),
    ],
)
def test_preferred_channel_decides_else_email_else_sms(
    email: str | None, phone: str | None, preferred: str | None, expected: ChannelName | None
) -> None:
    chosen = domain.choose_channel(
        email=email,
        phone=phone,
        preferred=preferred,
        available=frozenset({ChannelName.EMAIL, ChannelName.SMS}),
    )

    assert chosen is expected


def test_sms_is_not_chosen_where_no_provider_is_configured() -> None:
    assert (
        domain.choose_channel(
            email=None, phone="+15550100", preferred="sms", available=frozenset({ChannelName.EMAIL})
        )
        is None
    )


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("+15125550123", "+1***23"),
        ("https://sis.district.example/hooks/bureau?key=1", "https://sis.district.example/***"),
    ],
)
def test_phone_numbers_and_webhook_urls_are_masked(address: str, masked: str) -> None:
    assert domain.mask_address(address) == masked


def test_redact_removes_a_phone_number_with_or_without_its_plus() -> None:
    answer = "21211 The 'To' number 15125550123 is not valid (+15125550123)"

    assert "5550123" not in domain.redact(answer, "+15125550123")


def test_a_staff_deliverys_published_id_names_no_one_and_stays_the_same() -> None:
    # Security #2: who was told may tell how a concern was routed (a special education lead)
    staff = domain.delivery_id(
        "c-1", Kind.ASSIGNMENT, ChannelName.EMAIL, occurrence="t1", recipient="sped-lead"
    )
    published = domain.public_delivery_id(staff, "sped-lead", "a-key-of-sixteen-chars")

    assert "sped" not in published and published.startswith("c-1:assignment:t1:email:staff-")
    assert published == domain.public_delivery_id(staff, "sped-lead", "a-key-of-sixteen-chars")
    other_staff = domain.delivery_id(
        "c-1", Kind.ASSIGNMENT, ChannelName.EMAIL, occurrence="t1", recipient="tr-lead"
    )
    assert domain.public_delivery_id(other_staff, "tr-lead", "a-key-of-sixteen-chars") != published
    # without the key, the token cannot be matched against a list of staff ids
    assert domain.public_delivery_id(staff, "sped-lead", "another-key-sixteen") != published


def test_a_requesters_delivery_is_published_with_its_own_id() -> None:
    family = domain.delivery_id("c-1", Kind.ACKNOWLEDGEMENT, ChannelName.EMAIL)
    assert domain.public_delivery_id(family, "requester", "a-key-of-sixteen-chars") == family


@pytest.mark.parametrize(
    ("language", "reply_by_text"),
    [("en", "Reply to this text with your answer"), ("es", "Responda a este mensaje de texto")],
)
def test_an_information_request_by_text_says_a_text_back_answers_it(
    language: str, reply_by_text: str
) -> None:
    # a parent who has only a phone answers by texting back (the phone front door adds it)
    template = SEEDS[f"information_request:sms:{language}"]
    values = {"district": "Springfield Public Schools", "tracking": "CS-2026-000123"}

    text = templates.render(template, {**values, "question": "Which bus stop?"}).text

    assert reply_by_text in text and "Which bus stop?" in text
    assert not templates.validate(template, sms_max_segments=3)
