"""A bounce names the bureau's mail by its Message-ID: notify finds that delivery, and records
the report's status, nothing else of it."""

from __future__ import annotations

import pytest

from services.notify import domain

pytestmark = pytest.mark.unit

CONCERN = "0b8d7c36-8a6e-4d3e-9f5a-2c1e0d9b7a11"
ACK = f"{CONCERN}:acknowledgement:email"
REPLY = f"{CONCERN}:reply:m-1:email"


def test_the_bounced_mail_is_found_by_its_message_id_whatever_the_domain_now() -> None:
    bounced = domain.message_id(ACK, "old-district.example")
    assert domain.bounced_deliveries([bounced], [REPLY, ACK]) == [ACK]


def test_a_report_naming_no_mail_of_the_concern_fails_nothing() -> None:
    others = [f"<concern.{CONCERN}@district.example>", "<CAF7k2x9Q@mail.example.org>"]
    assert domain.bounced_deliveries(others, [ACK, REPLY]) == []


@pytest.mark.parametrize(
    ("status", "recorded"),
    [
        ("5.1.1", "bounced (status 5.1.1)"),
        (" 4.2.2 ", "bounced (status 4.2.2)"),
        (None, "bounced"),
        ("user maria@example.org unknown", "bounced"),  # only a status, never the words
    ],
)
def test_a_bounce_records_its_status_only(status: str | None, recorded: str) -> None:
    assert domain.bounce_answer(status) == recorded
    assert domain.provider_summary(recorded, ok=False) == recorded


def test_a_providers_words_that_look_like_a_bounce_are_still_summarised() -> None:
    assert domain.provider_summary("bounced: maria@example.org", ok=False) == "not accepted"
