"""Triage's store: decisions (one per concern, with history and outbox), rules, members.

Every change of a decision is one conditional write (its `version`), with its events in the
same write. A member's document holds their open concerns and load counter; a concern is
counted on a member by one conditional update, so replicas never double-count or
over-assign. Which member a concern was last counted on is kept apart, one small document
per concern (`holders`) written before the count, and found by id: an index over every
member's open list made each assignment rewrite that list's index entries. Rules and
out-of-office state, read for every concern and rarely changed, are kept in memory for a
few seconds (shared/cache.py); this process's own edits are seen at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.triage import duplicates
from services.triage.assignment import Absence, away_at
from services.triage.domain import PRIORITY_RANK, Decision, FirstDecision, RequesterSlotTaken
from services.triage.rules import Rule
from shared.aggregates import RETRY, Retry, load_decide_save
from shared.cache import Cached
from shared.clock import as_utc
from shared.errors import ChangedMeanwhile
from shared.events import CloudEvent, Priority
from shared.outbox import outbox_push, with_outbox
from shared.store import Document, duplicates_only

DECISIONS = "decisions"
RULES = "rules"
MEMBERS = "members"
HOLDERS = "holders"
META = "meta"
SEEDED_MARKER = "rules_seeded"
SAFETY_WORDS = "safety_words"  # an administrator's, in `meta`; the district file's otherwise
CACHE_TTL_S = 5.0
CHANGE_ATTEMPTS = 10  # a decision changed by so many handlers in a row: the event is retried
"""How long another replica's edit of the rules or of who is away may take to be seen here."""
# What a typed read leaves out (the log, the outbox, what duplicate detection compares).
NOT_READ: Document = {"history": 0, "outbox": 0, "fingerprint": 0, "match_keys": 0}
COMPARED_FIELDS = {
    "category": 1,
    "school_id": 1,
    "contact_key": 1,
    "fingerprint": 1,
    "submitted_at": 1,
}


def first_document(decision: FirstDecision) -> Document:
    """A new concern's decision as stored, with the keys duplicate detection finds it by."""
    routing, seat = decision.routing, decision.seat
    return {
        "_id": decision.concern_id,
        "category": decision.category,
        "school_id": decision.school_id,
        "channel": decision.channel.value,
        "contact_key": decision.contact_key,
        "fingerprint": sorted(decision.fingerprint),
        "submitted_at": decision.submitted_at,
        "match_keys": duplicates.match_keys(
            contact_key=decision.contact_key,
            category=decision.category,
            school_id=decision.school_id,
            text_fingerprint=decision.fingerprint,
        ),
        "team_id": routing.team_id,
        "priority": routing.priority.value,
        "priority_rank": PRIORITY_RANK[routing.priority],
        "tags": list(routing.tags),
        "rule": routing.rule,
        "safety_words": list(routing.safety_words),
        "sensitive": routing.sensitive,
        "decided_by": decision.decided_by,
        "decided_at": decision.decided_at,
        "assignee_id": seat.assignee_id if seat else None,
        "covering_for": seat.covering_for if seat else None,
        "possible_duplicates": [
            {"concern_id": c.concern_id, "reason": c.reason.value, "similarity": c.similarity}
            for c in decision.possible_duplicates
        ],
        "status": "open",
        "merged_into": None,
        "history": list(decision.history),
        "source_event_id": decision.source_event_id,
        "version": 1,
        **_requester_slot(decision),
    }


def _requester_slot(decision: FirstDecision) -> Document:
    """The decision's place among its requester key's concerns (unique: see `add_first`)."""
    key = duplicates.requester_key(decision.contact_key, decision.category, decision.school_id)
    if key is None or decision.requester_seq is None:
        return {}
    return {
        "requester_seq": decision.requester_seq,
        "requester_slot": f"{key}#{decision.requester_seq}",
    }


