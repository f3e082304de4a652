"""Outside channels behind one small interface: `send(message) -> DeliveryResult`.

A channel reports a refusal or an outage as a failed result; it raises only on a bug.
Provider answers are redacted by the caller, because they often quote the address back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

MAX_ANSWER_CHARS = 500


@dataclass(frozen=True)
class Attachment:
    """A text file sent with a mail (e.g. the Board packet's CSV)."""

    filename: str
    content_type: str  # text/<subtype>, e.g. text/csv
    content: str


@dataclass(frozen=True)
class OutgoingMessage:
    """One attempt of one delivery, addressed to one person or one subscribed system."""

    delivery_id: str
    to: str
    to_name: str | None
    subject: str
    text: str
    language: str
    created_at: datetime
    # webhooks only: the subscription's secret that signs the body
    secret: str | None = None
    # email only: an HTML alternative of `text`, and files attached
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    # email only: the Message-ID of the requester's mail the concern came from, which every
    # mail to them about it answers, so it lands in that mail's thread
    in_reply_to: str | None = None


@dataclass(frozen=True)
class DeliveryResult:
    """What the provider answered: accepted, or refused (`permanent` when retrying is futile)."""

    ok: bool
    answer: str
    permanent: bool = False
    reference: str | None = None

    @classmethod
    def accepted(cls, answer: str, reference: str | None = None) -> DeliveryResult:
        return cls(ok=True, answer=answer[:MAX_ANSWER_CHARS], reference=reference)

    @classmethod
    def refused(cls, answer: str, *, permanent: bool = False) -> DeliveryResult:
        return cls(ok=False, answer=answer[:MAX_ANSWER_CHARS], permanent=permanent)


class OutboundChannel(Protocol):
    name: str

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        """Hand the message to the provider; never raises for a provider's refusal."""
        ...


class RecordingChannel:
    """A fake channel for tests: records what it is asked to send; can be told to refuse."""

    def __init__(self, name: str = "email") -> None:
        self.name = name
        self.sent: list[OutgoingMessage] = []
        self.refused: list[OutgoingMessage] = []
        self._refusals: list[DeliveryResult] = []

    def refuse_next(
        self, answer: str = "451 try again later", *, times: int = 1, permanent: bool = False
    ) -> None:
        """The next `times` sends fail with this answer."""
        self._refusals += [DeliveryResult.refused(answer, permanent=permanent)] * times

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        if self._refusals:
            self.refused.append(message)
            return self._refusals.pop(0)
        self.sent.append(message)
        return DeliveryResult.accepted("250 recorded", reference=message.delivery_id)


def http_refusal(status: int, answer: str) -> DeliveryResult:
    """An HTTP provider's error answer: 4xx is permanent except timeouts and rate limits."""
    permanent = 400 <= status < 500 and status not in (408, 409, 425, 429)
    return DeliveryResult.refused(f"HTTP {status}: {answer}", permanent=permanent)


from services.notify.channels.email import SmtpEmailChannel  # noqa: E402
from services.notify.channels.sms import HttpSmsChannel  # noqa: E402
from services.notify.channels.webhook import WebhookChannel  # noqa: E402

__all__ = [
    "DeliveryResult",
    "HttpSmsChannel",
    "OutboundChannel",
    "OutgoingMessage",
    "RecordingChannel",
    "SmtpEmailChannel",
    "WebhookChannel",
    "http_refusal",
]
