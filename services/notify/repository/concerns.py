"""What notify knows of each concern (contact, team, assignee), learnt from events.

Requester addresses live here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.clock import as_utc_or_none
from shared.events import (
    ConcernAssigned,
    ConcernContactShared,
    ConcernTriaged,
    ConcernUnassigned,
    EventData,
)
from shared.store import Document

CONCERNS = "concerns"


@dataclass(frozen=True)
class Contact:
    name: str | None
    email: str | None
    phone: str | None
    language: str
    preferred_channel: str | None = None
    # the Message-ID of the mail the concern came from: every mail to the requester about the
    # concern answers it, so their mail client keeps one conversation
    reply_to_message_id: str | None = None


@dataclass(frozen=True)
class ConcernFacts:
    """What notify learnt of a concern from events: enough to address and word messages."""

    concern_id: str
    tracking_number: str | None = None
    category: str | None = None
    school_id: str | None = None
    resolution_due_at: datetime | None = None
    contact: Contact | None = None
    team_id: str | None = None
    priority: str | None = None
    assignee_id: str | None = None
    assigned_at: datetime | None = None  # of the assignment (or unassignment) known last


class ConcernRepository:
    """One document per concern; each event fills its own fields, idempotent by nature.

    Remembering a fact returns the concern's facts as they stand after the write, so the
    handler that writes them and then words a message reads nothing more.
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._concerns = db[CONCERNS]

    async def remember(
        self, data: EventData, now: datetime, *, read: bool = True
    ) -> ConcernFacts | None:
        """Keep what `data` teaches of its concern; returns the facts after the write, or None
        when the event teaches nothing (or nothing newer than what is known), or when they
        are not wanted (`read` false: an event that notifies no one reads nothing back)."""
        if isinstance(data, ConcernContactShared):
            return await self.remember_contact(data, now, read=read)
        if isinstance(data, ConcernTriaged):
            return await self.remember_triage(data, read=read)
        if isinstance(data, ConcernAssigned):
            return await self.remember_assignment(
                data.concern_id, data.assignee_id, data.assigned_at, read=read
            )
        if isinstance(data, ConcernUnassigned):
            return await self.remember_unassignment(data.concern_id, data.unassigned_at, read=read)
        return None

    async def remember_contact(
        self, data: ConcernContactShared, now: datetime, *, read: bool = True
    ) -> ConcernFacts | None:
        """Keep the requester's contact; the first one shared for a concern stays."""
        requester = data.requester
        contact = {
            "name": requester.name,
            "email": str(requester.email) if requester.email else None,
            "phone": requester.phone,
            "language": requester.language,
            # not in the contract yet: read it when intake starts sharing it
            "preferred_channel": getattr(requester, "preferred_channel", None),
            "reply_to_message_id": data.reply_to_message_id,
        }
        return await self._upsert(
            data.concern_id,
            {"contact": None},
            {
                "contact": contact,
                "tracking_number": data.tracking_number,
                "category": data.category,
                "resolution_due_at": data.resolution_due_at,
                "contact_at": now,
            },
            read=read,
        )

    async def remember_triage(
        self, data: ConcernTriaged, *, read: bool = True
    ) -> ConcernFacts | None:
        """The owning team and priority; a later decision (re-triage) wins over an older one."""
        return await self._upsert(
            data.concern_id,
            _older("triaged_at", data.triaged_at),
            {
                "team_id": data.team_id,
                "priority": data.priority.value,
                "school_id": data.school_id,
                "triage_category": data.category,
                "triaged_at": data.triaged_at,
            },
            read=read,
        )

    async def remember_assignment(
        self, concern_id: str, assignee_id: str, assigned_at: datetime, *, read: bool = True
    ) -> ConcernFacts | None:
        """Who works the concern; a later assignment wins."""
        return await self._upsert(
            concern_id,
            _older("assigned_at", assigned_at),
            {"assignee_id": assignee_id, "assigned_at": assigned_at},
            read=read,
        )

    async def remember_unassignment(
        self, concern_id: str, unassigned_at: datetime, *, read: bool = True
    ) -> ConcernFacts | None:
        """Nobody works the concern any more: its former assignee hears its warnings and reads
        its deliveries no longer. An assignment later than `unassigned_at` stays; one of the
        same moment is cleared (who may read errs on the side of nobody)."""
        return await self._upsert(
            concern_id,
            {"assigned_at": {"$not": {"$gt": unassigned_at}}},
            {"assignee_id": None, "assigned_at": unassigned_at},
            read=read,
        )

    async def _upsert(
        self, concern_id: str, unless_known: Document, fields: Document, *, read: bool = True
    ) -> ConcernFacts | None:
        """Set `fields` where `unless_known` holds (or on a new document), then read the
        facts (when `read`); None when the document already knows better.

        Two round trips, not one `find_one_and_update`: SecantusDB answers that command by
        scanning the collection when it matches an existing document (about 150 ms at
        20,000 concerns), while `update_one` and `find_one` by `_id` stay under 2 ms."""
        query = {"_id": concern_id, **unless_known}
        try:
            changed = await self._concerns.update_one(query, {"$set": fields}, upsert=True)
        except DuplicateKeyError:
            # The document exists and knows better, or a peer created it a moment ago for
            # another fact (the condition may then hold): try again on what is there now.
            changed = await self._concerns.update_one(query, {"$set": fields})
        if not read or (not changed.matched_count and changed.upserted_id is None):
            return None
        doc = await self._concerns.find_one({"_id": concern_id})
        return _facts(doc) if doc else None

    async def ensure_indexes(self) -> None:
        # a family front door asks for a concern's survey by its tracking number
        await self._concerns.create_index("tracking_number")

    async def get(self, concern_id: str) -> ConcernFacts | None:
        doc = await self._concerns.find_one({"_id": concern_id})
        return _facts(doc) if doc else None

    async def by_tracking_number(self, tracking_number: str) -> ConcernFacts | None:
        """The concern of a tracking number, once its contact was shared with notify."""
        doc = await self._concerns.find_one({"tracking_number": tracking_number})
        return _facts(doc) if doc else None


def _older(stamp: str, at: datetime) -> Document:
    """A condition: the document has no `stamp` yet, or an older one. `$not` rather than an
    `$or`, which SecantusDB runs as a scan of the whole collection even beside an `_id`."""
    return {stamp: {"$not": {"$gte": at}}}


def _facts(doc: Document) -> ConcernFacts:
    raw = doc.get("contact")
    contact = (
        Contact(
            name=raw.get("name"),
            email=raw.get("email"),
            phone=raw.get("phone"),
            language=raw.get("language") or "en",
            preferred_channel=raw.get("preferred_channel"),
            reply_to_message_id=raw.get("reply_to_message_id"),
        )
        if raw
        else None
    )
    return ConcernFacts(
        concern_id=doc["_id"],
        tracking_number=doc.get("tracking_number"),
        category=doc.get("category") or doc.get("triage_category"),
        school_id=doc.get("school_id"),
        resolution_due_at=as_utc_or_none(doc.get("resolution_due_at")),
        contact=contact,
        team_id=doc.get("team_id"),
        priority=doc.get("priority"),
        assignee_id=doc.get("assignee_id"),
        assigned_at=as_utc_or_none(doc.get("assigned_at")),
    )
