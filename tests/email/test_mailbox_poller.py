"""The mailbox poller against a real Dovecot IMAP server, intake replaced by a recording fake:
one mail that cannot be taken does not hold up the family mail behind it; an OAuth2 mailbox
keeps being read as its access token is refreshed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from frontends.common.intake import ConcernReceipt, IntakeUnavailable
from frontends.email.handlers import MailDesk
from frontends.email.mailbox import MailboxPoller
from frontends.email.settings import EmailSettings
from tests.conftest import eventually
from tests.email.conftest import IMAP_PASSWORD, IMAP_USER, Introspection, deliver, untaken
from tests.email.test_mail_desk import FakeIntake

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).parent / "corpus"
POISON = "poison@example.org"


class FailingFor(FakeIntake):
    """Intake that fails, every time, on the mail of one sender."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def create_concern(
        self, body: Mapping[str, Any], *, idempotency_key: str, client_address: str | None = None
    ) -> ConcernReceipt:
        if body["requester"]["email"] == POISON:
            raise self.error
        return await super().create_concern(body, idempotency_key=idempotency_key)


def parent_mail(sender: str) -> bytes:
    raw = (CORPUS / "new_plain_en.eml").read_bytes()
    raw = raw.replace(b"Maria.Gonzalez@example.org", sender.encode())
    return raw.replace(b"<CAF7k2x9Q@mail.example.org>", f"<{sender}>".encode())


def mailbox_settings(port: int, **login: Any) -> EmailSettings:
    """The front door polling the test's Dovecot on `port`, logging in with `login`."""
    return EmailSettings(
        bureau_address="Bureau <bureau@district.example>",
        imap_host="127.0.0.1",
        imap_port=port,
        imap_ssl=False,
        imap_user=IMAP_USER,
        smtp_port=9,
        **login,
    )


@pytest.mark.parametrize(
    "error",
    [RuntimeError("a bug on one mail"), IntakeUnavailable(500, "Internal Server Error")],
    ids=["bug", "intake-500"],
)
async def test_a_mail_that_cannot_be_taken_does_not_hold_up_the_others(
    dovecot: tuple[int, Path], error: Exception
) -> None:
    port, maildir = dovecot
    deliver(maildir, "0.eml", parent_mail(POISON))  # first in the mailbox
    for n in (1, 2):
        deliver(maildir, f"{n}.eml", parent_mail(f"parent{n}@example.org"))
    intake = FailingFor(error)
    settings = mailbox_settings(port, imap_password=IMAP_PASSWORD)
    poller = MailboxPoller(MailDesk(intake=intake, settings=settings), settings)
    for _poll in range(2):
        try:
            await poller.poll_once()
        except Exception as exc:  # as the poller's loop does: logged, polled again later
            assert exc is error
    senders = [body["requester"]["email"] for body, _ in intake.created]
    assert sorted(senders) == ["parent1@example.org", "parent2@example.org"]
    assert len(untaken(port)) == 1  # the one that failed waits for the next poll


async def test_an_oauth2_mailbox_is_read_with_the_token_refreshed_in_its_file(
    dovecot: tuple[int, Path], introspection: Introspection, tmp_path: Path
) -> None:
    # Google Workspace and Microsoft 365 tokens expire within the hour: a job rewrites the
    # file, and the next poll logs in with the new token, without a restart
    port, maildir = dovecot
    token_file = tmp_path / "imap-token"
    token_file.write_text("token-of-9am\n")
    introspection.valid = {"token-of-9am"}
    intake = FakeIntake()
    settings = mailbox_settings(port, imap_oauth2_token_file=token_file)
    poller = MailboxPoller(MailDesk(intake=intake, settings=settings), settings)
    deliver(maildir, "1.eml", parent_mail("parent1@example.org"))
    assert await poller.poll_once() == 1

    introspection.valid = {"token-of-10am"}  # the 9 o'clock token has expired
    token_file.write_text("token-of-10am\n")
    deliver(maildir, "2.eml", parent_mail("parent2@example.org"))
    assert await poller.poll_once() == 1
    assert len(intake.created) == 2 and untaken(port) == []


def polls(result: str) -> float:
    return REGISTRY.get_sample_value("bureau_email_mailbox_polls_total", {"result": result}) or 0.0


async def test_a_mailbox_the_front_door_cannot_read_shows_in_its_metrics(
    dovecot: tuple[int, Path],
) -> None:
    # a password changed, a token expired: no mail is read, and the operator's alert on
    # these metrics is the only one to notice
    port, _maildir = dovecot
    settings = mailbox_settings(port, imap_password="changed-last-night", imap_poll_s=0.05)
    failed, ok = polls("failed"), polls("ok")
    poller = MailboxPoller(MailDesk(intake=FakeIntake(), settings=settings), settings)
    task = asyncio.create_task(poller.run())
    try:
        await eventually(lambda: polls("failed") > failed, what="a failed poll counted")
        assert polls("ok") == ok
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    read_ok = settings.model_copy(update={"imap_password": SecretStr(IMAP_PASSWORD)})
    before = time.time()
    poller = MailboxPoller(MailDesk(intake=FakeIntake(), settings=read_ok), read_ok)
    task = asyncio.create_task(poller.run())
    try:
        await eventually(lambda: polls("ok") > ok, what="a successful poll counted")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    last = REGISTRY.get_sample_value("bureau_email_mailbox_last_read_timestamp_seconds")
    assert last is not None and last >= before
