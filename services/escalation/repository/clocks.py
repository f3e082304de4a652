"""One SLA clock per concern with its outbox inside: versioned changes, and the leases of
the clocks that fall due.

Clocks that are due are found through the `next_due_at` index and claimed with a lease
(a conditional update), so that N replicas never fire the same step twice. Every write checks a
`version` so a scheduler step and an event handler never overwrite each other's change.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.escalation.domain import SlaClock
from services.escalation.repository import views
from services.escalation.repository.documents import (
    APPLIED,
    ASSIGNEES,
    BOARD_COUNTED,
    CLOCKS,
    FREE,
    LEASE_TOKEN,
    LEASE_UNTIL,
    NOT_READ,
    REPORT_CYCLES,
    VERSION,
    Stored,
    as_written,
    changes,
    stored_of,
    to_document,
)
from services.escalation.repository.recent import RecentClocks
from services.escalation.standards import Fact, finished_cycle
from shared.clock import as_utc
from shared.events import CloudEvent
from shared.migrations import MIGRATIONS
from shared.outbox import outbox_push, with_outbox
from shared.store import Document

# How many of the most overdue clocks one look at the index lists (others may be held by other
# replicas); a sweep claims them one by one before it looks again.
CANDIDATES = 64

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    """A due clock this replica holds the lease of."""

    clock: SlaClock
    version: int
    token: str
    applied: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Candidate:
    """A due clock nobody held when the index was read, as it was read."""

    document: Document

    @property
    def concern_id(self) -> str:
        return str(self.document["_id"])


@dataclass(frozen=True)
class Due:
    """One look at the `next_due_at` index."""

    free: list[Candidate] = field(default_factory=list)
    later: datetime | None = None  # the earliest due time past `now` within the horizon
    complete: bool = True  # False when the look hit its limit: more may be due, `later` unknown


class BoardCounting(Protocol):
    """The Board's monthly summaries (services/escalation/board_store.py), told of every
    stored change of a clock."""

    def facts(self, before: SlaClock | None, after: SlaClock) -> tuple[list[Fact], list[Fact]]:
        """What a change adds to the summaries and what it takes back."""
        ...

    async def counted(
        self, concern_id: str, added: Sequence[Fact], removed: Sequence[Fact]
    ) -> None:
        """Count facts the change's own write marked (added) and unmarked (removed)."""
        ...

    async def changed(self, concern_id: str, before: SlaClock | None, after: SlaClock) -> None:
        """Mark, then count, what a stored change added and removed."""
        ...


Marks = tuple[list[Fact], list[Fact]]


def _free(doc: Document, now: datetime) -> Document:
    """The filter that a clock read as `doc` is still held by nobody: a lapsed lease, or
    (a clock from before leases) none at all."""
    return {LEASE_UNTIL: {"$lte": now}} if doc.get(LEASE_UNTIL) is not None else {LEASE_UNTIL: None}


