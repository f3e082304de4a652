"""What the email front door does with one mail, however it arrived (listener or mailbox).

A new mail becomes a concern; a reply is threaded into its concern; automatic answers,
mailing lists, spam, bounces, mail past the size or the sender's rate limit are counted and
dropped, never answered. Taking the same mail twice changes nothing: a new concern is
submitted with an Idempotency-Key and a reply with its Message-ID, both derived from the mail.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from prometheus_client import Counter
from pydantic import ValidationError

from frontends.common.intake import IntakeError, IntakeInvalid, IntakeNotFound
from frontends.email import replies
from frontends.email.client import MailIntake
from frontends.email.domain import (
    IGNORED,
    Bounce,
    InboundMail,
    Kind,
    SenderCheck,
    description,
    read_mail,
)
from frontends.email.settings import EmailSettings
from services.intake.schemas import RequesterIn
from shared.events import MESSAGE_ID_PATTERN
from shared.ratelimit import RateLimiter

log = logging.getLogger(__name__)

RECEIVED = Counter("bureau_email_received_total", "Mails the email front door received")
CREATED = Counter("bureau_email_created_total", "Mails that became a new concern")
THREADED = Counter(
    "bureau_email_threaded_total", "Mails threaded into an existing concern", ["outcome"]
)
IGNORED_MAILS = Counter("bureau_email_ignored_total", "Mails neither answered nor kept", ["reason"])
ATTACHMENTS = Counter("bureau_email_attachments_total", "Attachments of mails", ["result"])


def _writable(address: str | None) -> bool:
    """Whether intake keeps this address as the requester's (its own check: a reserved
    domain such as `.local`, two dots in a row, an IP address are refused)."""
    try:
        RequesterIn.model_validate({"email": address})
    except ValidationError:
        return False
    return address is not None


class Outcome(StrEnum):
    CREATED = "created"
    THREADED = "threaded"
    UNVERIFIED = "unverified"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str
    concern_id: str | None = None
    tracking_number: str | None = None
    refused_attachments: list[replies.Refusal] = field(default_factory=list)


COUNTED_MAILS = 10_000  # mails remembered as counted against the rate limit
MAX_REFERENCES = 50  # intake's limit on the Message-IDs of one inbound message


class MessageTooLarge(Exception):
    """A mail over the size limit (the listener answers 552)."""


class MailDesk:
    """Takes one mail at a time; shared by the listener and the mailbox poller."""

    def __init__(
        self,
        *,
        intake: MailIntake,
        settings: EmailSettings,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._intake = intake
        self._settings = settings
        self._limiter = limiter or RateLimiter(settings.mails_per_sender_per_hour, 3600.0)
        # mails already counted against their sender's limit: one delivered again (a retry
        # while intake was down, a poll after a restart) is not counted twice
        self._counted: OrderedDict[str, None] = OrderedDict()

    async def take(self, raw: bytes, *, envelope_sender: str | None = None) -> Result:
        """Turn one mail into a concern or a message; raises `IntakeUnavailable` when intake
        cannot take it now (the mail is then kept to be taken again)."""
        RECEIVED.inc()
        if len(raw) > self._settings.max_message_bytes:
            return self._ignored("too_large")
        s = self._settings
        mail = read_mail(
            raw,
            bureau_domain=s.bureau_domain,
            own_addresses=s.own_addresses,
            envelope_sender=envelope_sender,
            default_language=s.default_language,
            trusted_authserv_ids=s.trusted_authserv_ids,
        )
        if mail.kind in IGNORED:
            if mail.kind is Kind.BOUNCE and mail.bounce is not None:
                await self._bounced(mail.bounce)
            return self._ignored(mail.kind.value)
        if mail.from_address is None:
            return self._ignored("no_sender")
        if not self._within_limit(mail, raw):
            return self._ignored("rate_limited")
        if mail.kind is Kind.REPLY:
            threaded = await self._thread(mail)
            if threaded is not None:
                return threaded
        # a parent's first mail needs no verdict (the acknowledgement goes to From, as the
        # web's goes to the address typed in); one the mail server found forged is dropped
        if mail.sender_check is SenderCheck.FAILED:
            return self._ignored("sender_not_authenticated")
        return await self._create(mail, raw)

    def _within_limit(self, mail: InboundMail, raw: bytes) -> bool:
        """Whether the sender may send this mail; each mail counts once, however often it is
        delivered."""
        identity = mail.message_id or hashlib.sha256(raw).hexdigest()
        if identity in self._counted:
            self._counted.move_to_end(identity)
            return True
        if not self._limiter.allow(mail.from_address or ""):
            return False
        self._counted[identity] = None
        while len(self._counted) > COUNTED_MAILS:
            self._counted.popitem(last=False)
        return True

    async def _bounced(self, bounce: Bounce) -> None:
        """The case shows that the bureau's mail did not arrive (the address stays out)."""
        domain = "@" + self._settings.bureau_domain + ">"
        ours = [m for m in bounce.original_message_ids if m.lower().endswith(domain)]
        # the address stays out of the log; how many failed is enough to follow up
        log.info(
            "bounce received",
            extra={"failed": len(bounce.failed_recipients), "status": bounce.status},
        )
        if not ours or not bounce.failed_recipients:
            return
        try:
            await self._intake.bounce(ours, bounce.status)
        except IntakeNotFound:
            pass  # not a mail about a concern (or the concern is gone)

    def _ignored(self, reason: str) -> Result:
        IGNORED_MAILS.labels(reason).inc()
        log.info("mail ignored", extra={"reason": reason})
        return Result(Outcome.IGNORED, reason)

    async def _thread(self, mail: InboundMail) -> Result | None:
        message: dict[str, Any] = {
            "channel": "email",
            "from_address": mail.from_address,
            "sender_verified": mail.sender_authenticated,
            "tracking_number": mail.tracking_number,
            # In-Reply-To first, then the thread from its root: as many as intake takes
            "references": list(mail.references)[:MAX_REFERENCES],
            "external_id": mail.message_id,
            "body": mail.body or mail.subject or "(empty message)",
        }
        try:
            answer = await self._intake.inbound_message(message)
        except IntakeNotFound:
            return None  # answers nothing the bureau knows: a new concern
        except IntakeInvalid as exc:
            log.warning("reply refused by intake", extra={"error": exc.title})
            return self._ignored("refused")
        outcome = Outcome.THREADED if answer.outcome == "requester_message" else Outcome.UNVERIFIED
        THREADED.labels(outcome.value).inc()
        log.info(
            "mail threaded",
            extra={"concern_id": answer.concern_id, "outcome": answer.outcome.value},
        )
        if outcome is Outcome.UNVERIFIED:
            # not the requester's: its files are not slipped in among the family's own
            if mail.attachments:
                ATTACHMENTS.labels("not_kept_unverified").inc(len(mail.attachments))
                log.info(
                    "attachments of an unverified mail not kept",
                    extra={"concern_id": answer.concern_id, "files": len(mail.attachments)},
                )
            return Result(outcome, answer.reason, answer.concern_id, answer.tracking_number)
        refused = await self._attach(answer.concern_id, mail)  # intake keeps a file once
        await self._tell_refused(mail, refused, answer.tracking_number)
        return Result(outcome, answer.reason, answer.concern_id, answer.tracking_number, refused)

    async def _create(self, mail: InboundMail, raw: bytes) -> Result:
        requester: dict[str, Any] = {"language": mail.language}
        writable = _writable(mail.from_address)
        if writable:
            requester |= {"email": mail.from_address, "preferred_contact": "email"}
        else:  # what they wrote is kept, though the bureau cannot write back to that address
            log.warning("sender's address not one intake keeps: concern filed without it")
        if mail.from_name:
            requester["name"] = mail.from_name[:200]
        body: dict[str, Any] = {
            "channel": "email",
            "description": description(mail),
            "requester": requester,
        }
        if writable and mail.message_id and re.match(MESSAGE_ID_PATTERN, mail.message_id):
            # notify's acknowledgement answers this mail, in its thread (an id intake would
            # refuse, e.g. not ASCII, is left out rather than lose the concern)
            body["reply_to_message_id"] = mail.message_id
        key = "email-" + hashlib.sha256((mail.message_id or "").encode() or raw).hexdigest()[:48]
        try:
            receipt = await self._intake.create_concern(body, idempotency_key=key)
        except IntakeInvalid as exc:
            log.warning(
                "new concern refused by intake",
                extra={"error": exc.title, "fields": [e.field for e in exc.errors]},
            )
            return self._ignored("refused")
        CREATED.inc()
        log.info(
            "mail became a concern",
            extra={"concern_id": receipt.id, "tracking_number": receipt.tracking_number},
        )
        refused = await self._attach(receipt.id, mail)  # intake keeps a file once
        await self._tell_refused(mail, refused, receipt.tracking_number)
        return Result(Outcome.CREATED, "new concern", receipt.id, receipt.tracking_number, refused)

    async def _tell_refused(
        self, mail: InboundMail, refused: list[replies.Refusal], tracking_number: str | None
    ) -> None:
        if refused:
            await replies.send(
                replies.refusal_reply(
                    mail,
                    refused,
                    bureau_address=self._settings.bureau_address,
                    tracking_number=tracking_number,
                ),
                self._settings,
            )

    async def _attach(self, concern_id: str, mail: InboundMail) -> list[replies.Refusal]:
        refused: list[replies.Refusal] = []
        for attachment in mail.attachments:
            try:
                await self._intake.attach(
                    concern_id, attachment.filename, attachment.content_type, attachment.data
                )
            except IntakeError as exc:
                if exc.status >= 500:
                    raise
                ATTACHMENTS.labels("refused").inc()
                refused.append(
                    replies.Refusal(attachment.filename, exc.status, exc.detail or exc.title)
                )
            else:
                ATTACHMENTS.labels("stored").inc()
        return refused
