"""The bureau's mails to a requester invite a reply and thread it into the concern."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml

from frontends.email.domain import bureau_references, parse
from services.intake.inbound import concern_ids_in
from services.notify import audience
from services.notify.channels import OutgoingMessage, SmtpEmailChannel
from services.notify.config import NotifyConfig
from services.notify.domain import ChannelName, Kind
from services.notify.repository import ConcernFacts, Contact
from shared.district import load_district
from shared.events import ConcernContactShared, RequesterContact
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

CONCERN = "0b8d7c36-8a6e-4d3e-9f5a-2c1e0d9b7a11"
TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "notify" / "templates"


def build(delivery_id: str, *, in_reply_to: str | None = None) -> EmailMessage:
    channel = SmtpEmailChannel(
        host="127.0.0.1", port=1, timeout_s=1, mail_from="Bureau <bureau@district.example>"
    )
    return channel.build(
        OutgoingMessage(
            delivery_id=delivery_id,
            to="maria@example.org",
            to_name="Maria",
            subject="We received your concern - tracking number CS-2026-000001",
            text="Hello\n",
            language="en",
            created_at=datetime(2026, 12, 1, tzinfo=UTC),
            in_reply_to=in_reply_to,
        )
    )


def test_requester_mail_has_reply_to_and_a_thread_naming_its_concern() -> None:
    mail = build(f"{CONCERN}:acknowledgement:email")
    assert mail["Reply-To"] == "Bureau <bureau@district.example>"
    assert mail["References"] == f"<concern.{CONCERN}@district.example>"
    assert mail["In-Reply-To"] == mail["References"]
    assert str(mail["Message-ID"]).startswith(f"<{CONCERN}.")


def test_the_acknowledgement_of_a_mail_answers_it_in_its_thread() -> None:
    parent = "<CAF7k2x9Q@mail.example.org>"
    mail = build(f"{CONCERN}:acknowledgement:email", in_reply_to=parent)
    assert mail["In-Reply-To"] == parent
    # the parent last (the direct parent to threading clients), the concern's thread first
    assert mail["References"].split() == [f"<concern.{CONCERN}@district.example>", parent]


@pytest.mark.parametrize(
    ("email", "phone", "expected"),
    [
        ("maria@example.org", None, "<CAF7k2x9Q@mail.example.org>"),
        (None, "+15125550100", None),  # by SMS there is no mail to answer
    ],
)
def test_only_the_emailed_acknowledgement_answers_the_parents_mail(
    email: str | None, phone: str | None, expected: str | None
) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    contact = ConcernContactShared(
        concern_id=CONCERN,
        tracking_number="CS-2026-000001",
        category="uncategorized",
        submitted_at=now,
        resolution_due_at=now,
        requester=RequesterContact(email=email, phone=phone),
        reply_to_message_id="<CAF7k2x9Q@mail.example.org>",
    )
    facts = ConcernFacts(concern_id=CONCERN, contact=Contact("Maria", email, phone, "en"))
    [planned] = audience.plan(
        "concern.contact_shared",
        contact,
        facts=facts,
        district=load_district(DEFAULT_DISTRICT_CONFIG),
        config=NotifyConfig(),
        available=frozenset({ChannelName.EMAIL, ChannelName.SMS}),
    )
    assert planned.kind is Kind.ACKNOWLEDGEMENT and planned.in_reply_to == expected


def test_a_reply_naming_either_header_finds_the_concern() -> None:
    mail = build(f"{CONCERN}:reply:m-1:email")
    for header in ("Message-ID", "References"):
        raw = f"From: maria@example.org\r\nIn-Reply-To: {mail[header]}\r\n\r\nhi".encode()

        references = bureau_references(parse(raw), "district.example")
        assert concern_ids_in(list(references)) == [CONCERN]


def test_staff_mail_is_not_threaded_as_a_requesters() -> None:
    mail = build(f"{CONCERN}:assignment:2026-12-01T00:00:00.000:email:tr-1")
    assert mail["References"] is None


@pytest.mark.parametrize("language", ["en", "es"])
def test_acknowledgement_no_longer_says_do_not_reply(language: str) -> None:
    body = yaml.safe_load((TEMPLATES / f"{language}.yaml").read_text())["acknowledgement"]["email"][
        "body"
    ]
    assert "do not reply" not in body and "no lo responda" not in body
    assert "reply" in body or "responder" in body
