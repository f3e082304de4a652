"""The one answer the front door writes itself: a mail whose attachments were refused is told
which and why (the concern or message itself was taken; notify answers that as usual).

It is an automatic answer (RFC 3834 `Auto-Submitted: auto-replied`), in the thread of the
family's mail, in their language.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path

import aiosmtplib

from frontends.common.i18n import N_, catalog
from frontends.email.domain import InboundMail
from frontends.email.settings import EmailSettings

log = logging.getLogger(__name__)

# The catalogs (`pybabel extract -F babel.cfg -k N_ -o locales/messages.pot .` from
# frontends/email/ finds new messages); a language without one is answered in English.
LOCALES = Path(__file__).resolve().parent / "locales"
LANGUAGES = frozenset({"en", "es"})

# Why intake refused a file, by its answer's status, in words a family understands.
_WHY = {
    413: N_("it is larger than we can accept"),
    415: N_("we do not accept this type of file"),
    409: N_("a concern cannot hold more files"),
}


@dataclass(frozen=True)
class Refusal:
    """One attachment intake did not keep: its name, intake's status and its reason."""

    filename: str
    status: int
    detail: str


def _why(refusal: Refusal, gettext: Callable[[str], str]) -> str:
    """Why a file was refused: in the family's words when the status tells, else intake's."""
    reason = _WHY.get(refusal.status)
    return gettext(reason) if reason else refusal.detail


def refusal_reply(
    mail: InboundMail,
    refused: list[Refusal],
    *,
    bureau_address: str,
    tracking_number: str | None,
) -> EmailMessage:
    """The answer naming each refused file and why, in the family's language."""
    language = mail.language if mail.language in LANGUAGES else "en"
    _ = catalog(LOCALES, language).gettext
    subject = _("Some of your attachments were not accepted")
    if tracking_number:
        received = _(
            "We received your message (tracking number %(number)s), but could not keep "
            "these attachments:"
        ) % {"number": tracking_number}
    else:
        received = _("We received your message, but could not keep these attachments:")
    files = "\n".join(f"- {r.filename}: {_why(r, _)}" for r in refused)
    accepted = _(
        "We accept photos (JPEG, PNG, GIF, WebP, HEIC), PDF, text and Word or OpenDocument "
        "files. You can reply to this message with the files in one of these forms."
    )
    greeting, signature = _("Hello,"), _("Customer Service Bureau")
    reply = EmailMessage()
    reply.set_content(f"{greeting}\n\n{received}\n\n{files}\n\n{accepted}\n\n{signature}\n")
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
