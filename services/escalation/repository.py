"""Escalation's store: one SLA clock per concern, with its outbox inside the document.

Clocks that are due are found through the `next_due_at` index and claimed with a lease
(find-and-update), so that N replicas never fire the same step twice. Every write checks a
`version` so a scheduler step and an event handler never overwrite each other's change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.escalation.domain import ClockStatus, SlaClock
from shared.clock import as_utc
from shared.events import CloudEvent, Priority
from shared.outbox import outbox_push, with_outbox
from shared.store import Document

CLOCKS = "clocks"
VERSION = "version"
LEASE_TOKEN = "lease_token"
LEASE_UNTIL = "lease_until"


@dataclass(frozen=True)
class Stored:
    """A clock as read, with the version a write must still find."""

    clock: SlaClock
    version: int


@dataclass(frozen=True)
class Claimed:
    """A due clock this replica holds the lease of."""

    clock: SlaClock
    version: int
    token: str


def to_document(clock: SlaClock) -> Document:
    return {
        "_id": clock.concern_id,
        "category": clock.category,
        "school_id": clock.school_id,
        "team_id": clock.team_id,
        "priority": clock.priority.value if clock.priority else None,
        "policy": clock.policy,
        "status": clock.status.value,
        "cycle": clock.cycle,
        "started_at": clock.started_at,
        "resolution_due_at": clock.resolution_due_at,
        "level": clock.level,
        "breached_at": clock.breached_at,
        "stopped_at": clock.stopped_at,
        "next_due_at": clock.next_due_at,
    }


def _aware(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def from_document(doc: Document) -> SlaClock:
    return SlaClock(
        concern_id=doc["_id"],
        category=doc["category"],
        school_id=doc.get("school_id"),
        team_id=doc.get("team_id"),
        priority=Priority(doc["priority"]) if doc.get("priority") else None,
        policy=doc["policy"],
        status=ClockStatus(doc["status"]),
        cycle=int(doc["cycle"]),
        started_at=as_utc(doc["started_at"]),
        resolution_due_at=as_utc(doc["resolution_due_at"]),
        level=int(doc.get("level", 0)),
        breached_at=_aware(doc.get("breached_at")),
        stopped_at=_aware(doc.get("stopped_at")),
        next_due_at=_aware(doc.get("next_due_at")),
    )


def _state(clock: SlaClock) -> Document:
    """The fields a change may rewrite (everything but the id)."""
    return {k: v for k, v in to_document(clock).items() if k != "_id"}


class ClockRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._clocks = db[CLOCKS]

    async def ensure_indexes(self) -> None:
        # The scheduler reads only through this index: its cost grows with what is due.
        await self._clocks.create_index([("next_due_at", ASCENDING)], name="next_due_at")

    async def start(self, clock: SlaClock, events: list[CloudEvent] | None = None) -> bool:
        """Insert a new clock; False when this concern's clock was started already."""
        try:
            await self._clocks.insert_one(with_outbox({**to_document(clock), VERSION: 1},
                                                      events or []))
        except DuplicateKeyError:
            return False
        return True

    async def get_document(self, concern_id: str) -> Document | None:
        return await self._clocks.find_one({"_id": concern_id}, {"outbox": 0})

    async def get(self, concern_id: str) -> Stored | None:
        doc = await self.get_document(concern_id)
        return Stored(from_document(doc), int(doc.get(VERSION, 0))) if doc else None

    async def save(self, before: Stored, after: SlaClock) -> bool:
        """Store a handler's change if nobody changed the clock meanwhile (optimistic check)."""
        result = await self._clocks.update_one(
            {"_id": after.concern_id, VERSION: before.version},
            {"$set": _state(after), "$inc": {VERSION: 1}},
        )
        return result.modified_count == 1

    async def claim_due(self, now: datetime, lease: timedelta) -> Claimed | None:
        """Take the lease of the most overdue clock nobody holds; None when nothing is due."""
        token = uuid.uuid4().hex
        doc: Document | None = await self._clocks.find_one_and_update(
            {"next_due_at": {"$lte": now},
             "$or": [{LEASE_UNTIL: None}, {LEASE_UNTIL: {"$lte": now}}]},
            {"$set": {LEASE_TOKEN: token, LEASE_UNTIL: now + lease}},
            projection={"outbox": 0},
            sort=[("next_due_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        return Claimed(from_document(doc), int(doc.get(VERSION, 0)), token)

    async def save_step(self, claimed: Claimed, after: SlaClock, events: list[CloudEvent]) -> bool:
        """Store what a claimed clock fired and its events in one write, and give up the lease.

        False when the lease was lost (expired and taken by another replica) or an event
        handler changed the clock meanwhile: nothing is written then.
        """
        update: dict[str, Any] = {
            "$set": _state(after),
            "$inc": {VERSION: 1},
            "$unset": {LEASE_TOKEN: "", LEASE_UNTIL: ""},
        }
        if events:
            update["$push"] = outbox_push(events)
        result = await self._clocks.update_one(
            {"_id": after.concern_id, LEASE_TOKEN: claimed.token, VERSION: claimed.version},
            update,
        )
        return result.modified_count == 1

    async def release(self, claimed: Claimed) -> None:
        """Give up a lease without writing, so the clock is re-read at once."""
        await self._clocks.update_one({"_id": claimed.clock.concern_id,
                                       LEASE_TOKEN: claimed.token},
                                      {"$unset": {LEASE_TOKEN: "", LEASE_UNTIL: ""}})
