"""Who hears what: from an event and what notify knows of its concern, the messages to send.

Pure: no I/O. Requesters hear of their concern's acknowledgement, requests for information,
public replies, resolution (with a survey link) and reopening, by their preferred channel in
their language. Staff hear of assignments (and of a concern taken from them), SLA warnings,
escalations (with a link to the case) and critical concerns (the owning team's lead, at once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.notify.config import NotifyConfig
from services.notify.domain import (
    REQUESTER,
    URGENT_KINDS,
    ChannelName,
    Kind,
    choose_channel,
    format_local_time,
    primary_language,
)
from services.notify.repository import ConcernFacts
from services.notify.templates import SAMPLE
from shared.district import DistrictConfig, LocalizedName, Team
from shared.events import (
    ConcernAssigned,
    ConcernContactShared,
    ConcernEscalated,
    ConcernMerged,
    ConcernReopened,
    ConcernReplyShared,
    ConcernResolutionShared,
    ConcernStatusChanged,
    ConcernTriaged,
    ConcernUnassigned,
    EventData,
    Priority,
    SlaWarning,
)
from shared.messaging.transient import TransientError
from shared.safety_desk import safety_desk

STAFF_LANGUAGE = "en"
_TARGET_WORDS = {
    "en": {"first_response": "first response", "resolution": "resolution"},
    "es": {"first_response": "primera respuesta", "resolution": "resolución"},
}
_ROLE_WORDS = {
    "en": {
        "principal": "principal",
        "assistant_superintendent": "assistant superintendent",
        "ombudsperson": "Ombudsperson",
    },
    "es": {
        "principal": "director(a)",
        "assistant_superintendent": "superintendente adjunto(a)",
        "ombudsperson": "Defensor(a) del Pueblo",
    },
}


@dataclass(frozen=True)
class Role:
    """A ladder role, written out in the template's language."""

    id: str


class ContactUnknown(TransientError, LookupError):
    """A requester message for a concern whose contact has not arrived yet (retried for as
    long as it takes: never parked)."""


@dataclass(frozen=True)
class Planned:
    """One message to one person; `channel` None means nobody can be reached (skipped)."""

    kind: Kind
    recipient: str
    name: str | None
    channel: ChannelName | None
    address: str | None
    language: str
    occurrence: str | None
    facts: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None
    # by email: the Message-ID of the requester's mail the concern came from, which every
    # mail to them about it answers (one conversation in their mail client)
    in_reply_to: str | None = None

    @property
    def urgent(self) -> bool:
        return self.kind in URGENT_KINDS


_NOTIFYING = (
    ConcernContactShared,
    ConcernStatusChanged,
    ConcernReplyShared,
    ConcernResolutionShared,
    ConcernReopened,
    ConcernAssigned,
    SlaWarning,
    ConcernEscalated,
    ConcernTriaged,
    ConcernMerged,
)


def may_notify(data: EventData) -> bool:
    """Whether the event can cause a message to anyone, whatever is known of its concern:
    when not, `plan` returns nothing and the concern's facts need not be read."""
    if isinstance(data, ConcernStatusChanged):
        # the wait starts with a request for information, which itself tells the requester
        return False
    if isinstance(data, ConcernTriaged):
        return data.priority is Priority.CRITICAL
    return isinstance(data, _NOTIFYING)


