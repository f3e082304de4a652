"""Intake's store: concerns (with their outbox) and the tracking-number counters."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.intake.domain import Concern, Requester, Status, StatusChange, Student
from shared.clock import as_utc
from shared.events import Channel, CloudEvent
from shared.outbox import outbox_push, with_outbox
from shared.store import Document

CONCERNS = "concerns"


def to_document(concern: Concern) -> Document:
    return {
        "_id": concern.id,
        "tracking_number": concern.tracking_number,
        "channel": concern.channel.value,
        "category": concern.category,
        "school_id": concern.school_id,
        "description": concern.description,
        "requester": asdict(concern.requester),
        "student": asdict(concern.student) if concern.student else None,
        "status": concern.status.value,
        "submitted_at": concern.submitted_at,
        "resolution_due_at": concern.resolution_due_at,
        "history": [_change_doc(c) for c in concern.history],
        "timeline": [],
    }


def _change_doc(change: StatusChange) -> Document:
    return {"at": change.at, "from": change.from_status, "to": change.to_status,
            "reason": change.reason}


def from_document(doc: Document) -> Concern:
    student = doc.get("student")
    return Concern(
        id=doc["_id"],
        tracking_number=doc["tracking_number"],
        channel=Channel(doc["channel"]),
        category=doc["category"],
        school_id=doc.get("school_id"),
        description=doc["description"],
        requester=Requester(**doc["requester"]),
        student=Student(**student) if student else None,
        status=Status(doc["status"]),
        submitted_at=as_utc(doc["submitted_at"]),
        resolution_due_at=as_utc(doc["resolution_due_at"]),
        history=tuple(
            StatusChange(at=as_utc(h["at"]), from_status=Status(h["from"]) if h["from"] else None,
                         to_status=Status(h["to"]), reason=h.get("reason"))
            for h in doc.get("history", [])
        ),
    )


class ConcernRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._concerns = db[CONCERNS]
        self._counters = db["counters"]

    async def ensure_indexes(self) -> None:
        await self._concerns.create_index("tracking_number", unique=True)
        await self._concerns.create_index([("status", 1), ("resolution_due_at", 1)])

    async def next_tracking_sequence(self, year: int) -> int:
        """The next number of the year, atomically; safe across intake replicas."""
        for _ in range(5):
            try:
                counter = await self._counters.find_one_and_update(
                    {"_id": f"tracking-{year}"}, {"$inc": {"seq": 1}},
                    upsert=True, return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                counter = None  # two first-of-the-year upserts raced; the loser retries
            if counter is not None:
                return int(counter["seq"])
        raise RuntimeError(f"could not allocate a tracking number for {year}")

    async def add(self, concern: Concern, events: list[CloudEvent]) -> None:
        """Insert the concern with its pending events: one write."""
        await self._concerns.insert_one(with_outbox(to_document(concern), events))

    async def get_document(self, concern_id: str) -> Document | None:
        return await self._concerns.find_one({"_id": concern_id}, {"outbox": 0})

    async def get(self, concern_id: str) -> Concern | None:
        doc = await self.get_document(concern_id)
        return from_document(doc) if doc else None

    async def save_transition(self, before: Concern, after: Concern,
                              events: list[CloudEvent]) -> bool:
        """Store a status change if nobody changed the status meanwhile (optimistic check)."""
        result = await self._concerns.update_one(
            {"_id": before.id, "status": before.status.value},
            {"$set": {"status": after.status.value},
             "$push": {"history": _change_doc(after.history[-1]),
                       **outbox_push(events)}},
        )
        return result.modified_count == 1

    async def record_event_facts(self, concern_id: str, event_id: str, *, facts: dict[str, Any],
                                 entry: Document, at: datetime) -> bool:
        """Apply facts another service decided (team, priority, escalation), once per event."""
        result = await self._concerns.update_one(
            {"_id": concern_id, "timeline.event_id": {"$ne": event_id}},
            {"$set": facts, "$push": {"timeline": {**entry, "event_id": event_id, "at": at}}},
        )
        if result.matched_count == 1:
            return True
        return await self._concerns.count_documents({"_id": concern_id}, limit=1) == 1
