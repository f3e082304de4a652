"""The stored form of an SLA clock: its document, the fields a change rewrites, and the
names the other modules of the store share.

A clock names the events it has applied (`applied_events`), pushed in the very update that
applies one and checked in its filter: a redelivered event changes nothing, without an inbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import bson
from bson.codec_options import CodecOptions

from services.escalation.domain import (
    ClockStatus,
    Entry,
    PendingCallback,
    SlaClock,
    ombudsperson_from,
)
from services.escalation.policies import Policy
from shared.clock import as_utc, as_utc_or_none
from shared.events import Priority
from shared.store import Document

CLOCKS = "clocks"
VERSION = "version"
LEASE_TOKEN = "lease_token"
LEASE_UNTIL = "lease_until"
APPLIED = "applied_events"
REPORT_CYCLES = "report_cycles"  # one summary per ended cycle (services/escalation/standards.py)
BOARD_COUNTED = "board_counted"  # the facts counted in the Board's summaries (board_store.py)
# When the concern is on the Ombudsperson's list (services/escalation/domain.py), indexed.
OMBUDSPERSON_FROM = "ombudsperson_from"
# Who each concern is assigned to, and since when: a small document per concern beside the
# clocks (who may read a clock besides its school and team), so that an assignment never
# rewrites the clock.
ASSIGNEES = "assignees"
# A clock nobody holds has its lease ending at the epoch: "free" is then a plain range test.
FREE = datetime(1970, 1, 1, tzinfo=UTC)
# What a read leaves out: the pending events are the relay's, the applied event ids only the
# write filters' (they are read with a clock a handler is about to change).
NOT_READ: Document = {"outbox": 0, APPLIED: 0, REPORT_CYCLES: 0, BOARD_COUNTED: 0}
_BSON: CodecOptions[Document] = CodecOptions(tz_aware=True, tzinfo=UTC)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    """A clock as read, with the version a write must still find and the events it applied."""

    clock: SlaClock
    version: int
    applied: frozenset[str] = frozenset()


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _entry_doc(entry: Entry) -> Document:
    doc: Document = {"at": entry.at, "kind": entry.kind, "cycle": entry.cycle}
    for name in ("target", "level", "reminder", "percent", "detail", "due_at"):
        value = getattr(entry, name)
        if value is not None:
            doc[name] = str(value) if name == "target" else value
    return doc


def _entry(doc: Document) -> Entry:
    return Entry(
        at=as_utc(doc["at"]),
        kind=doc["kind"],
        cycle=int(doc["cycle"]),
        target=doc.get("target"),
        level=doc.get("level"),
        reminder=doc.get("reminder"),
        percent=doc.get("percent"),
        detail=doc.get("detail"),
        due_at=as_utc(doc["due_at"]) if doc.get("due_at") else None,
    )


def to_document(clock: SlaClock) -> Document:
    return {
        "_id": clock.concern_id,
        "category": clock.category,
        "school_id": clock.school_id,
        "team_id": clock.team_id,
        "priority": clock.priority.value if clock.priority else None,
        "channel": clock.channel,
        "submitted_at": clock.submitted_at,
        "policy": clock.policy.model_dump(mode="json"),
        "status": clock.status.value,
        "cycle": clock.cycle,
        "started_at": clock.started_at,
        "running_since": clock.running_since,
        "paused_at": clock.paused_at,
        "elapsed_s": clock.elapsed.total_seconds(),
        "first_response_at": clock.first_response_at,
        "breached_at": clock.breached_at,
        "breach_position_s": _seconds(clock.breach_position),
        "level": clock.level,
        "level_at": clock.level_at,
        "reminders": clock.reminders,
        "acted_at": clock.acted_at,
        "stopped_at": clock.stopped_at,
        "fired": sorted(clock.fired),
        "next_due_at": clock.next_due_at,
        "first_response_due_at": clock.first_response_due_at,
        "resolution_due_at": clock.resolution_due_at,
        "satisfaction": clock.satisfaction,
        "surveyed_at": clock.surveyed_at,
        OMBUDSPERSON_FROM: ombudsperson_from(clock),
        "history": [_entry_doc(e) for e in clock.history],
        "callbacks": [
            {
                "id": c.id,
                "due_at": c.due_at,
                "scheduled_at": c.scheduled_at,
                "remind_at": c.remind_at,
                "assignee_id": c.assignee_id,
                "reminded": c.reminded,
            }
            for c in clock.callbacks
        ],
    }


def from_document(doc: Document) -> SlaClock:
    breach_position = doc.get("breach_position_s")
    return SlaClock(
        concern_id=doc["_id"],
        category=doc["category"],
        school_id=doc.get("school_id"),
        team_id=doc.get("team_id"),
        priority=Priority(doc["priority"]) if doc.get("priority") else None,
        channel=doc.get("channel"),
        submitted_at=as_utc(doc["submitted_at"]),
        policy=Policy.model_validate(doc["policy"]),
        status=ClockStatus(doc["status"]),
        cycle=int(doc["cycle"]),
        started_at=as_utc(doc["started_at"]),
        running_since=as_utc_or_none(doc.get("running_since")),
        paused_at=as_utc_or_none(doc.get("paused_at")),
        elapsed=timedelta(seconds=doc.get("elapsed_s") or 0),
        first_response_at=as_utc_or_none(doc.get("first_response_at")),
        breached_at=as_utc_or_none(doc.get("breached_at")),
        breach_position=timedelta(seconds=breach_position) if breach_position is not None else None,
        level=int(doc.get("level", 0)),
        level_at=as_utc_or_none(doc.get("level_at")),
        reminders=int(doc.get("reminders", 0)),
        acted_at=as_utc_or_none(doc.get("acted_at")),
        stopped_at=as_utc_or_none(doc.get("stopped_at")),
        fired=frozenset(doc.get("fired", [])),
        next_due_at=as_utc_or_none(doc.get("next_due_at")),
        first_response_due_at=as_utc_or_none(doc.get("first_response_due_at")),
        resolution_due_at=as_utc_or_none(doc.get("resolution_due_at")),
        satisfaction=doc.get("satisfaction"),
        surveyed_at=as_utc_or_none(doc.get("surveyed_at")),
        history=tuple(_entry(e) for e in doc.get("history", [])),
        callbacks=tuple(
            PendingCallback(
                id=c["id"],
                due_at=as_utc(c["due_at"]),
                scheduled_at=as_utc(c["scheduled_at"]),
                remind_at=as_utc_or_none(c.get("remind_at")),
                assignee_id=c.get("assignee_id"),
                reminded=bool(c.get("reminded")),
            )
            for c in doc.get("callbacks") or ()
        ),
    )


def _state(clock: SlaClock) -> Document:
    """The fields a change may rewrite (everything but the id)."""
    return {k: v for k, v in to_document(clock).items() if k != "_id"}


def changes(before: SlaClock, after: SlaClock) -> Document:
    """Only the fields that changed, so a write stays small as the history grows; and the
    Ombudsperson's index field always (a clock stored before it existed gains it)."""
    old, new = _state(before), _state(after)
    changed = {k: v for k, v in new.items() if old.get(k) != v}
    changed[OMBUDSPERSON_FROM] = new[OMBUDSPERSON_FROM]
    return changed


def stored_of(doc: Document) -> Stored:
    return Stored(from_document(doc), int(doc.get(VERSION, 0)), frozenset(doc.get(APPLIED, ())))


def as_written(clock: SlaClock) -> SlaClock:
    """The clock as the store keeps it (times to the millisecond), so that a remembered copy
    is what a read would return."""
    return from_document(bson.decode(bson.encode(to_document(clock)), codec_options=_BSON))


def readable(docs: list[Document]) -> list[SlaClock]:
    """The clocks this version can read; others (older formats) are logged and left out."""
    clocks = []
    for doc in docs:
        try:
            clocks.append(from_document(doc))
        except (KeyError, TypeError, ValueError):
            log.error("unreadable sla clock left out", extra={"concern_id": doc.get("_id")})
    return clocks