def plan(
    name: str,
    data: EventData,
    *,
    facts: ConcernFacts | None,
    district: DistrictConfig,
    config: NotifyConfig,
    available: frozenset[ChannelName],
    survey_url: str | None = None,
) -> list[Planned]:
    """The messages an event causes (none for events no person hears of)."""
    if not may_notify(data):
        return []
    if isinstance(data, ConcernContactShared):
        # the personal link (token inside) and the PIN only here: notify keeps neither, but
        # in the text of a delivery that waits to be sent (dropped once it is settled)
        return _requester(
            Kind.ACKNOWLEDGEMENT,
            None,
            facts,
            available,
            {
                "due": data.resolution_due_at,
                "status_url": config.status_link(data.tracking_number, token=data.access_token),
                "pin": data.pin,
            },
            in_reply_to=data.reply_to_message_id,  # the mail the concern came from
        )
    if isinstance(data, ConcernReplyShared):
        if data.information_request:  # one message: the request, with its question
            return _requester(
                Kind.INFORMATION_REQUEST, data.message_id, facts, available, {"question": data.text}
            )
        return _requester(
            Kind.REPLY,
            data.message_id,
            facts,
            available,
            {"reply_text": data.text, "author": data.author_name},
        )
    if isinstance(data, ConcernResolutionShared):  # the resolution, with what was done
        return _requester(
            Kind.RESOLUTION,
            _stamp(data.resolved_at),
            facts,
            available,
            {"survey_url": survey_url, "summary": data.summary},
        )
    if isinstance(data, ConcernReopened):
        return _requester(Kind.REOPENING, _stamp(data.reopened_at), facts, available)
    if isinstance(data, ConcernMerged):  # told, and told that they may reopen it
        return _requester(Kind.MERGED, _stamp(data.merged_at), facts, available)
    if isinstance(data, ConcernAssigned):
        team = district.team(data.team_id)
        return _staff(
            Kind.ASSIGNMENT,
            _stamp(data.assigned_at),
            [data.assignee_id],
            district,
            available,
            {"team": team or data.team_id},
        )
    if isinstance(data, SlaWarning):
        whom = _warned(facts, district)
        return _staff(
            Kind.SLA_WARNING,
            f"{data.target.value}-{data.percent}-{_stamp(data.due_at)}",
            whom,
            district,
            available,
            {"percent": data.percent, "target": data.target.value, "due": data.due_at},
        )
    if isinstance(data, ConcernEscalated):
        school = district.school(data.school_id)
        return _staff(
            Kind.ESCALATION,
            f"{data.level}-{data.reminder}-{_stamp(data.escalated_at)}",
            [data.escalated_to],
            district,
            available,
            {
                "level": data.level,
                "role": Role(data.role),
                "school": school.name if school else None,
            },
        )
    if isinstance(data, ConcernTriaged):
        # at once, whatever the category: the owning team's lead, the school's principal,
        # and the safety desk on duty
        team = district.team(data.team_id)
        school = district.school(data.school_id)
        channels = available if config.critical_sms else available - {ChannelName.SMS}
        extra = {"team": team or data.team_name, "school": school.name if school else None}
        whom = [team.lead] if team else []
        if school is not None:
            whom.append(school.principal)
        return [
            *_staff(
                Kind.CRITICAL_CONCERN,
                _stamp(data.triaged_at),
                whom,
                district,
                channels,
                extra,
                every_channel=True,
            ),
            *_safety_desk(data.triaged_at, district, available, extra),
        ]
    return []


def assignment_ended(
    data: EventData,
    *,
    facts: ConcernFacts | None,
    district: DistrictConfig,
    available: frozenset[ChannelName],
) -> list[Planned]:
    """The message to the member a concern is taken from (re-assigned to someone else, or
    to nobody), decided from what notify knew before it learns the event: nothing when the
    concern had no assignee, keeps the same one, or a later assignment is known already, nor
    when they made the change themselves (handed their own concerns over, re-triaged one)."""
    if isinstance(data, ConcernAssigned):
        at, assignee = data.assigned_at, data.assignee_id
        known_later = (
            facts is not None and facts.assigned_at is not None and facts.assigned_at >= at
        )
    elif isinstance(data, ConcernUnassigned):
        at, assignee = data.unassigned_at, None
        known_later = facts is not None and facts.assigned_at is not None and facts.assigned_at > at
    else:
        return []
    if facts is None or facts.assignee_id in (None, assignee, data.decided_by) or known_later:
        return []
    # the new assignee and team are not named: the former one need not learn where it went
    return _staff(Kind.ASSIGNMENT_ENDED, _stamp(at), [facts.assignee_id], district, available, {})


def _safety_desk(
    at: datetime,
    district: DistrictConfig,
    available: frozenset[ChannelName],
    extra: Mapping[str, Any],
) -> list[Planned]:
    """The safety desk shift on duty (the district's roster, the one the phone rings after
    hours), by email and SMS (each it has), for a critical concern."""
    desk = safety_desk(district)
    shift = desk.on_duty(at) if desk else None
    if shift is None:
        return []
    return [
        Planned(
            kind=Kind.CRITICAL_CONCERN,
            recipient=f"safety-desk:{shift.name}",
            name=shift.name,
            channel=channel,
            address=str(address),
            language=STAFF_LANGUAGE,
            occurrence=_stamp(at),
            facts=dict(extra),
        )
        for channel, address in ((ChannelName.EMAIL, shift.email), (ChannelName.SMS, shift.phone))
        if address and channel in available
    ]


def _stamp(moment: datetime) -> str:
    """A fact's time as part of a delivery id (the same fact always gives the same id)."""
    return moment.isoformat(timespec="milliseconds")


def _requester(
    kind: Kind,
    occurrence: str | None,
    facts: ConcernFacts | None,
    available: frozenset[ChannelName],
    extra: Mapping[str, Any] | None = None,
    *,
    in_reply_to: str | None = None,
) -> list[Planned]:
    if facts is None or facts.contact is None:
        raise ContactUnknown(f"no contact known for concern {facts.concern_id if facts else ''}")
    contact = facts.contact
    channel = choose_channel(
        email=contact.email,
        phone=contact.phone,
        preferred=contact.preferred_channel,
        available=available,
    )
    address = (
        {ChannelName.EMAIL: contact.email, ChannelName.SMS: contact.phone}.get(channel)
        if channel
        else None
    )
    return [
        Planned(
            kind=kind,
            recipient=REQUESTER,
            name=contact.name,
            channel=channel,
            address=address,
            language=primary_language(contact.language),
            occurrence=occurrence,
            facts=dict(extra or {}),
            note=None if channel else _unreachable(contact, available),
            # every mail of the concern answers the requester's first mail, as notify stored
            # it with their contact (the acknowledgement also has it from its own event)
            in_reply_to=(in_reply_to or contact.reply_to_message_id)
            if channel is ChannelName.EMAIL
            else None,
        )
    ]


