"""From stored concerns to what each audience may see: staff, requester, work-queue lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.intake import students
from services.intake.domain import OPEN_STATUSES, Status
from services.intake.lifecycle import REOPEN_WINDOW
from services.intake.schemas import (
    AssigneeRead,
    ConcernRead,
    ConcernSummary,
    EscalationRead,
    PublicMessageRead,
    PublicResolutionRead,
    RequesterView,
    StudentMaskedRead,
    TeamRead,
    TimelineEntryRead,
)
from shared.clock import as_utc
from shared.district import DistrictConfig
from shared.events import MessageVisibility
from shared.store import Document

_TIMELINE_HIDDEN = ("event_id",)
_LINKS = "possible_duplicate_of"  # a triaged entry's same-family links


def is_overdue(doc: Document, now: datetime) -> bool:
    # while the clock waits (on the requester) its due time is not running out
    return (
        Status(doc["status"]) in OPEN_STATUSES
        and not doc.get("sla_paused")
        and as_utc(doc["resolution_due_at"]) < now
    )


def _team(doc: Document) -> TeamRead | None:
    return TeamRead(id=doc["team_id"], name=doc["team_name"]) if doc.get("team_name") else None


def _assignee(doc: Document) -> AssigneeRead | None:
    if not doc.get("assignee_id"):
        return None
    return AssigneeRead(id=doc["assignee_id"], name=doc.get("assignee_name") or "")


def linked_concerns(doc: Document) -> list[str]:
    """The other concerns a case's timeline names (possible duplicates triage saw)."""
    return [i for e in doc.get("timeline", []) for i in e.get(_LINKS) or ()]


def links_within(doc: Document, shown: set[str] | None) -> Document:
    """The case with its timeline's links to other concerns cut to `shown` (None: all): a
    same-family link to a concern out of the reader's reach tells of that concern."""
    if shown is None:
        return doc
    entries = [
        {**e, _LINKS: [i for i in e[_LINKS] if i in shown]} if e.get(_LINKS) else e
        for e in doc.get("timeline", [])
    ]
    return {**doc, "timeline": entries}


def timeline(doc: Document) -> list[TimelineEntryRead]:
    """Everything that happened, oldest first (events of other services carry their time)."""
    entries = sorted(doc.get("timeline", []), key=lambda e: as_utc(e["at"]))
    return [
        TimelineEntryRead(**{k: v for k, v in e.items() if k not in _TIMELINE_HIDDEN})
        for e in entries
    ]


def _masked_student(doc: Document) -> StudentMaskedRead | None:
    shown = students.shown(doc.get("student"))
    return StudentMaskedRead(**shown) if shown else None


def staff_view(doc: Document, *, now: datetime, merged_from: list[str]) -> ConcernRead:
    """The whole case for staff: the student masked, no requester contact."""
    requester: dict[str, Any] = doc["requester"]
    escalation = doc.get("escalation")
    return ConcernRead(
        id=doc["_id"],
        tracking_number=doc["tracking_number"],
        version=doc.get("version", 1),
        status=doc["status"],
        channel=doc["channel"],
        category=doc["category"],
        school_id=doc.get("school_id"),
        school_contacted=doc.get("school_contacted"),
        description=doc["description"],
        requester_language=requester.get("language", "en"),
        requester_relationship=requester.get("relationship"),
        preferred_contact=requester.get("preferred_contact"),
        anonymous=not (requester.get("name") or requester.get("email") or requester.get("phone")),
        has_student_information=bool(doc.get("student")),
        student=_masked_student(doc),
        taken_by=doc.get("taken_by"),
        via=doc.get("via"),
        submitted_at=doc["submitted_at"],
        updated_at=doc.get("updated_at"),
        resolution_due_at=doc["resolution_due_at"],
        overdue=is_overdue(doc, now),
        team=_team(doc),
        priority=doc.get("priority"),
        assignee=_assignee(doc),
        escalation=EscalationRead(**escalation) if escalation else None,
        resolution=doc.get("resolution"),
        merged_into=doc.get("merged_into"),
        merged_from=merged_from,
        location=doc.get("location"),
        media_url=doc.get("media_url"),
        messages=doc.get("messages", []),
        callbacks=doc.get("callbacks", []),
        history=doc.get("history", []),
        timeline=timeline(doc),
    )


def summary(doc: Document, *, now: datetime) -> ConcernSummary:
    """One work-queue line."""
    escalation = doc.get("escalation") or {}
    return ConcernSummary(
        id=doc["_id"],
        tracking_number=doc["tracking_number"],
        status=doc["status"],
        channel=doc["channel"],
        category=doc["category"],
        school_id=doc.get("school_id"),
        team=_team(doc),
        priority=doc.get("priority"),
        assignee=_assignee(doc),
        escalation_level=escalation.get("level", 0),
        submitted_at=doc["submitted_at"],
        updated_at=doc.get("updated_at"),
        resolution_due_at=doc["resolution_due_at"],
        overdue=is_overdue(doc, now),
        callback_due_at=doc.get("callback_due_at"),
    )


def public_team_name(doc: Document, district: DistrictConfig) -> str | None:
    """The owning team's name as the public reads it (the family's status page, phone, SMS,
    Open311): none before routing; the district's own name for a sensitive routing (a
    special-education team tells the student's status to whoever holds the tracking number),
    as notify's mail keeps it too (Security #2)."""
    if not doc.get("team_id"):
        return None
    team = district.team(doc["team_id"])
    if doc.get("routing_sensitive") or (team is not None and team.sensitive):
        return district.district.name
    return str(doc.get("team_name") or district.district.name)


def requester_view(doc: Document, *, district: DistrictConfig, now: datetime) -> RequesterView:
    """The requester's status page: public messages only, nothing about the student."""
    language = doc["requester"].get("language", "en")
    category = district.category(doc["category"])
    status = Status(doc["status"])
    resolution = doc.get("resolution")
    shown_resolution = (
        PublicResolutionRead(summary=resolution["summary"], at=resolution["at"])
        if resolution and status in (Status.RESOLVED, Status.CLOSED)
        else None
    )
    reopen_until = None
    if status is Status.RESOLVED and resolution:
        until = as_utc(resolution["at"]) + REOPEN_WINDOW
        reopen_until = until if until >= now else None
    elif status is Status.CLOSED and doc.get("merged_into") and doc.get("merged_at"):
        until = as_utc(doc["merged_at"]) + REOPEN_WINDOW  # a merge may have been mistaken
        reopen_until = until if until >= now else None
    elif status is Status.CLOSED and resolution:  # closing keeps the window it promised
        until = as_utc(resolution["at"]) + REOPEN_WINDOW
        reopen_until = until if until >= now else None
    messages = [
        PublicMessageRead(
            author=m["author"], author_name=m.get("author_name"), text=m["text"], at=m["at"]
        )
        for m in doc.get("messages", [])
        if m["visibility"] == MessageVisibility.PUBLIC.value
    ]
    return RequesterView(
        tracking_number=doc["tracking_number"],
        status=status,
        category=doc["category"],
        category_name=category.name.get(language) if category else doc["category"],
        team_name=public_team_name(doc, district),
        submitted_at=doc["submitted_at"],
        resolution_due_at=doc["resolution_due_at"],
        messages=messages,
        resolution=shown_resolution,
        can_reopen_until=reopen_until,
        merged=bool(doc.get("merged_into")),
    )
