"""Escalation's store: SLA policies, and one SLA clock per concern with its outbox inside.

Clocks that are due are found through the `next_due_at` index and claimed with a lease
(a conditional update), so that N replicas never fire the same step twice. Every write checks a
`version` so a scheduler step and an event handler never overwrite each other's change.

A clock names the events it has applied (`applied_events`), pushed in the very update that
applies one and checked in its filter: a redelivered event changes nothing, without an inbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
from bson.codec_options import CodecOptions
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.escalation.domain import ClockStatus, Entry, PendingCallback, SlaClock
from services.escalation.policies import Policy
from services.escalation.standards import finished_cycle
from shared.cache import Cached
from shared.clock import as_utc
from shared.events import CloudEvent, Priority
from shared.outbox import outbox_push, with_outbox
from shared.store import Document

CLOCKS = "clocks"
POLICIES = "policies"
VERSION = "version"
LEASE_TOKEN = "lease_token"
LEASE_UNTIL = "lease_until"
APPLIED = "applied_events"
REPORT_CYCLES = "report_cycles"  # one summary per ended cycle (services/escalation/standards.py)
BOARD_COUNTED = "board_counted"  # the facts counted in the Board's summaries (board_store.py)
# A clock nobody holds has its lease ending at the epoch: "free" is then a plain range test.
FREE = datetime(1970, 1, 1, tzinfo=UTC)
# How many of the most overdue clocks one look at the index lists (others may be held by other
# replicas); a sweep claims them one by one before it looks again.
CANDIDATES = 64
# What a read leaves out: the pending events are the relay's, the applied event ids only the
# write filters' (they are read with a clock a handler is about to change).
NOT_READ: Document = {"outbox": 0, APPLIED: 0, REPORT_CYCLES: 0, BOARD_COUNTED: 0}
# The clocks this replica wrote last are kept this long: the next event of a new concern
# (its triage follows its submission within seconds) then changes it without a read.
RECENT_S = 30.0
RECENT_MAX = 4_096
_BSON: CodecOptions[Document] = CodecOptions(tz_aware=True, tzinfo=UTC)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    """A clock as read, with the version a write must still find and the events it applied."""

    clock: SlaClock
    version: int
    applied: frozenset[str] = frozenset()


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


def _aware(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _entry_doc(entry: Entry) -> Document:
    doc: Document = {"at": entry.at, "kind": entry.kind, "cycle": entry.cycle}
    for name in ("target", "level", "reminder", "percent", "detail"):
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
        running_since=_aware(doc.get("running_since")),
        paused_at=_aware(doc.get("paused_at")),
        elapsed=timedelta(seconds=doc.get("elapsed_s") or 0),
        first_response_at=_aware(doc.get("first_response_at")),
        breached_at=_aware(doc.get("breached_at")),
        breach_position=timedelta(seconds=breach_position) if breach_position is not None else None,
        level=int(doc.get("level", 0)),
        level_at=_aware(doc.get("level_at")),
        reminders=int(doc.get("reminders", 0)),
        acted_at=_aware(doc.get("acted_at")),
        stopped_at=_aware(doc.get("stopped_at")),
        fired=frozenset(doc.get("fired", [])),
        next_due_at=_aware(doc.get("next_due_at")),
        first_response_due_at=_aware(doc.get("first_response_due_at")),
        resolution_due_at=_aware(doc.get("resolution_due_at")),
        satisfaction=doc.get("satisfaction"),
        surveyed_at=_aware(doc.get("surveyed_at")),
        history=tuple(_entry(e) for e in doc.get("history", [])),
        callbacks=tuple(
            PendingCallback(
                id=c["id"],
                due_at=as_utc(c["due_at"]),
                scheduled_at=as_utc(c["scheduled_at"]),
                remind_at=_aware(c.get("remind_at")),
                assignee_id=c.get("assignee_id"),
                reminded=bool(c.get("reminded")),
            )
            for c in doc.get("callbacks") or ()
        ),
    )


def _state(clock: SlaClock) -> Document:
    """The fields a change may rewrite (everything but the id)."""
    return {k: v for k, v in to_document(clock).items() if k != "_id"}


def _changes(before: SlaClock, after: SlaClock) -> Document:
    """Only the fields that changed, so a write stays small as the history grows."""
    old, new = _state(before), _state(after)
    return {k: v for k, v in new.items() if old.get(k) != v}


def _stored(doc: Document) -> Stored:
    return Stored(from_document(doc), int(doc.get(VERSION, 0)), frozenset(doc.get(APPLIED, ())))


def _as_written(clock: SlaClock) -> SlaClock:
    """The clock as the store keeps it (times to the millisecond), so that a remembered copy
    is what a read would return."""
    return from_document(bson.decode(bson.encode(to_document(clock)), codec_options=_BSON))


def _free(doc: Document, now: datetime) -> Document:
    """The filter that a clock read as `doc` is still held by nobody: a lapsed lease, or
    (a clock from before leases) none at all."""
    return {LEASE_UNTIL: {"$lte": now}} if doc.get(LEASE_UNTIL) is not None else {LEASE_UNTIL: None}


class RecentClocks:
    """The clocks this replica wrote last, for a few seconds: where the next change of a
    clock starts from without reading it. Only a hint: every write checks the version, so a
    copy that another replica (or the scheduler) made stale costs a failed write and a read,
    never a lost change."""

    def __init__(
        self,
        *,
        ttl_s: float = RECENT_S,
        max_clocks: int = RECENT_MAX,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max = max_clocks
        self._now = now
        self._clocks: OrderedDict[str, tuple[float, Stored]] = OrderedDict()

    def get(self, concern_id: str) -> Stored | None:
        kept = self._clocks.get(concern_id)
        if kept is None:
            return None
        if self._now() - kept[0] > self._ttl_s:
            del self._clocks[concern_id]
            return None
        return kept[1]

    def put(self, stored: Stored) -> None:
        """Remember a clock as written; an older version never replaces a newer one."""
        concern_id = stored.clock.concern_id
        kept = self._clocks.get(concern_id)
        if kept is not None and kept[1].version > stored.version:
            return
        self._clocks[concern_id] = (self._now(), stored)
        self._clocks.move_to_end(concern_id)
        while len(self._clocks) > self._max:
            self._clocks.popitem(last=False)

    def forget(self, concern_id: str) -> None:
        self._clocks.pop(concern_id, None)


class ClockRepository:
    def __init__(self, db: AsyncDatabase[Document], recent: RecentClocks | None = None) -> None:
        self._clocks = db[CLOCKS]
        self._recent = recent if recent is not None else RecentClocks()
        # Told of every stored change (the clock before, None for a new one, and after): the
        # Board's summaries count what it added (services/escalation/board_store.py).
        self.on_change: Callable[[str, SlaClock | None, SlaClock], Awaitable[None]] | None = None

    async def _changed(self, before: SlaClock | None, after: SlaClock) -> None:
        if self.on_change is None:
            return
        try:
            await self.on_change(after.concern_id, before, after)
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

    async def start(
        self,
        clock: SlaClock,
        events: list[CloudEvent] | None = None,
        *,
        event_id: str | None = None,
    ) -> bool:
        """Insert a new clock; False when this concern's clock was started already."""
        applied = [event_id] if event_id is not None else []
        try:
            await self._clocks.insert_one(
                with_outbox(
                    {
                        **to_document(clock),
                        VERSION: 1,
                        LEASE_UNTIL: FREE,
                        APPLIED: applied,
                        BOARD_COUNTED: [],
                    },
                    events or [],
                )
            )
        except DuplicateKeyError:
            return False
        stored = _as_written(clock)
        self._recent.put(Stored(stored, 1, frozenset(applied)))
        await self._changed(None, stored)
        return True

    async def get_document(self, concern_id: str) -> Document | None:
        return await self._clocks.find_one({"_id": concern_id}, NOT_READ)

    async def get(self, concern_id: str) -> Stored | None:
        """The clock as stored now."""
        doc = await self._clocks.find_one({"_id": concern_id}, {"outbox": 0})
        if doc is None:
            return None
        stored = _stored(doc)
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
        changes = _changes(before.clock, after)
        if changes:
            update["$set"] = changes
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
        """One guarded update; remembers the clock it wrote, forgets it when it did not."""
        concern_id = written.clock.concern_id
        try:
            result = await self._clocks.update_one(query, update)
        except BaseException:
            self._recent.forget(concern_id)  # written or not: the next change reads it
            raise
        if result.modified_count != 1:
            self._recent.forget(concern_id)
            return False
        stored = _as_written(written.clock)
        self._recent.put(replace(written, clock=stored))
        await self._changed(before, stored)
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
            stored = _stored(doc)
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
            "$set": _changes(claimed.clock, after),
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
        """Open clocks at level 3, or breached with a target due before `overdue_before`, and
        the concerns merged into another (closed unresolved) since `merged_since`; oldest
        first."""
        watched: Document = {
            "status": {"$ne": ClockStatus.STOPPED.value},
            "$or": [
                {"level": {"$gte": 3}},
                {"breached_at": {"$ne": None}, "resolution_due_at": {"$lte": overdue_before}},
            ],
        }
        if merged_since is not None:
            watched = {
                "$or": [
                    watched,
                    {
                        "status": ClockStatus.STOPPED.value,
                        "history.kind": "closed",
                        "stopped_at": {"$gte": merged_since},
                    },
                ]
            }
        docs = (
            await self._clocks.find(
                watched,
                NOT_READ,
            )
            .sort([("submitted_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
            .to_list()
        )
        return _readable(docs)

    async def count_open(self) -> int:
        """How many clocks run or are paused (not stopped): the dashboard's open SLA clocks."""
        return await self._clocks.count_documents(
            {"status": {"$in": [ClockStatus.RUNNING.value, ClockStatus.PAUSED.value]}}
        )


def _readable(docs: list[Document]) -> list[SlaClock]:
    """The clocks this version can read; others (older formats) are logged and left out."""
    clocks = []
    for doc in docs:
        try:
            clocks.append(from_document(doc))
        except (KeyError, TypeError, ValueError):
            log.error("unreadable sla clock left out", extra={"concern_id": doc.get("_id")})
    return clocks


POLICY_CACHE_TTL_S = 5.0
POLICY_LOCK_LEASE_S = 30.0  # longer than any change takes; a crashed holder frees it then
POLICY_LOCK_WAIT_S = 10.0


class PolicyRepository:
    """The SLA policies, one document each, `_id` = the policy id."""

    def __init__(
        self, db: AsyncDatabase[Document], cache_ttl_s: float = POLICY_CACHE_TTL_S
    ) -> None:
        self._policies = db[POLICIES]
        self._locks = db["locks"]
        # every event chooses a policy: read them once every few seconds, not per event
        self._cached: Cached[list[Policy]] = Cached(self._read_all, cache_ttl_s)

    async def seed(self, policies: Sequence[Policy]) -> int:
        """Insert the policies the store does not have yet; never overwrite an admin's edit."""
        added = 0
        for policy in policies:
            result = await self._policies.update_one(
                {"_id": policy.id}, {"$setOnInsert": _policy_doc(policy)}, upsert=True
            )
            added += result.upserted_id is not None
        self._cached.invalidate()
        return added

    async def all(self) -> list[Policy]:
        """Every policy, in rank order (another replica's edit shows within the cache TTL)."""
        return list(await self._cached.get())

    async def _read_all(self) -> list[Policy]:
        docs = (
            await self._policies.find({}).sort([("rank", ASCENDING), ("_id", ASCENDING)]).to_list()
        )
        return [_policy(d) for d in docs]

    async def get(self, policy_id: str) -> Policy | None:
        doc = await self._policies.find_one({"_id": policy_id})
        return _policy(doc) if doc else None

    async def create(self, policy: Policy) -> bool:
        """False when a policy with this id exists."""
        try:
            await self._policies.insert_one({"_id": policy.id, **_policy_doc(policy)})
        except DuplicateKeyError:
            return False
        self._cached.invalidate()
        return True

    async def replace(self, policy: Policy) -> bool:
        """False when there is no policy with this id."""
        result = await self._policies.replace_one({"_id": policy.id}, _policy_doc(policy))
        self._cached.invalidate()
        return result.matched_count == 1

    async def delete(self, policy_id: str) -> bool:
        result = await self._policies.delete_one({"_id": policy_id})
        self._cached.invalidate()
        return result.deleted_count == 1

    @asynccontextmanager
    async def changing(self) -> AsyncIterator[list[Policy]]:
        """Hold the lock of policy changes (one at a time, across replicas) and give the
        policies as stored now: a check made on them (a catch-all remains) still holds when
        the change is written. Two admins each removing one of the last two catch-alls would
        otherwise both see the other's and both succeed."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + POLICY_LOCK_WAIT_S
        while True:
            now = datetime.now(UTC)
            try:
                await self._locks.update_one(
                    {"_id": POLICIES, "until": {"$lt": now}},
                    {
                        "$set": {
                            "token": token,
                            "until": now + timedelta(seconds=POLICY_LOCK_LEASE_S),
                        }
                    },
                    upsert=True,
                )
                break
            except DuplicateKeyError:  # another change holds it
                if time.monotonic() > deadline:
                    raise PolicyChangeBusy from None
                await asyncio.sleep(0.05)
        try:
            yield await self._read_all()
        finally:
            self._cached.invalidate()
            await self._locks.delete_one({"_id": POLICIES, "token": token})


class PolicyChangeBusy(RuntimeError):
    """Another policy change holds the lock for longer than a request may wait."""


def _policy_doc(policy: Policy) -> Document:
    return {k: v for k, v in policy.model_dump(mode="json").items() if k != "id"}


def _policy(doc: Document) -> Policy:
    return Policy.model_validate({**{k: v for k, v in doc.items() if k != "_id"}, "id": doc["_id"]})