def _unreachable(contact: Any, available: frozenset[ChannelName]) -> str:
    """Why a requester could not be written to, truthfully."""
    if contact.phone and not contact.email and ChannelName.SMS not in available:
        return "requester left only a phone number and this bureau sends no SMS"
    return "requester gave no email or phone"


def _warned(facts: ConcernFacts | None, district: DistrictConfig) -> list[str]:
    """Who hears of an SLA warning: the assignee, else the owning team's lead."""
    if facts is None:
        return []
    if facts.assignee_id:
        return [facts.assignee_id]
    team = district.team(facts.team_id) if facts.team_id else None
    return [team.lead] if team else []


def _staff(
    kind: Kind,
    occurrence: str,
    staff_ids: list[str],
    district: DistrictConfig,
    available: frozenset[ChannelName],
    extra: Mapping[str, Any],
    *,
    every_channel: bool = False,
) -> list[Planned]:
    planned: list[Planned] = []
    for staff_id in dict.fromkeys(staff_ids):
        member = district.staff_member(staff_id)
        email = str(member.email) if member and member.email else None
        phone = member.phone if member else None
        reachable = [
            (c, a)
            for c, a in ((ChannelName.EMAIL, email), (ChannelName.SMS, phone))
            if a and c in available
        ]
        if not every_channel:
            reachable = reachable[:1]
        # nobody reachable: one skipped message that says why
        unreachable: list[tuple[ChannelName | None, str | None]] = [(None, None)]
        for channel, address in reachable or unreachable:
            planned.append(
                Planned(
                    kind=kind,
                    recipient=staff_id,
                    name=member.name if member else None,
                    channel=channel,
                    address=address,
                    language=STAFF_LANGUAGE,
                    occurrence=occurrence,
                    facts=dict(extra),
                    note=None if channel else "staff member has no email",
                )
            )
    return planned


def template_values(
    planned: Planned,
    *,
    language: str,
    concern_id: str,
    facts: ConcernFacts | None,
    district: DistrictConfig,
    config: NotifyConfig,
) -> dict[str, str]:
    """The text each placeholder gets, in the language of the template found."""
    tracking = facts.tracking_number if facts and facts.tracking_number else None
    category = district.category(facts.category) if facts and facts.category else None
    team = district.team(facts.team_id) if facts and facts.team_id else None
    if team is not None and team.sensitive and planned.recipient == REQUESTER:
        team = None  # its name tells the student's status to whoever reads the message
    raw: dict[str, Any] = {
        "district": district.district.name,
        "name": planned.name,
        "tracking": tracking or concern_id[:8],
        "concern_id": concern_id,
        "category": category.name if category else None,
        "team": team,
        "status_url": config.status_link(tracking),
        "case_url": config.case_link(concern_id),
        "due": facts.resolution_due_at if facts else None,
        **planned.facts,
    }
    if raw.get("status_url"):  # the family's page, in the language of their message
        raw["status_url"] = config.in_language(str(raw["status_url"]), language)
    return {
        key: _text(value, key, language, district.district.timezone) for key, value in raw.items()
    }


def _text(value: Any, key: str, language: str, timezone: str) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_local_time(value, timezone, language)
    if isinstance(value, LocalizedName):
        return value.get(language)
    if isinstance(value, Team):
        return value.name_in(language)
    if isinstance(value, Role):
        words = _ROLE_WORDS.get(language, _ROLE_WORDS["en"])
        return words.get(value.id, value.id.replace("_", " "))
    if key == "target":
        return _TARGET_WORDS.get(language, _TARGET_WORDS["en"]).get(str(value), str(value))
    return str(value)


# The moment the sample `due` stands for: Thursday, March 5, 2026, 9:30 AM in Chicago.
SAMPLE_DUE = datetime(2026, 3, 5, 15, 30, tzinfo=UTC)


def sample_values(language: str, district: DistrictConfig) -> dict[str, str]:
    """The sample values a template preview renders with, written as a message in `language`
    would be: the date in the district's time zone, the role and the target in its words."""
    team = next((t for t in district.teams if t.name == SAMPLE["team"]), SAMPLE["team"])
    category = next(
        (c.name for c in district.categories if c.name.en == SAMPLE["category"]),
        SAMPLE["category"],
    )
    raw: dict[str, Any] = {
        **SAMPLE,
        "due": SAMPLE_DUE,
        "role": Role(SAMPLE["role"]),
        "team": team,  # in the language's name where the district gives one
        "category": category,  # as a real message names it, in its language
    }
    return {
        key: _text(value, key, language, district.district.timezone) for key, value in raw.items()
    }
