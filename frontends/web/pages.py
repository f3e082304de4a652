"""What the templates show, computed from the services' answers (pure: no I/O)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_decimal

from frontends.common.intake import RequesterView
from frontends.web.i18n import N_
from services.intake.attachment_schemas import AttachmentLimits

STATUS_LABELS = {
    "received": N_("Received"),
    "acknowledged": N_("Being worked on"),
    "awaiting_requester": N_("Waiting for your answer"),
    "resolved": N_("Resolved"),
    "reopened": N_("Reopened"),
    "closed": N_("Closed"),
}
STATUS_HINTS = {
    "received": N_("We have your concern and are sending it to the team that handles it."),
    "acknowledged": N_("The team that handles your concern is working on it."),
    "awaiting_requester": N_("We need more information from you. Please answer below."),
    "resolved": N_("We have resolved your concern. Read what we did below."),
    "reopened": N_("You reopened your concern. The team is working on it again."),
    "closed": N_("This concern is closed."),
}
CONTACT_LABELS = {
    "email": N_("By email"),
    "phone": N_("By phone call"),
    "sms": N_("By text message (SMS)"),
    "none": N_("Do not contact me (anonymous)"),
}
RELATIONSHIP_LABELS = {
    "parent_guardian": N_("Parent or guardian"),
    "student": N_("Student"),
    "staff": N_("District staff"),
    "community": N_("Community member"),
    "alumni": N_("Former student"),
}
SURVEY_SCALE = {
    1: N_("Very dissatisfied"),
    2: N_("Dissatisfied"),
    3: N_("Neither satisfied nor dissatisfied"),
    4: N_("Satisfied"),
    5: N_("Very satisfied"),
}


def when(moment: datetime, *, language: str, timezone: str) -> str:
    """A date and time a parent reads, in the district's time zone and the page's language."""
    local = moment.astimezone(ZoneInfo(timezone))
    day = format_date(local, format="long", locale=language)
    hour = format_time(local, format="short", tzinfo=local.tzinfo, locale=language)
    return f"{day}, {hour} {local.tzname()}"


def is_open(view: RequesterView) -> bool:
    return view.status not in ("resolved", "closed")


def can_reopen(view: RequesterView, now: datetime) -> bool:
    return view.can_reopen_until is not None and now < view.can_reopen_until


def is_late(view: RequesterView, now: datetime) -> bool:
    """Past the promised time while the bureau has the next step (a concern waiting for the
    family's answer has its clock paused)."""
    return view.status in ("received", "acknowledged", "reopened") and now >= view.resolution_due_at


# --- submission: files --------------------------------------------------------------------


def file_size(size: int, *, language: str) -> str:
    """A file's size as a parent reads it: 850 KB, 2.5 MB (1,5 MB in Spanish)."""
    if size < 1024 * 1024:
        return f"{format_decimal(max(1, round(size / 1024)), locale=language)} KB"
    megabytes = round(size / (1024 * 1024), 1)
    shown = int(megabytes) if megabytes.is_integer() else megabytes
    return f"{format_decimal(shown, locale=language)} MB"


def file_types(limits: AttachmentLimits) -> str:
    """The types intake takes, by the names families know (PDF, JPEG, PNG, ..., Word)."""
    return ", ".join(dict.fromkeys(t.name for t in limits.types))


def file_accept(limits: AttachmentLimits) -> str:
    """The file input's `accept`: the endings and types intake takes."""
    endings = [e for t in limits.types for e in t.extensions]
    return ",".join(dict.fromkeys([*endings, *(t.content_type for t in limits.types)]))