def decision_of(doc: Document) -> Decision:
    return Decision(
        concern_id=doc["_id"],
        category=doc["category"],
        school_id=doc.get("school_id"),
        team_id=doc["team_id"],
        priority=Priority(doc["priority"]),
        status=doc["status"],
        version=int(doc.get("version", 0)),
        priority_manual=bool(doc.get("priority_manual")),
        assignee_id=doc.get("assignee_id"),
        merged_into=doc.get("merged_into"),
        sensitive=bool(doc.get("sensitive")),
        possible_duplicates=tuple(c["concern_id"] for c in doc.get("possible_duplicates", [])),
        public_category=doc.get("public_category"),
    )


class ConcurrentChange(ChangedMeanwhile):
    """The decision kept changing under this change: a route answers 409, a consumer
    retries the event (as transient, never parked for it)."""


class DecisionRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._decisions = db[DECISIONS]

    async def ensure_indexes(self) -> None:
        await self._decisions.create_index([("submitted_at", ASCENDING)])
        await self._decisions.create_index(
            [("match_keys", ASCENDING), ("submitted_at", DESCENDING)]
        )
        await self._decisions.create_index(
            [
                ("team_id", ASCENDING),
                ("status", ASCENDING),
                ("priority_rank", ASCENDING),
                ("submitted_at", ASCENDING),
            ]
        )
        # one concern per number per requester key: of two concerns of one family triaged at
        # once, the second to be stored must have read the first (duplicate detection)
        await self._decisions.create_index("requester_slot", unique=True, sparse=True)

    async def add_first(self, decision: FirstDecision, events: Sequence[CloudEvent]) -> bool:
        """Store the first decision of a concern; False when one exists (a redelivery).
        Raises RequesterSlotTaken when another concern took its requester number meanwhile."""
        try:
            await self._decisions.insert_one(with_outbox(first_document(decision), events))
        except DuplicateKeyError:
            if await self._decisions.find_one({"_id": decision.concern_id}, {"_id": 1}):
                return False
            raise RequesterSlotTaken(decision.concern_id) from None
        return True

    async def next_requester_seq(self, requester_key: str) -> int:
        """The number the next concern of a requester key is stored with (1 for the first)."""
        latest = await self._decisions.find_one(
            {"match_keys": requester_key, "requester_seq": {"$exists": True}},
            {"requester_seq": 1},
            sort=[("requester_seq", DESCENDING)],
        )
        return int(latest["requester_seq"]) + 1 if latest else 1

    async def get(self, concern_id: str) -> Document | None:
        return await self._decisions.find_one({"_id": concern_id}, {"outbox": 0})

    async def load(self, concern_id: str) -> Decision | None:
        """The decision as the rules read it (not its log, outbox or duplicate keys)."""
        doc = await self._decisions.find_one({"_id": concern_id}, NOT_READ)
        return decision_of(doc) if doc else None

    async def change(
        self,
        concern_id: str,
        *,
        version: int,
        set_: Document,
        history: Sequence[Document],
        events: Sequence[CloudEvent],
        where: Document | None = None,
    ) -> bool:
        """Apply a change if the decision is still at `version`; False when it moved on."""
        update: dict[str, Any] = {"$set": set_, "$inc": {"version": 1}}
        push: Document = {}
        if history:
            push["history"] = {"$each": list(history)}
        if events:
            push.update(outbox_push(events))
        if push:
            update["$push"] = push
        result = await self._decisions.update_one(
            {"_id": concern_id, "version": version, **(where or {})}, update
        )
        return result.modified_count == 1

    async def earlier(
        self, keys: Sequence[str], since: datetime, until: datetime, limit: int
    ) -> list[Document]:
        """What duplicate detection compares with: the most recent concerns submitted in a time
        window that hold one of `keys` (duplicates.probe_keys), with only the compared fields."""
        if not keys:
            return []
        # The window first: a store that serves one clause from an index (SecantusDB takes
        # the first it can) then reads the window's concerns, not every concern of the
        # history that shares a common key (a school, a phrase).
        return (
            await self._decisions.find(
                {"submitted_at": {"$gte": since, "$lte": until}, "match_keys": {"$in": list(keys)}},
                COMPARED_FIELDS,
            )
            .sort([("submitted_at", DESCENDING)])
            .limit(limit)
            .to_list()
        )

    async def add_match_keys(self, since: datetime) -> int:
        """Give decisions stored before `match_keys` existed their keys (those submitted since
        `since`, the duplicate window); returns how many. Idempotent."""
        docs = await self._decisions.find(
            {"submitted_at": {"$gte": since}, "match_keys": {"$exists": False}}, COMPARED_FIELDS
        ).to_list()
        for d in docs:
            keys = duplicates.match_keys(
                contact_key=d.get("contact_key"),
                category=d["category"],
                school_id=d.get("school_id"),
                text_fingerprint=frozenset(d.get("fingerprint", [])),
            )
            await self._decisions.update_one({"_id": d["_id"]}, {"$set": {"match_keys": keys}})
        return len(docs)

    async def set_status(
        self, concern_id: str, status: str, *, unmerge: bool = False
    ) -> Decision | None:
        """Set a decision's status unless it is merged (or `unmerge`: a merged concern its
        requester reopened) or already so; returns the decision as it was, or None when
        nothing changed."""
        set_: Document = {"status": status} | ({"merged_into": None} if unmerge else {})
        return await self._change_unless(
            concern_id,
            [status] if unmerge else ["merged", status],
            {"$set": set_, "$inc": {"version": 1}},
        )

    async def mark_merged(
        self, concern_id: str, *, into: str, at: datetime, by: str
    ) -> Decision | None:
        """Mark a decision merged into another unless it already is; returns it as it was,
        or None when nothing changed."""
        return await self._change_unless(
            concern_id,
            ["merged"],
            {
                "$set": {"status": "merged", "merged_into": into},
                "$inc": {"version": 1},
                "$push": {"history": {"at": at, "by": by, "action": "merged", "into": into}},
            },
        )

    async def _change_unless(
        self, concern_id: str, statuses: list[str], update: Document
    ) -> Decision | None:
        """Apply `update` to a decision whose status is not one of `statuses`; returns it as
        it was, or None when nothing changed.

        A read, then an update by `_id` guarded by the version read: not one
        `find_one_and_update`, which SecantusDB writes through a filter it serves from no
        index (a scan of every decision of the history, about 0.7 s at 20,000)."""

        async def attempt(before: Decision | None) -> Decision | Retry | None:
            if before is None or before.status in statuses:
                return None
            changed = await self._decisions.update_one(
                {"_id": concern_id, "version": before.version, "status": {"$nin": statuses}},
                update,
            )
            if not changed.modified_count:
                return RETRY  # changed meanwhile by another handler: read it again
            return before

        return await load_decide_save(
            lambda: self.load(concern_id),
            attempt,
            conflict=lambda: ConcurrentChange(concern_id),
            attempts=CHANGE_ATTEMPTS,
        )

    async def within(self, ids: Sequence[str], where: Document) -> set[str]:
        """Those of `ids` whose decision matches `where` (a caller's reach)."""
        if not ids:
            return set()
        docs = await self._decisions.find(
            {"$and": [{"_id": {"$in": list(ids)}}, where]}, {"_id": 1}
        ).to_list()
        return {d["_id"] for d in docs}

    async def queue(
        self, team_id: str, limit: int, where: Document | None = None
    ) -> list[Document]:
        """A team's open concerns (those matching `where`), most urgent first, then oldest
        first."""
        query: Document = {"team_id": team_id, "status": "open"}
        return (
            await self._decisions.find(
                {"$and": [query, where]} if where else query,
                {"outbox": 0, "history": 0, "fingerprint": 0, "contact_key": 0},
            )
            .sort([("priority_rank", ASCENDING), ("submitted_at", ASCENDING)])
            .limit(limit)
            .to_list()
        )


