"""The bureau's mails to a requester invite a reply and thread it into the concern."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml

from frontends.email.domain import bureau_references, parse
from services.intake.inbound import concern_ids_in
from services.notify.channels import OutgoingMessage, SmtpEmailChannel

pytestmark = pytest.mark.unit

CONCERN = "0b8d7c36-8a6e-4d3e-9f5a-2c1e0d9b7a11"
TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "notify" / "templates"


def build(delivery_id: str) -> EmailMessage:
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
        )
    )


def test_requester_mail_has_reply_to_and_a_thread_naming_its_concern() -> None:
    mail = build(f"{CONCERN}:acknowledgement:email")
    assert mail["Reply-To"] == "Bureau <bureau@district.example>"
    assert mail["References"] == f"<concern.{CONCERN}@district.example>"
    assert mail["In-Reply-To"] == mail["References"]
    assert str(mail["Message-ID"]).startswith(f"<{CONCERN}.")


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
