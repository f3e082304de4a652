"""Notify's rules: what the acknowledgement says, in which language, and the life of a delivery.

Pure: no I/O, no framework. The requester's address never leaves notify's own database: events
carry a delivery id, provider answers pass through `redact`, the API shows `mask_address`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.district import DistrictInfo, LocalizedName
from shared.events import ConcernContactShared

DEFAULT_LANGUAGE = "en"
SUPPORTED_LANGUAGES = frozenset({"en", "es"})
# A fixed namespace makes Message-IDs stable across replicas, restarts and releases.
_MESSAGE_ID_NAMESPACE = uuid.UUID("6f1c2a4e-3b8d-5e7f-9a0b-1c2d3e4f5a6b")


class Kind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"


class ChannelName(StrEnum):
    EMAIL = "email"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


# The life of a delivery is this table: which statuses each status may move to.
TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    DeliveryStatus.QUEUED: frozenset({DeliveryStatus.SENDING}),
    # back to queued when an attempt failed and attempts remain; sending again when the
    # lease of a replica that died mid-send has expired
    DeliveryStatus.SENDING: frozenset({DeliveryStatus.SENT, DeliveryStatus.QUEUED,
                                       DeliveryStatus.FAILED, DeliveryStatus.SENDING}),
    DeliveryStatus.SENT: frozenset(),
    DeliveryStatus.FAILED: frozenset(),
    DeliveryStatus.SKIPPED: frozenset(),
}
FINAL = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)


def after_failure(*, attempts: int, max_attempts: int, permanent: bool) -> DeliveryStatus:
    """Status of a delivery whose `attempts`-th attempt failed: queued to retry, or failed."""
    if attempts < 1 or max_attempts < 1:
        raise ValueError("attempts and max_attempts start at 1")
    if permanent or attempts >= max_attempts:
        return DeliveryStatus.FAILED
    return DeliveryStatus.QUEUED


def delivery_id(concern_id: str, kind: Kind, channel: ChannelName) -> str:
    """One delivery per concern, kind and channel: the key that makes sending happen once."""
    return f"{concern_id}:{kind.value}:{channel.value}"


def message_id(delivery: str, domain: str) -> str:
    """The same RFC 5322 Message-ID for every attempt of a delivery, so receivers drop repeats."""
    return f"<{uuid.uuid5(_MESSAGE_ID_NAMESPACE, delivery).hex}@{domain}>"


def mask_address(address: str) -> str:
    """An address as staff may see it: `a***@example.org`."""
    local, at, domain = address.partition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


REDACTED_ADDRESS = "<recipient>"


def redact(text: str, address: str | None) -> str:
    """`text` (e.g. a provider's answer) with the address removed wherever it appears."""
    if not address:
        return text
    return re.sub(re.escape(address), REDACTED_ADDRESS, text, flags=re.IGNORECASE)


def language_for(requested: str | None) -> str:
    """The language we write in: the requester's (`es-MX` counts as `es`), else English."""
    primary = (requested or "").split("-")[0].split("_")[0].lower()
    return primary if primary in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class RenderedMessage:
    language: str
    subject: str
    text: str


_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"),
}


def format_local_time(moment: datetime, timezone: str, language: str) -> str:
    """A moment in the district's words: `Thursday, March 5, 2026 at 9:30 AM CST`."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no place in the bureau")
    local = moment.astimezone(ZoneInfo(timezone))
    # Names come from our own tables, not the process locale, so every replica writes the same.
    weekday = _WEEKDAYS[language][local.weekday()]
    month = _MONTHS[language][local.month - 1]
    zone = local.strftime("%Z")
    if language == "es":
        article = "a la" if local.hour == 1 else "a las"
        return (f"{weekday} {local.day} de {month} de {local.year} "
                f"{article} {local.hour:02d}:{local.minute:02d} ({zone})")
    hour12 = local.hour % 12 or 12
    meridiem = "AM" if local.hour < 12 else "PM"
    return (f"{weekday}, {month} {local.day}, {local.year} "
            f"at {hour12}:{local.minute:02d} {meridiem} {zone}")


_ACKNOWLEDGEMENT = {
    "en": {
        "subject": "We received your concern - tracking number {tracking}",
        "greeting": "Hello {name},",
        "greeting_anonymous": "Hello,",
        "received": "Thank you for contacting the Customer Service Bureau of {district}. "
                    "We have received your concern{about}.",
        "about": " (category: {category})",
        "tracking": "Your tracking number is {tracking}. Please keep it: you will need it to "
                    "check the status of your concern or to add information to it.",
        "due": "We will resolve your concern by {due}.",
        "automatic": "This message was sent automatically; please do not reply to it.",
        "signature": "Customer Service Bureau\n{district}",
    },
    "es": {
        "subject": "Hemos recibido su inquietud - número de seguimiento {tracking}",
        "greeting": "Hola, {name}:",
        "greeting_anonymous": "Hola:",
        "received": "Gracias por comunicarse con la Oficina de Atención al Público de "
                    "{district}. Hemos recibido su inquietud{about}.",
        "about": " (categoría: {category})",
        "tracking": "Su número de seguimiento es {tracking}. Consérvelo: lo necesitará para "
                    "consultar el estado de su inquietud o para agregarle información.",
        "due": "Resolveremos su inquietud a más tardar el {due}.",
        "automatic": "Este mensaje se envió automáticamente; por favor, no lo responda.",
        "signature": "Oficina de Atención al Público\n{district}",
    },
}


def render_acknowledgement(contact: ConcernContactShared, *, district: DistrictInfo,
                           category: LocalizedName | None = None) -> RenderedMessage:
    """The acknowledgement email in the requester's language; never mentions a student."""
    language = language_for(contact.requester.language)
    t = _ACKNOWLEDGEMENT[language]
    name = (contact.requester.name or "").strip()
    about = t["about"].format(category=category.get(language)) if category else ""
    due = format_local_time(contact.resolution_due_at, district.timezone, language)
    paragraphs = [
        t["greeting"].format(name=name) if name else t["greeting_anonymous"],
        t["received"].format(district=district.name, about=about),
        t["tracking"].format(tracking=contact.tracking_number),
        t["due"].format(due=due),
        t["automatic"],
        t["signature"].format(district=district.name),
    ]
    return RenderedMessage(
        language=language,
        subject=t["subject"].format(tracking=contact.tracking_number),
        text="\n\n".join(paragraphs) + "\n",
    )
