"""Email over SMTP (aiosmtplib): TLS and authentication as the settings say."""

from __future__ import annotations

import asyncio
import socket
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

import aiosmtplib

from services.notify.channels import DeliveryResult, OutgoingMessage
from services.notify.domain import display_name, message_id, redact, thread_root
from services.notify.settings import NotifySettings


class SmtpEmailChannel:
    """Email over an SMTP relay (implicit TLS, STARTTLS or plain; optional auth)."""

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        mail_from: str,
        timeout_s: float,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool = False,
    ) -> None:
        sender = parseaddr(mail_from)[1]
        if "@" not in sender:
            raise ValueError(f"MAIL_FROM needs an address with a domain, got {mail_from!r}")
        self._host = host
        self._port = port
        self._mail_from = mail_from
        self._sender = sender
        self._domain = sender.rpartition("@")[2]
        self._timeout_s = timeout_s
        self._username = username
        self._password = password
        self._use_tls = use_tls
        self._start_tls = start_tls
        self._local_hostname: str | None = None

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> SmtpEmailChannel:
        """The relay the settings name; the SMTP timeout is the service's I/O timeout."""
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            mail_from=settings.mail_from,
            timeout_s=settings.io_timeout_s,
            username=settings.smtp_username,
            password=settings.smtp_password,
            use_tls=settings.smtp_tls,
            start_tls=settings.smtp_starttls,
        )

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The MIME message for one attempt; the same delivery always gets the same Message-ID."""
        mail = EmailMessage()
        # Content first: set_content drops every Content-* header set before it.
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        for attachment in message.attachments:  # text files (the Board packet's CSV), UTF-8
            subtype = attachment.content_type.removeprefix("text/")
            mail.add_attachment(attachment.content, subtype=subtype, filename=attachment.filename)
        mail["From"] = self._mail_from
        # One line, and nothing address-like: a name can neither forge headers nor make the
        # mail client show another address.
        name = display_name(message.to_name)
        mail["To"] = formataddr((name, message.to)) if name else message.to
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(message.created_at)
        mail["Message-ID"] = message_id(message.delivery_id, self._domain)
        # Replies come back to the bureau (the email front door), threaded into the concern.
        mail["Reply-To"] = self._mail_from
        # The concern's thread, and the requester's mail the concern came from, which every
        # mail of that concern answers (In-Reply-To, and last in References, after the root).
        thread = [
            i for i in (thread_root(message.delivery_id, self._domain), message.in_reply_to) if i
        ]
        if thread:
            mail["In-Reply-To"] = thread[-1]
            mail["References"] = " ".join(thread)
        mail["Content-Language"] = message.language
        # RFC 3834: out-of-office robots must not answer an automatic message.
        mail["Auto-Submitted"] = "auto-generated"
        return mail

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        """Send through the relay within the timeout; a refusal or outage is a failed result."""
        mail = self.build(message)
        if self._local_hostname is None:
            # what aiosmtplib would look up (in a thread) for every message's EHLO: once
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        try:
            # One deadline for the whole exchange: aiosmtplib's own timeout is per command.
            async with asyncio.timeout(self._timeout_s):
                _, answer = await aiosmtplib.send(
                    mail,
                    sender=self._sender,
                    recipients=[message.to],
                    hostname=self._host,
                    port=self._port,
                    local_hostname=self._local_hostname,
                    username=self._username,
                    password=self._password,
                    use_tls=self._use_tls,
                    start_tls=self._start_tls,
                    timeout=self._timeout_s,
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            answer = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            return DeliveryResult.refused(
                redact(f"recipient refused: {answer}", message.to),
                permanent=bool(codes) and all(c >= 500 for c in codes),
            )
        except aiosmtplib.SMTPResponseException as exc:
            return DeliveryResult.refused(
                redact(f"{type(exc).__name__}: {exc.code} {exc.message}", message.to)
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return DeliveryResult.refused(redact(f"{type(exc).__name__}: {exc}", message.to))
        return DeliveryResult.accepted(redact(answer, message.to), reference=mail["Message-ID"])
