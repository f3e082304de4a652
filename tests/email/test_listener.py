"""The SMTP and LMTP listener in real sessions (smtplib), intake replaced by a recording fake:
what the district's mail server is answered decides whether it keeps, retries or bounces."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.launcher import free_port
from frontends.common.intake import IntakeUnavailable
from frontends.email.app import create_app
from frontends.email.handlers import MailDesk
from frontends.email.listener import start_listener
from frontends.email.settings import EmailSettings
from tests.email.test_mail_desk import FakeIntake

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).parent / "corpus"
BUREAU = "bureau@district.example"
MARIA = "maria.gonzalez@example.org"

Listener = Callable[..., AbstractAsyncContextManager[int]]


class DownIntake(FakeIntake):
    async def create_concern(self, *args: Any, **kwargs: Any) -> Any:
        raise IntakeUnavailable(503, "Unreachable", "ConnectError")


@pytest.fixture
def listener() -> Listener:
    """The listener on a free port in this loop; answers its port."""

    @asynccontextmanager
    async def start(intake: FakeIntake, **settings: Any) -> AsyncIterator[int]:
        # port 0: the system picks a free one, read back from the server
        config = EmailSettings(bureau_address=f"Bureau <{BUREAU}>", smtp_port=9, **settings)
        server = await start_listener(MailDesk(intake=intake, settings=config), config)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()
            await server.wait_closed()

    return start


def send(port: int, raw: bytes, *, lmtp: bool, recipients: tuple[str, ...] = (BUREAU,)) -> None:
    crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    session = smtplib.LMTP("127.0.0.1", port) if lmtp else smtplib.SMTP("127.0.0.1", port)
    with session:
        session.sendmail(MARIA, list(recipients), crlf)


@pytest.mark.parametrize("protocol", ["smtp", "lmtp"])
async def test_a_mail_delivered_by_smtp_or_lmtp_becomes_a_concern(
    listener: Listener, protocol: str
) -> None:
    intake = FakeIntake()
    async with listener(intake, email_listen_protocol=protocol) as port:
        raw = (CORPUS / "new_plain_en.eml").read_bytes()
        await asyncio.to_thread(send, port, raw, lmtp=protocol == "lmtp")
    [(body, _)] = intake.created
    assert body["requester"]["email"] == MARIA


@pytest.mark.parametrize("protocol", ["smtp", "lmtp"])
async def test_while_intake_is_down_the_mail_server_is_told_to_try_again(
    listener: Listener, protocol: str
) -> None:
    async with listener(DownIntake(), email_listen_protocol=protocol) as port:
        raw = (CORPUS / "new_plain_en.eml").read_bytes()
        with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPRecipientsRefused)) as refused:
            await asyncio.to_thread(send, port, raw, lmtp=protocol == "lmtp")
    assert "451" in str(refused.value)  # temporary: the mail server keeps it and retries


async def test_a_mail_over_the_size_limit_is_refused_permanently(listener: Listener) -> None:
    intake = FakeIntake()
    async with listener(intake, email_listen_protocol="smtp", max_message_bytes=2000) as port:
        raw = (CORPUS / "new_with_attachments.eml").read_bytes() + b"x" * 4000
        # refused at MAIL FROM (the client announces the SIZE) or at the end of DATA
        with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as refused:
            await asyncio.to_thread(send, port, raw, lmtp=False)
    assert refused.value.smtp_code == 552 and intake.created == []


async def test_a_recipient_that_is_not_the_bureaus_is_refused(listener: Listener) -> None:
    intake = FakeIntake()
    async with listener(intake, email_listen_protocol="smtp") as port:
        raw = (CORPUS / "new_plain_en.eml").read_bytes()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            await asyncio.to_thread(send, port, raw, lmtp=False, recipients=("x@elsewhere.org",))
    assert intake.created == []


async def test_a_reply_written_straight_into_the_listener_is_not_taken_as_the_parents(
    listener: Listener,
) -> None:
    # whoever reaches the LMTP port can write "from" the parent: without the district
    # server's verdict (here another server's "pass") the reply waits for staff
    intake = FakeIntake(known=("CS-2026-000001",))
    async with listener(intake, email_authserv_id="mx.district.example") as port:
        for name in ("reply_spoofed_authentication.eml", "reply_authenticated.eml"):
            await asyncio.to_thread(send, port, (CORPUS / name).read_bytes(), lmtp=True)
    assert [m["sender_verified"] for m in intake.messages] == [False, True]


async def test_the_front_door_is_alive_but_not_ready_while_intake_is_away() -> None:
    # an orchestrator sends no mail server's delivery to a front door that cannot file it
    settings = EmailSettings(
        bureau_address=f"Bureau <{BUREAU}>", intake_url=f"http://127.0.0.1:{free_port()}"
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["intake"] == "unreachable"
        assert "bureau_email_received_total" in (await http.get("/metrics")).text
