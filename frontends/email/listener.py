"""Receiving by SMTP or LMTP (aiosmtpd): the district's mail server delivers to the bureau.

The mail is taken before the answer to DATA: 250 once it is a concern or a message (or was
dropped as noise), 451 (try again later) while intake cannot take it, so the sending server
keeps it and retries. Over the size limit, aiosmtpd answers 552 itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from frontends.common.intake import IntakeUnavailable
from frontends.email.handlers import MailDesk
from frontends.email.settings import EmailSettings

log = logging.getLogger(__name__)

ACCEPTED = "250 2.0.0 OK"
TRY_LATER = "451 4.3.0 The bureau cannot take mail right now; try again later"


class _Handler:
    def __init__(self, desk: MailDesk, settings: EmailSettings) -> None:
        self._desk = desk
        self._settings = settings
        self._lmtp = settings.email_listen_protocol == "lmtp"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        address_lower = address.lower()
        if (
            address_lower not in self._settings.own_addresses
            and address_lower.rpartition("@")[2] != self._settings.bureau_domain
        ):
            return "550 5.1.1 Not a mailbox of the bureau"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        raw = raw if isinstance(raw, bytes) else str(raw).encode()
        try:
            await self._desk.take(raw, envelope_sender=envelope.mail_from)
            status = ACCEPTED
        except IntakeUnavailable:
            status = TRY_LATER
        except Exception as exc:  # never lose a mail to a bug: the sender retries
            log.error("mail not taken", extra={"error": type(exc).__name__})
            status = TRY_LATER
        # LMTP answers DATA once per recipient
        return "\r\n".join([status] * max(1, len(envelope.rcpt_tos))) if self._lmtp else status


async def start_listener(desk: MailDesk, settings: EmailSettings) -> asyncio.Server:
    """Listen on EMAIL_LISTEN_HOST:EMAIL_LISTEN_PORT in the running loop."""
    handler = _Handler(desk, settings)
    protocol = LMTP if settings.email_listen_protocol == "lmtp" else SMTP
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: protocol(
            handler,
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.bureau_domain,
            loop=loop,
        ),
        host=settings.email_listen_host,
        port=settings.email_listen_port,
    )
    log.info(
        "mail listener started",
        extra={"protocol": settings.email_listen_protocol, "port": settings.email_listen_port},
    )
    return server