@dataclass(frozen=True)
class SafetyWords:
    """The words that make a concern critical, and who last set them (None: the district
    file's, never changed through the API)."""

    words: tuple[str, ...]
    updated_at: datetime | None = None
    updated_by: str | None = None


class RuleRepository:
    """The ordered routing rules (`position` orders them), and the safety words."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        ttl_s: float = CACHE_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rules = db[RULES]
        self._meta = db[META]
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._cache = self._new_cache()
        self._safety = self._new_safety_cache()

    def _new_safety_cache(self) -> Cached[list[SafetyWords]]:
        return Cached(self._stored_safety_words, self._ttl_s, now=self._monotonic)

    def _new_cache(self) -> Cached[list[Rule]]:
        return Cached(self.ordered, self._ttl_s, now=self._monotonic)

    def _changed(self) -> None:
        # A new cache rather than `invalidate()`: a load already under way (which may have
        # read the rules before this change) fills the old one, which nobody reads any more.
        self._cache = self._new_cache()

    async def current(self) -> list[Rule]:
        """The rules routing uses: as stored at most `ttl_s` ago, or since this process's
        last change of them."""
        return await self._cache.get()

    async def safety_words(self, configured: Sequence[str]) -> SafetyWords:
        """The safety words routing uses: an administrator's as stored at most `ttl_s` ago (or
        since this process's last change of them), else `configured` (the district file's)."""
        stored = await self._safety.get()
        return stored[0] if stored else SafetyWords(words=tuple(configured))

    async def set_safety_words(
        self, words: Sequence[str], *, now: datetime, actor: str
    ) -> SafetyWords:
        """Store an administrator's safety words; they replace the district file's."""
        saved = SafetyWords(words=tuple(words), updated_at=now, updated_by=actor)
        await self._meta.update_one(
            {"_id": SAFETY_WORDS},
            {"$set": {"words": list(saved.words), "updated_at": now, "updated_by": actor}},
            upsert=True,
        )
        self._safety = self._new_safety_cache()  # as `_changed`: a load under way is dropped
        return saved

    async def _stored_safety_words(self) -> list[SafetyWords]:
        doc = await self._meta.find_one({"_id": SAFETY_WORDS})
        if doc is None:
            return []
        return [
            SafetyWords(
                words=tuple(doc["words"]),
                updated_at=as_utc(doc["updated_at"]),
                updated_by=doc.get("updated_by"),
            )
        ]

    async def seed(self, rules: Sequence[Rule]) -> bool:
        """Store the configured rules at the very first start only; True when this call did.

        A marker (not "no rules exist") decides, so that an administrator who deleted every
        rule does not get the seed back at the next restart; its unique `_id` makes one
        replica win when several start at once.
        """
        try:
            await self._meta.insert_one({"_id": SEEDED_MARKER, "count": len(rules)})
        except DuplicateKeyError:
            return False
        if rules and await self._rules.count_documents({}) == 0:
            await self._rules.insert_many([_rule_doc(r, i) for i, r in enumerate(rules)])
        self._changed()
        return True

    async def ordered(self) -> list[Rule]:
        docs = (
            await self._rules.find({}).sort([("position", ASCENDING), ("_id", ASCENDING)]).to_list()
        )
        return [_rule(d) for d in docs]

    async def get(self, rule_id: str) -> Rule | None:
        doc = await self._rules.find_one({"_id": rule_id})
        return _rule(doc) if doc else None

    async def create(self, rule: Rule, position: int | None) -> bool:
        """Insert a rule at a position (default: last); False when its id is taken."""
        if await self._rules.find_one({"_id": rule.id}, {"_id": 1}) is not None:
            return False
        count = await self._rules.count_documents({})
        at = count if position is None else min(position, count)
        ordered = await self.ordered()
        try:
            await self._rules.insert_one(_rule_doc(rule, at))
        except DuplicateKeyError:
            return False
        try:
            await self._renumber(
                [r.id for r in ordered[:at]] + [rule.id] + [r.id for r in ordered[at:]]
            )
        finally:
            self._changed()
        return True

    async def replace(self, rule: Rule) -> bool:
        doc = _rule_doc(rule, 0)
        doc.pop("position")
        result = await self._rules.update_one({"_id": rule.id}, {"$set": doc})
        self._changed()
        return result.matched_count == 1

    async def delete(self, rule_id: str) -> bool:
        result = await self._rules.delete_one({"_id": rule_id})
        self._changed()
        return result.deleted_count == 1

    async def reorder(self, rule_ids: Sequence[str]) -> None:
        try:
            await self._renumber(rule_ids)
        finally:
            self._changed()

    async def _renumber(self, rule_ids: Sequence[str]) -> None:
        for i, rule_id in enumerate(rule_ids):
            await self._rules.update_one({"_id": rule_id}, {"$set": {"position": i}})


def _rule_doc(rule: Rule, position: int) -> Document:
    body = rule.model_dump(mode="json")
    return {"_id": body.pop("id"), "position": position, **body}


def _rule(doc: Document) -> Rule:
    body = {k: v for k, v in doc.items() if k not in ("_id", "position")}
    return Rule.model_validate({"id": doc["_id"], **body})


class MemberRepository:
    """Team members: their open concerns and load, and their out-of-office state."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        ttl_s: float = CACHE_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._members = db[MEMBERS]
        self._holders = db[HOLDERS]
        self._meta = db[META]
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._away = self._new_away_cache()
        self._known: set[str] = set()  # documents that exist: members are never deleted
        self._assigning: dict[str, asyncio.Lock] = {}

    def _new_away_cache(self) -> Cached[dict[str, Absence]]:
        return Cached(self._read_away, self._ttl_s, now=self._monotonic)

    async def ensure_indexes(self) -> None:
        # Before holders were kept apart, an index over the open lists found a concern's
        # member; every assignment paid for it. Dropped where an earlier version made it.
        if "open_1" in await self._members.index_information():
            await self._members.drop_index("open_1")

    async def ensure(self, member_ids: Sequence[str]) -> None:
        """Create the documents of members seen for the first time (idempotent)."""
        await self._upsert([m for m in dict.fromkeys(member_ids) if m not in self._known])

    def assigning(self, team_id: str) -> asyncio.Lock:
        """Held while this process chooses and counts a member of the team: its own
        concurrent assignments then never race each other (other replicas may, and retry)."""
        return self._assigning.setdefault(team_id, asyncio.Lock())

    async def _upsert(self, member_ids: Sequence[str]) -> None:
        """Create missing member documents, all in one round trip."""
        if not member_ids:
            return
        writes = [
            UpdateOne(
                {"_id": member_id},
                {"$setOnInsert": {"load": 0, "open": [], "away": False, "backup_id": None}},
                upsert=True,
            )
            for member_id in member_ids
        ]
        try:
            await self._members.bulk_write(writes, ordered=False)
        except BulkWriteError as exc:  # another replica created some at the same moment
            duplicates_only(exc, len(writes))
        self._known.update(member_ids)

    async def get(self, member_id: str) -> Document | None:
        return await self._members.find_one({"_id": member_id})

    async def all(self) -> list[Document]:
        return await self._members.find({}).sort([("_id", ASCENDING)]).to_list()

    async def away(self, now: datetime) -> dict[str, str | None]:
        """Every member away at `now`, with their backup (as stored at most `ttl_s` ago, or
        since this process's last change); one whose `away_until` has passed is back."""
        return away_at(await self._away.get(), now)

    async def _read_away(self) -> dict[str, Absence]:
        docs = await self._members.find({"away": True}, {"backup_id": 1, "away_until": 1}).to_list()
        return {
            d["_id"]: Absence(
                d.get("backup_id"), as_utc(d["away_until"]) if d.get("away_until") else None
            )
            for d in docs
        }

    async def loads(self, member_ids: Sequence[str]) -> dict[str, int]:
        docs = await self._members.find({"_id": {"$in": list(member_ids)}}, {"load": 1}).to_list()
        return {d["_id"]: int(d.get("load", 0)) for d in docs}

    async def claim(self, member_id: str, concern_id: str, expected_load: int) -> bool:
        """Count a concern on a member if their load is still what the choice was made on."""
        await self._point(concern_id, member_id)
        result = await self._members.update_one(
            {"_id": member_id, "load": expected_load, "open": {"$ne": concern_id}},
            {"$inc": {"load": 1}, "$push": {"open": concern_id}},
        )
        return result.modified_count == 1

    async def add(self, member_id: str, concern_id: str) -> None:
        """Count a concern on a member whatever their load (idempotent)."""
        await self.ensure([member_id])
        await self._point(concern_id, member_id)
        await self._members.update_one(
            {"_id": member_id, "open": {"$ne": concern_id}},
            {"$inc": {"load": 1}, "$push": {"open": concern_id}},
        )

    async def release(self, member_id: str, concern_id: str) -> None:
        """Stop counting a concern on a member (idempotent)."""
        await self._members.update_one(
            {"_id": member_id, "open": concern_id},
            {"$inc": {"load": -1}, "$pull": {"open": concern_id}},
        )

    async def _point(self, concern_id: str, member_id: str) -> None:
        """Note the member a concern is about to be counted on (before the count: a crash
        between the two leaves a note `holder` sees through, never a count it cannot find)."""
        change = {"$set": {"member_id": member_id}}
        try:
            await self._holders.update_one({"_id": concern_id}, change, upsert=True)
        except DuplicateKeyError:  # another replica's upsert of the same concern came first
            await self._holders.update_one({"_id": concern_id}, change)

    async def holder(self, concern_id: str) -> str | None:
        """The member a concern is counted on, if any: the last one noted, if it counts it."""
        note = await self._holders.find_one({"_id": concern_id})
        if note is None:
            return None
        counted = await self._members.find_one(
            {"_id": note["member_id"], "open": concern_id}, {"_id": 1}
        )
        return note["member_id"] if counted else None

    async def ticket(self, team_id: str) -> int:
        """The team's next round-robin turn; each call gets a different one, on any replica."""
        key = f"round_robin:{team_id}"
        for _ in range(5):
            doc = await self._meta.find_one_and_update(
                {"_id": key}, {"$inc": {"next": 1}}, return_document=ReturnDocument.AFTER
            )
            if doc is not None:
                return int(doc["next"]) - 1
            # Not an upsert: concurrent upserts may fail or (on some stores) return nothing.
            try:
                await self._meta.insert_one({"_id": key, "next": 0})
            except DuplicateKeyError:
                pass
        raise RuntimeError(f"no round-robin counter for team {team_id}")

    async def set_away(
        self,
        member_id: str,
        *,
        away: bool,
        backup_id: str | None,
        until: datetime | None,
        by: str,
        at: datetime,
    ) -> Document:
        await self.ensure([member_id])
        try:
            doc = await self._members.find_one_and_update(
                {"_id": member_id},
                {
                    "$set": {
                        "away": away,
                        "backup_id": backup_id if away else None,
                        "away_until": until if away else None,
                        "away_set_by": by,
                        "away_set_at": at,
                    }
                },
                return_document=ReturnDocument.AFTER,
            )
        finally:
            # a new cache, not `invalidate()`: a read under way may predate this change
            self._away = self._new_away_cache()
        if doc is None:  # `ensure` added the member; only a removal since leaves none
            raise LookupError(f"staff member {member_id} is not in triage's directory")
        return doc
