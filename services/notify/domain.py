"""Notify's rules: kinds of message, the life of a delivery, channels, languages, addresses.

Pure: no I/O, no framework. The requester's address never leaves notify's own database: events
carry a delivery id, provider answers pass through `redact`, the API shows `mask_address`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

DEFAULT_LANGUAGE = "en"
# Languages whose dates we can write; templates may exist in more (they format dates in English).
DATE_LANGUAGES = frozenset({"en", "es"})
# A fixed namespace makes Message-IDs stable across replicas, restarts and releases.
_MESSAGE_ID_NAMESPACE = uuid.UUID("6f1c2a4e-3b8d-5e7f-9a0b-1c2d3e4f5a6b")
_ID_PART = re.compile(r"^[A-Za-z0-9-]{1,64}$")
REQUESTER = "requester"


class Kind(StrEnum):
    """What a message is about; templates exist per kind, channel and language."""

    # to the requester
    ACKNOWLEDGEMENT = "acknowledgement"
    INFORMATION_REQUEST = "information_request"
    REPLY = "reply"
    RESOLUTION = "resolution"
    REOPENING = "reopening"
    MERGED = "merged"
    # to staff
    ASSIGNMENT = "assignment"
    ASSIGNMENT_ENDED = "assignment_ended"  # to the former assignee of a concern
    SLA_WARNING = "sla_warning"
    ESCALATION = "escalation"
    CRITICAL_CONCERN = "critical_concern"
    # to a subscribed district system
    WEBHOOK = "webhook"
    # to the Board's list: the monthly packet (services/notify/board_packet.py)
    BOARD_PACKET = "board_packet"


REQUESTER_KINDS = frozenset(
    {
        Kind.ACKNOWLEDGEMENT,
        Kind.INFORMATION_REQUEST,
        Kind.REPLY,
        Kind.RESOLUTION,
        Kind.REOPENING,
        Kind.MERGED,
    }
)
# Urgent messages go out at once, even by SMS during quiet hours.
URGENT_KINDS = frozenset({Kind.CRITICAL_CONCERN})


class ChannelName(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


# Channels people read; a template exists for each of them.
PERSON_CHANNELS = (ChannelName.EMAIL, ChannelName.SMS)


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


# The life of a delivery is this table: which statuses each status may move to. A delivery is
# recorded queued, skipped, or, when it is due at once, already sending: claimed in the write
# that records it, as if queued and claimed at the same moment.
TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    DeliveryStatus.QUEUED: frozenset({DeliveryStatus.SENDING}),
    # back to queued when an attempt failed and attempts remain; sending again when the
    # lease of a replica that died mid-send has expired
    DeliveryStatus.SENDING: frozenset(
        {DeliveryStatus.SENT, DeliveryStatus.QUEUED, DeliveryStatus.FAILED, DeliveryStatus.SENDING}
    ),
    # a mail the relay accepted may still come back: a bounce (RFC 3464) fails it
    DeliveryStatus.SENT: frozenset({DeliveryStatus.FAILED}),
    DeliveryStatus.FAILED: frozenset(),
    DeliveryStatus.SKIPPED: frozenset(),
}


def after_failure(*, attempts: int, max_attempts: int, permanent: bool) -> DeliveryStatus:
    """Status of a delivery whose `attempts`-th attempt failed: queued to retry, or failed."""
    if attempts < 1 or max_attempts < 1:
        raise ValueError("attempts and max_attempts start at 1")
    if permanent or attempts >= max_attempts:
        return DeliveryStatus.FAILED
    return DeliveryStatus.QUEUED


def retry_at(now: datetime, *, attempts: int, backoff_s: Sequence[float]) -> datetime:
    """When to try again after the `attempts`-th failed attempt: the n-th backoff, then the last."""
    if attempts < 1 or not backoff_s:
        raise ValueError("attempts start at 1 and the backoff needs at least one delay")
    return now + timedelta(seconds=backoff_s[min(attempts, len(backoff_s)) - 1])


def delivery_id(
    concern_id: str,
    kind: Kind,
    channel: ChannelName,
    *,
    occurrence: str | None = None,
    recipient: str | None = None,
) -> str:
    """The key that makes sending happen once: concern, kind, which occurrence, channel, whom.

    The acknowledgement happens once per concern (no occurrence); other kinds once per fact
    that caused them (the reply's message id, the time of the status change...), so a
    redelivered or republished event maps to the same delivery. Staff recipients are named,
    the requester is implied.
    """
    parts = [concern_id, kind.value]
    if occurrence:
        parts.append(occurrence)
    parts.append(channel.value)
    if recipient and recipient != REQUESTER:
        parts.append(recipient)
    return ":".join(parts)


def public_delivery_id(delivery: str, recipient: str, key: str) -> str:
    """A delivery's id as `notification.*` events publish it: a staff recipient's id becomes
    an opaque keyed token (the same for every event of that delivery), since who was told
    may tell how a concern was routed (a special education lead: Security #2); a requester's
    delivery keeps its id, which names no one."""
    if recipient == REQUESTER or not delivery.endswith(f":{recipient}"):
        return delivery
    token = hmac.new(key.encode(), delivery.encode(), hashlib.sha256).hexdigest()[:16]
    return f"{delivery[: -len(recipient)]}staff-{token}"


def message_id(delivery: str, domain: str) -> str:
    """The same RFC 5322 Message-ID for every attempt of a delivery, so receivers drop repeats.

    It starts with the concern's id (`<concern-id.hash@domain>`), so a reply that names it in
    `In-Reply-To` finds its concern (the email front door)."""
    return f"<{_message_id_left(delivery)}@{domain}>"


def _message_id_left(delivery: str) -> str:
    """A delivery's Message-ID before the `@`: its concern, then a hash of the delivery."""
    concern = delivery.partition(":")[0]
    prefix = f"{concern}." if ":" in delivery and _ID_PART.match(concern) else ""
    return f"{prefix}{uuid.uuid5(_MESSAGE_ID_NAMESPACE, delivery).hex}"


def thread_root(delivery: str, domain: str) -> str | None:
    """The one Message-ID every mail to a requester about one concern refers to (References,
    In-Reply-To), so their mail client shows the concern as one thread; None for staff."""
    concern, _, rest = delivery.partition(":")
    kind = rest.partition(":")[0]
    if not _ID_PART.match(concern) or kind not in REQUESTER_KINDS:
        return None
    return f"<concern.{concern}@{domain}>"


def mask_address(address: str) -> str:
    """An address as staff may see it: `a***@example.org`, `+1***67`, `https://host/***`."""
    if address.startswith(("http://", "https://")):
        scheme, _, rest = address.partition("://")
        return f"{scheme}://{rest.split('/')[0]}/***"
    if address.startswith("+"):
        return f"{address[:2]}***{address[-2:]}" if len(address) > 5 else "***"
    local, at, domain = address.partition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


REDACTED_ADDRESS = "<recipient>"


def redact(text: str, address: str | None) -> str:
    """`text` (e.g. a provider's answer) with the address removed wherever it appears."""
    if not address:
        return text
    redacted = re.sub(re.escape(address), REDACTED_ADDRESS, text, flags=re.IGNORECASE)
    if address.startswith("+"):
        # SMS providers also quote the number without its plus sign
        redacted = redacted.replace(address[1:], REDACTED_ADDRESS)
    return redacted


_STATUS_CODE = re.compile(r"^\s*(?:HTTP\s+|SMTP\s+)?([2-5]\d\d)\b")
_ERROR_CODE = re.compile(r"\bcode[\"']?\s*[=:]?\s*(\d{3,6})\b", re.IGNORECASE)
_EXCEPTION = re.compile(r"^([A-Z][A-Za-z]+(?:Error|Exception|Timeout))\b")


BOUNCED = "bounced"
# An RFC 3464 status (enhanced status code, RFC 3463), e.g. 5.1.1
_DSN_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
_BOUNCE_ANSWER = re.compile(rf"^{BOUNCED}( \(status [245]\.\d{{1,3}}\.\d{{1,3}}\))?$")


def bounce_answer(status: str | None) -> str:
    """What a delivery records when its mail came back undelivered: `bounced`, with the
    report's status when it is one (nothing else of the report is kept)."""
    status = (status or "").strip()
    return f"{BOUNCED} (status {status})" if _DSN_STATUS.match(status) else BOUNCED


def bounced_deliveries(message_ids: Collection[str], delivery_ids: Iterable[str]) -> list[str]:
    """The deliveries whose mails a bounce names, by their Message-ID (compared without the
    domain: `MAIL_FROM` may have changed since the mail went)."""
    named = {m.strip().removeprefix("<").rpartition("@")[0] for m in message_ids}
    return [d for d in delivery_ids if _message_id_left(d) in named]


def provider_summary(answer: str | None, *, ok: bool, permanent: bool = False) -> str:
    """What may be shown of a provider's answer (Security #4): the outcome and its status or
    error codes, never the provider's words, which quote addresses in forms no redaction
    foresees. The words themselves stay in the delivery's stored history."""
    text = answer or ""
    if _BOUNCE_ANSWER.match(text):  # our own words (`bounce_answer`), a code at most
        return text
    codes = [m.group(1) for m in (_STATUS_CODE.match(text), *_ERROR_CODE.finditer(text)) if m]
    failure = _EXCEPTION.match(text)
    outcome = "accepted" if ok else ("refused" if permanent else "not accepted")
    detail = ", ".join(
        [
            *(f"code {c}" for c in dict.fromkeys(codes)),
            *([failure.group(1)] if failure and not codes else []),
        ]
    )
    return f"{outcome} ({detail})" if detail else outcome


_ADDRESS_LIKE = re.compile(r"@|<|>|\bmailto:", re.IGNORECASE)


def display_name(name: str | None) -> str:
    """A requester's name as safe to show in `To:` (Security, low): on one line, and none at
    all when it looks like an address, which mail clients would show instead of the real
    one."""
    collapsed = " ".join((name or "").split())
    if _ADDRESS_LIKE.search(collapsed):
        return ""
    return collapsed.strip("\"',;: ")


def primary_language(requested: str | None) -> str:
    """The primary subtag of a language tag (`es-MX` -> `es`), English when none."""
    primary = (requested or "").split("-")[0].split("_")[0].strip().lower()
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else DEFAULT_LANGUAGE


def choose_channel(
    *,
    email: str | None,
    phone: str | None,
    preferred: str | None,
    available: frozenset[ChannelName],
) -> ChannelName | None:
    """How to reach a person: the preferred channel when usable, else email, else SMS."""
    usable = {ChannelName.EMAIL: bool(email), ChannelName.SMS: bool(phone)}
    ready = [c for c in PERSON_CHANNELS if usable[c] and c in available]
    if preferred in {c.value for c in ready}:
        return ChannelName(preferred)
    return ready[0] if ready else None


_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
_MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "es": (
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ),
}


def format_local_time(moment: datetime, timezone: str, language: str) -> str:
    """A moment in the district's words: `Thursday, March 5, 2026 at 9:30 AM CST`."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no place in the bureau")
    language = language if language in DATE_LANGUAGES else DEFAULT_LANGUAGE
    local = moment.astimezone(ZoneInfo(timezone))
    # Names come from our own tables, not the process locale, so every replica writes the same.
    weekday = _WEEKDAYS[language][local.weekday()]
    month = _MONTHS[language][local.month - 1]
    zone = local.strftime("%Z")
    if language == "es":
        article = "a la" if local.hour == 1 else "a las"
        return (
            f"{weekday} {local.day} de {month} de {local.year} "
            f"{article} {local.hour:02d}:{local.minute:02d} ({zone})"
        )
    hour12 = local.hour % 12 or 12
    meridiem = "AM" if local.hour < 12 else "PM"
    return (
        f"{weekday}, {month} {local.day}, {local.year} "
        f"at {hour12}:{local.minute:02d} {meridiem} {zone}"
    )