class ClockRepository:
    def __init__(self, db: AsyncDatabase[Document], recent: RecentClocks | None = None) -> None:
        self._clocks = db[CLOCKS]
        self._assignees = db[ASSIGNEES]
        self._migrations = db[MIGRATIONS]
        self._recent = recent if recent is not None else RecentClocks()
        # Told of every stored change: the Board's summaries count what it added. The facts a
        # change adds are marked counted in the change's own write (one writer wins it: the
        # write checks the version), so counting costs no write of the clock of its own.
        self.board: BoardCounting | None = None

    def _marks(self, before: SlaClock | None, after: SlaClock) -> Marks | None:
        """The Board facts a change adds and takes back, to mark in its own write; None when
        there is no board, or the change does both (one update cannot `$push` and `$pull`
        the same field): those are marked after the write, one conditional update each."""
        if self.board is None:
            return None
        added, removed = self.board.facts(before, after)
        return None if added and removed else (added, removed)

    async def _changed(self, before: SlaClock | None, after: SlaClock, marks: Marks | None) -> None:
        if self.board is None:
            return
        try:
            if marks is None:
                await self.board.changed(after.concern_id, before, after)
            elif marks[0] or marks[1]:
                await self.board.counted(after.concern_id, *marks)
        except Exception:  # the change is stored: a summary missed is logged, not retried
            log.error(
                "board summary not counted", extra={"concern_id": after.concern_id}, exc_info=True
            )

    @property
    def collection(self) -> AsyncCollection[Document]:
        """The clocks, for the Board's aggregations (services/escalation/board_store.py)."""
        return self._clocks

    async def ensure_indexes(self) -> None:
        # The scheduler reads only through this index: its cost grows with what is due.
        await self._clocks.create_index([("next_due_at", ASCENDING)], name="next_due_at")
        await self._clocks.create_index([("submitted_at", ASCENDING)], name="submitted_at")
        await views.ensure_indexes(self._clocks, self._migrations)

    async def start(
        self,
        clock: SlaClock,
        events: list[CloudEvent] | None = None,
        *,
        event_id: str | None = None,
    ) -> bool:
        """Insert a new clock; False when this concern's clock was started already."""
        applied = [event_id] if event_id is not None else []
        stored = as_written(clock)
        marks = self._marks(None, stored)  # a new clock takes nothing back
        try:
            await self._clocks.insert_one(
                with_outbox(
                    {
                        **to_document(clock),
                        VERSION: 1,
                        LEASE_UNTIL: FREE,
                        APPLIED: applied,
                        BOARD_COUNTED: [fact.key for fact in marks[0]] if marks else [],
                    },
                    events or [],
                )
            )
        except DuplicateKeyError:
            return False
        self._recent.put(Stored(stored, 1, frozenset(applied)))
        await self._changed(None, stored, marks)
        return True

    async def remember_assignee(
        self, concern_id: str, assignee_id: str | None, at: datetime
    ) -> None:
        """Note who the concern is assigned to (before or after its clock starts), or that
        nobody is (`None`: triage unassigned it at `at`); an earlier decision arriving late
        never overwrites a later one, and an unassignment clears an assignment of the same
        moment (who may read the clock errs on the side of nobody)."""
        newer = {"$gt": at} if assignee_id is None else {"$gte": at}
        try:
            await self._assignees.update_one(
                {"_id": concern_id, "assigned_at": {"$not": newer}},
                {"$set": {"assignee_id": assignee_id, "assigned_at": at}},
                upsert=True,
            )
        except DuplicateKeyError:  # a later assignment is stored, or this one by a replica
            pass

    async def assignee(self, concern_id: str) -> str | None:
        """Who the concern is assigned to, as last noted (None: nobody, or not known)."""
        doc = await self._assignees.find_one({"_id": concern_id})
        found = doc.get("assignee_id") if doc else None
        return str(found) if found else None

    async def get_document(self, concern_id: str) -> Document | None:
        return await self._clocks.find_one({"_id": concern_id}, NOT_READ)

    async def get(self, concern_id: str) -> Stored | None:
        """The clock as stored now."""
        doc = await self._clocks.find_one({"_id": concern_id}, {"outbox": 0})
        if doc is None:
            return None
        stored = stored_of(doc)
        self._recent.put(stored)
        return stored

    async def current(self, concern_id: str) -> Stored | None:
        """What a change starts from: the clock as this replica wrote it seconds ago, else as
        stored. The change's write checks the version, so a stale copy only costs a retry."""
        return self._recent.get(concern_id) or await self.get(concern_id)

    async def save(
        self,
        before: Stored,
        after: SlaClock,
        events: Sequence[CloudEvent] = (),
        *,
        event_id: str | None = None,
    ) -> bool:
        """Store a handler's change and its events if nobody changed the clock meanwhile.

        With `event_id`, the update also records that event as applied, and only matches a
        clock that has not applied it yet: one write, however often the event arrives."""
        update: dict[str, Any] = {"$inc": {VERSION: 1}}
        changed = changes(before.clock, after)
        if changed:
            update["$set"] = changed
        push: Document = {}
        if events:
            push.update(outbox_push(events))
        ended = finished_cycle(before.clock, after)
        if ended is not None:  # the Board's summary of the cycle, in the same write
            push[REPORT_CYCLES] = ended
        query: Document = {"_id": after.concern_id, VERSION: before.version}
        applied = before.applied
        if event_id is not None:
            query[APPLIED] = {"$ne": event_id}
            push[APPLIED] = event_id
            applied = applied | {event_id}
        if push:
            update["$push"] = push
        return await self._write(
            query, update, Stored(after, before.version + 1, applied), before.clock
        )

    async def _write(
        self, query: Document, update: Document, written: Stored, before: SlaClock
    ) -> bool:
        """One guarded update, marking in it the Board facts the change adds or takes back;
        remembers the clock it wrote, forgets it when it did not."""
        concern_id = written.clock.concern_id
        stored = as_written(written.clock)
        marks = self._marks(before, stored)
        if marks is not None:
            added, removed = marks
            if added:
                update.setdefault("$push", {})[BOARD_COUNTED] = {
                    "$each": [fact.key for fact in added]
                }
            if removed:
                update["$pull"] = {BOARD_COUNTED: {"$in": [fact.key for fact in removed]}}
        try:
            result = await self._clocks.update_one(query, update)
        except BaseException:
            self._recent.forget(concern_id)  # written or not: the next change reads it
            raise
        if result.modified_count != 1:
            self._recent.forget(concern_id)
            return False
        self._recent.put(replace(written, clock=stored))
        await self._changed(before, stored, marks)
        return True

    async def due(self, now: datetime, horizon: timedelta = timedelta(0)) -> Due:
        """The clocks due by `now` that nobody holds, most overdue first, and the earliest due
        time in `(now, now + horizon]`: one bounded range of the `next_due_at` index (no `$or`,
        so it runs on the index whatever the store), so the cost is what falls due. The due
        clocks are read whole, so that claiming one needs no second read."""
        # Bounded below too: a stopped clock's `next_due_at` is null, which sorts before every
        # date in the index, and a range open below walks all of them (SecantusDB does).
        docs = (
            await self._clocks.find(
                {"next_due_at": {"$gte": FREE, "$lte": now + horizon}}, {"outbox": 0}
            )
            .sort([("next_due_at", ASCENDING)])
            .limit(CANDIDATES)
            .to_list()
        )
        due = Due(complete=len(docs) < CANDIDATES)
        for doc in docs:
            due_at = as_utc(doc["next_due_at"])
            if due_at > now:
                return replace(due, later=due_at, complete=True)
            held_until = doc.get(LEASE_UNTIL)
            if held_until is not None and as_utc(held_until) > now:
                continue  # another replica is firing it
            due.free.append(Candidate(doc))
        return due

    async def claim(self, candidate: Candidate, now: datetime, lease: timedelta) -> Claimed | None:
        """Take the lease of a due clock as it was read: one update that only matches while it
        is due, nobody holds it and nobody changed it since (its version), so one replica wins
        it and the copy read is what it fires from. None when another replica took it first,
        or a handler changed it (the next look reads it again).

        A plain update on `_id`: a find-and-update would return the clock in the same trip,
        but SecantusDB runs one that matches as a scan of the whole collection."""
        doc = candidate.document
        try:
            stored = stored_of(doc)
        except (KeyError, TypeError, ValueError):
            # A document this version cannot read (e.g. written by the walking skeleton)
            # must not block the sweep: take it off the schedule, keep it for inspection.
            log.error(
                "unreadable sla clock taken off the schedule",
                extra={"concern_id": doc.get("_id")},
                exc_info=True,
            )
            await self._clocks.update_one(
                {"_id": doc["_id"], "next_due_at": {"$lte": now}, **_free(doc, now)},
                {
                    "$set": {"next_due_at": None, "unreadable": True, LEASE_UNTIL: FREE},
                    "$unset": {LEASE_TOKEN: ""},
                },
            )
            return None
        token = uuid.uuid4().hex
        taken = await self._clocks.update_one(
            {
                "_id": doc["_id"],
                "next_due_at": {"$lte": now},
                VERSION: stored.version,
                **_free(doc, now),
            },
            {"$set": {LEASE_TOKEN: token, LEASE_UNTIL: now + lease}},
        )
        if taken.modified_count != 1:
            return None
        return Claimed(stored.clock, stored.version, token, stored.applied)

    async def claim_due(self, now: datetime, lease: timedelta) -> Claimed | None:
        """Take the lease of the most overdue clock nobody holds; None when nothing is due."""
        for candidate in (await self.due(now)).free:
            claimed = await self.claim(candidate, now, lease)
            if claimed is not None:
                return claimed
        return None

    async def next_due_between(self, start: datetime, end: datetime) -> datetime | None:
        """The earliest due time in `(start, end]`, through the index. A bounded range, so
        the cost is what falls due in it, not every clock that waits."""
        docs = (
            await self._clocks.find(
                {"next_due_at": {"$gt": start, "$lte": end}}, {"next_due_at": 1}
            )
            .sort([("next_due_at", ASCENDING)])
            .limit(1)
            .to_list()
        )
        return as_utc(docs[0]["next_due_at"]) if docs else None

    async def save_step(
        self, claimed: Claimed, after: SlaClock, events: Sequence[CloudEvent]
    ) -> bool:
        """Store what a claimed clock fired and its events in one write, and give up the lease.

        False when the lease was lost (expired and taken by another replica) or an event
        handler changed the clock meanwhile: nothing is written then.
        """
        update: dict[str, Any] = {
            "$set": changes(claimed.clock, after),
            "$inc": {VERSION: 1},
            "$unset": {LEASE_TOKEN: ""},
        }
        update["$set"][LEASE_UNTIL] = FREE
        if events:
            update["$push"] = outbox_push(events)
        return await self._write(
            {"_id": after.concern_id, LEASE_TOKEN: claimed.token, VERSION: claimed.version},
            update,
            Stored(after, claimed.version + 1, claimed.applied),
            claimed.clock,
        )

    async def release(self, claimed: Claimed) -> None:
        """Give up a lease without writing, so the clock is re-read at once."""
        await self._clocks.update_one(
            {"_id": claimed.clock.concern_id, LEASE_TOKEN: claimed.token},
            {"$set": {LEASE_UNTIL: FREE}, "$unset": {LEASE_TOKEN: ""}},
        )

    async def for_ombudsperson(
        self, *, overdue_before: datetime, limit: int, merged_since: datetime | None = None
    ) -> list[SlaClock]:
        """The concerns on the Ombudsperson's list (services/escalation/domain.py), oldest
        first."""
        return await views.ombudsperson_list(
            self._clocks, overdue_before=overdue_before, limit=limit, merged_since=merged_since
        )

    async def count_open(self) -> int:
        """How many clocks run or are paused (not stopped): the dashboard's open SLA clocks."""
        return await views.count_open(self._clocks)
