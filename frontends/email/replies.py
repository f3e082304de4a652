"""The one answer the front door writes itself: a mail whose attachments were refused is told
which and why (the concern or message itself was taken; notify answers that as usual).

It is an automatic answer (RFC 3834 `Auto-Submitted: auto-replied`), in the thread of the
family's mail, in their language.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiosmtplib

from frontends.email.domain import InboundMail
from frontends.email.settings import EmailSettings

log = logging.getLogger(__name__)

_TEXT = {
    "en": (
        "Some of your attachments were not accepted",
        "Hello,\n\nWe received your message{tracking}, but could not keep these "
        "attachments:\n\n{files}\n\nWe accept photos (JPEG, PNG, GIF, WebP, HEIC), PDF, text "
        "and Word or OpenDocument files. You can reply to this message with the files in "
        "one of these forms.\n\nCustomer Service Bureau\n",
    ),
    "es": (
        "Algunos de sus archivos adjuntos no fueron aceptados",
        "Hola:\n\nRecibimos su mensaje{tracking}, pero no pudimos guardar estos archivos "
        "adjuntos:\n\n{files}\n\nAceptamos fotos (JPEG, PNG, GIF, WebP, HEIC), PDF, texto y "
        "archivos de Word u OpenDocument. Puede responder a este mensaje con los archivos en "
        "uno de esos formatos.\n\nOficina de Atención al Público\n",
    ),
}
_TRACKING = {"en": " (tracking number {number})", "es": " (número de seguimiento {number})"}


def refusal_reply(
    mail: InboundMail,
    refused: list[tuple[str, str]],
    *,
    bureau_address: str,
    tracking_number: str | None,
) -> EmailMessage:
    """The answer naming each refused file and why."""
    language = mail.language if mail.language in _TEXT else "en"
    subject, body = _TEXT[language]
    tracking = _TRACKING[language].format(number=tracking_number) if tracking_number else ""
    files = "\n".join(f"- {name}: {why}" for name, why in refused)
    reply = EmailMessage()
    reply.set_content(body.format(tracking=tracking, files=files))
    reply["From"] = bureau_address
    reply["To"] = formataddr((mail.from_name or "", mail.from_address or ""))
    reply["Subject"] = f"{subject} - {tracking_number}" if tracking_number else subject
    reply["Message-ID"] = make_msgid(domain=bureau_address.rpartition("@")[2].strip(">"))
    if mail.message_id:
        reply["In-Reply-To"] = mail.message_id
        reply["References"] = mail.message_id
    reply["Auto-Submitted"] = "auto-replied"
    reply["Content-Language"] = language
    return reply


async def send(reply: EmailMessage, settings: EmailSettings) -> bool:
    """Hand the answer to the relay; a failure is logged (the mail itself was taken)."""
    try:
        await aiosmtplib.send(
            reply,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            use_tls=settings.smtp_tls,
            start_tls=settings.smtp_starttls,
            timeout=settings.io_timeout_s,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        log.warning("answer not sent", extra={"error": type(exc).__name__})
        return False
    return True
