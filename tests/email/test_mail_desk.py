"""What the front door does with each mail, with intake replaced by a recording fake."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from frontends.common.intake import ConcernReceipt, IntakeNotFound, IntakeUnavailable
from frontends.email.handlers import MailDesk, Outcome
from frontends.email.settings import EmailSettings
from services.intake import inbound
from services.intake.domain import Status
from services.intake.inbound import InboundMessageRead
from services.intake.schemas import ConcernCreate

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).parent / "corpus"


class FakeIntake:
    """Records what the desk asks of intake; knows the concerns in `known`."""

    def __init__(
        self,
        known: tuple[str, ...] = (),
        outcome: inbound.Outcome = inbound.Outcome.REQUESTER_MESSAGE,
    ) -> None:
        self.known = known
        self.outcome = outcome
        self.created: list[tuple[dict[str, Any], str]] = []
        self.messages: list[dict[str, Any]] = []
        self.files: list[tuple[str, str]] = []
        self.bounces: list[list[str]] = []

    async def create_concern(
        self, body: Mapping[str, Any], *, idempotency_key: str, client_address: str | None = None
    ) -> ConcernReceipt:
        ConcernCreate.model_validate(body)  # what intake would refuse
        self.created.append((dict(body), idempotency_key))
        return ConcernReceipt.model_validate(
            {
                "id": "c-1",
                "tracking_number": "CS-2026-000009",
                "status": "received",
                "submitted_at": "2026-12-01T08:00:00Z",
                "resolution_due_at": "2026-12-04T08:00:00Z",
                "access_token": "t",
                "pin": "123456",
                "status_url": "/v1/tracking/CS-2026-000009",
                "updates_promised": True,
                "notice": "n",
            }
        )

    async def inbound_message(self, message: dict[str, Any]) -> InboundMessageRead:
        inbound.InboundMessageCreate.model_validate(message)  # what intake would refuse
        self.messages.append(message)
        if message["tracking_number"] not in self.known:
            raise IntakeNotFound(404, "Concern not found")
        # as intake: a sender not verified is never the requester
        verified = message.get("sender_verified", True)
        return InboundMessageRead(
            outcome=self.outcome if verified else inbound.Outcome.UNVERIFIED,
            reason="own address",
            concern_id="c-0",
            tracking_number=message["tracking_number"],
            status=Status.ACKNOWLEDGED,
            message_id="m-1",
        )

    async def attach(self, concern_id: str, filename: str, content_type: str, data: bytes) -> None:
        self.files.append((concern_id, filename))

    async def bounce(self, references: list[str], status: str | None) -> None:
        self.bounces.append(references)


def desk(intake: FakeIntake, **settings: Any) -> MailDesk:
    return MailDesk(
        intake=intake,
        settings=EmailSettings(
            bureau_address="Bureau <bureau@district.example>", smtp_port=9, **settings
        ),
    )


def raw(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


async def test_new_mail_becomes_an_uncategorized_email_concern_of_its_sender() -> None:
    intake = FakeIntake()
    result = await desk(intake).take(raw("new_spanish_latin1.eml"))
    assert result.outcome is Outcome.CREATED
    [(body, key)] = intake.created
    assert "category" not in body and body["channel"] == "email"
    assert body["requester"] == {
        "name": "José Martínez",
        "email": "jose.martinez@example.net",
        "language": "es",
        "preferred_contact": "email",
    }
    assert key.startswith("email-")


async def test_new_concern_names_the_mail_its_acknowledgement_answers() -> None:
    intake = FakeIntake()
    await desk(intake).take(raw("new_plain_en.eml"))
    [(body, _)] = intake.created
    assert body["reply_to_message_id"] == "<CAF7k2x9Q@mail.example.org>"


async def test_a_message_id_intake_would_refuse_is_left_out_not_the_concern() -> None:
    intake = FakeIntake()
    mail = raw("new_plain_en.eml").replace(b"<CAF7k2x9Q@", "<ñandú@".encode())
    result = await desk(intake).take(mail)
    [(body, _)] = intake.created
    assert result.outcome is Outcome.CREATED and "reply_to_message_id" not in body


async def test_the_same_mail_twice_is_submitted_with_the_same_idempotency_key() -> None:
    intake = FakeIntake()
    the_desk = desk(intake)
    await the_desk.take(raw("new_plain_en.eml"))
    await the_desk.take(raw("new_plain_en.eml"))
    assert intake.created[0][1] == intake.created[1][1]


async def test_reply_is_threaded_and_an_unknown_tracking_number_becomes_a_new_concern() -> None:
    intake = FakeIntake(known=("CS-2026-000001",))
    threaded = await desk(intake).take(raw("reply_gmail.eml"))
    assert threaded.outcome is Outcome.THREADED
    assert intake.messages[0]["body"] == "The bus came today, but it was 25 minutes late again."
    assert intake.messages[0]["external_id"] == "<CAF7k2xReply1@mail.gmail.example>"
    unknown = await desk(intake).take(raw("reply_outlook.eml"))  # CS-2026-000007: unknown
    assert unknown.outcome is Outcome.CREATED


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("auto_reply_rfc3834.eml", "auto_reply"),
        ("out_of_office_outlook.eml", "auto_reply"),
        ("mailing_list.eml", "mailing_list"),
        ("spam_flagged.eml", "spam"),
        ("bounce_dsn.eml", "bounce"),
    ],
)
async def test_noise_creates_nothing_and_sends_nothing(name: str, reason: str) -> None:
    intake = FakeIntake(known=("CS-2026-000001",))
    result = await desk(intake).take(raw(name))
    assert (result.outcome, result.reason) == (Outcome.IGNORED, reason)
    assert intake.created == [] and intake.messages == []


async def test_bounce_of_the_bureaus_mail_is_reported_to_intake() -> None:
    intake = FakeIntake()
    await desk(intake).take(raw("bounce_dsn.eml"))
    assert intake.bounces == [
        ["<0b8d7c36-8a6e-4d3e-9f5a-2c1e0d9b7a11.bb2c1e0d9b7a4f5e8d3c2b1a0f9e8d7c@district.example>"]
    ]


async def test_forged_new_mail_creates_no_concern() -> None:
    intake = FakeIntake()  # its tracking number is unknown: it would be a new concern
    result = await desk(intake).take(raw("forged_from.eml"))
    assert result.reason == "sender_not_authenticated" and intake.created == []


# the district's mail server, whose Authentication-Results alone are believed
DISTRICT_MX = {"email_authserv_id": "mx.district.example"}


@pytest.mark.parametrize(
    "name", ["reply_spoofed_authentication.eml", "reply_gmail.eml", "forged_from.eml"]
)
async def test_a_reply_without_the_district_servers_pass_is_kept_for_staff(name: str) -> None:
    # From the requester's address, but another server's "pass", no verdict at all (a
    # mail written straight into the listener), or a forged one: never the requester's own
    intake = FakeIntake(known=("CS-2026-000001",))
    result = await desk(intake, **DISTRICT_MX).take(raw(name))
    assert result.outcome is Outcome.UNVERIFIED
    assert intake.messages[0]["sender_verified"] is False


async def test_a_reply_the_district_server_vouches_for_is_the_requesters() -> None:
    intake = FakeIntake(known=("CS-2026-000001",))
    result = await desk(intake, **DISTRICT_MX).take(raw("reply_authenticated.eml"))
    assert result.outcome is Outcome.THREADED
    assert intake.messages[0]["sender_verified"] is True


async def test_files_of_a_reply_without_a_trusted_pass_are_not_attached() -> None:
    intake = FakeIntake(known=("CS-2026-000001",))
    spoofed = b"Authentication-Results: mx.attacker.example; dmarc=pass\n" + reply_with_files()
    result = await desk(intake, **DISTRICT_MX).take(spoofed)
    assert result.outcome is Outcome.UNVERIFIED and intake.files == []


async def test_a_parents_first_mail_without_a_verdict_still_becomes_a_concern() -> None:
    intake = FakeIntake()
    result = await desk(intake, **DISTRICT_MX).take(raw("new_spanish_latin1.eml"))
    assert result.outcome is Outcome.CREATED and len(intake.created) == 1


@pytest.mark.parametrize("reading", [{"email_listen_port": 2525}, {"imap_host": "imap.example"}])
def test_outside_development_a_front_door_reading_mail_needs_the_authserv_id(
    reading: dict[str, Any],
) -> None:
    production = {
        "environment": "production",
        "bureau_client_token": SecretStr("a-token-from-the-idp"),
        "imap_user": "bureau",
        **reading,
    }
    with pytest.raises(ValidationError, match="EMAIL_AUTHSERV_ID"):
        EmailSettings(**production)
    configured = EmailSettings(**production, email_authserv_id="mx1.example, MX2.example")
    assert configured.trusted_authserv_ids == {"mx1.example", "mx2.example"}


def numbered(n: int) -> bytes:
    """The same parent's n-th mail (its own Message-ID)."""
    return raw("new_plain_en.eml").replace(b"<CAF7k2x9Q@", f"<CAF7k2x9Q-{n}@".encode())


async def test_a_sender_past_the_hourly_limit_is_ignored() -> None:
    intake = FakeIntake()
    the_desk = desk(intake, mails_per_sender_per_hour=2)
    results = [await the_desk.take(numbered(n)) for n in range(3)]
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.CREATED, Outcome.IGNORED]
    assert results[2].reason == "rate_limited"


class DownFor(FakeIntake):
    """Intake that cannot take a concern for its first `failures` calls."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def create_concern(
        self, body: Mapping[str, Any], *, idempotency_key: str, client_address: str | None = None
    ) -> ConcernReceipt:
        if self.failures > 0:
            self.failures -= 1
            raise IntakeUnavailable(503, "Unreachable", "ConnectError")
        return await super().create_concern(body, idempotency_key=idempotency_key)


async def test_a_mail_retried_while_intake_is_down_is_not_lost_to_the_rate_limit() -> None:
    # the mail server (or the poller) delivers it again and again during an outage: it is
    # still one mail of its sender, taken when intake is back
    intake = DownFor(failures=5)
    the_desk = desk(intake, mails_per_sender_per_hour=2)
    for _retry in range(5):
        with pytest.raises(IntakeUnavailable):
            await the_desk.take(numbered(1))
    result = await the_desk.take(numbered(1))
    assert result.outcome is Outcome.CREATED and len(intake.created) == 1


async def test_mail_over_the_size_limit_is_ignored() -> None:
    intake = FakeIntake()
    result = await desk(intake, max_message_bytes=100).take(raw("new_plain_en.eml"))
    assert result.reason == "too_large" and intake.created == []


async def test_attachments_go_to_the_new_concern() -> None:
    intake = FakeIntake()
    await desk(intake).take(raw("new_with_attachments.eml"))
    assert intake.files == [("c-1", "letter.pdf"), ("c-1", "notice.png"), ("c-1", "run.exe")]


def reply_with_files() -> bytes:
    return raw("new_with_attachments.eml").replace(
        b"Subject: Letter from", b"Subject: Re: CS-2026-000001 Letter from"
    )


async def test_files_of_the_requesters_reply_go_to_its_concern() -> None:
    intake = FakeIntake(known=("CS-2026-000001",))
    result = await desk(intake).take(reply_with_files())
    assert result.outcome is Outcome.THREADED
    assert [name for _, name in intake.files] == ["letter.pdf", "notice.png", "run.exe"]


async def test_files_of_a_reply_kept_for_staff_are_not_attached_to_the_family_concern() -> None:
    # from another address (or a forged one): the message waits for staff to decide, and
    # its files are not slipped in among the family's own
    intake = FakeIntake(known=("CS-2026-000001",), outcome=inbound.Outcome.UNVERIFIED)
    result = await desk(intake).take(reply_with_files())
    assert result.outcome is Outcome.UNVERIFIED
    assert intake.files == [] and result.refused_attachments == []


async def test_a_reply_deep_in_a_long_thread_is_still_threaded() -> None:
    # a long case: the parent's mail client lists every mail of the bureau in References
    intake = FakeIntake(known=("CS-2026-000001",))
    ids = " ".join(
        f"<c0ffee00-0000-4000-8000-000000000001.{n}@district.example>" for n in range(60)
    )
    mail = raw("reply_gmail.eml").replace(b"References: ", f"References: {ids} ".encode(), 1)
    result = await desk(intake).take(mail)
    assert result.outcome is Outcome.THREADED


@pytest.mark.parametrize(
    "sender", ["maria@school.local", "maria..gonzalez@example.org", "maria@[192.0.2.1]"]
)
async def test_a_mail_from_an_address_intake_cannot_keep_still_becomes_a_concern(
    sender: str,
) -> None:
    # what the parent wrote is not lost: the concern is filed without an address to write to
    intake = FakeIntake()
    mail = raw("new_plain_en.eml").replace(b"Maria.Gonzalez@example.org", sender.encode())
    result = await desk(intake).take(mail)
    assert result.outcome is Outcome.CREATED
    [(body, _)] = intake.created
    assert "email" not in body["requester"] and "preferred_contact" not in body["requester"]
    assert "reply_to_message_id" not in body
    assert "skipped our stop" in body["description"]
