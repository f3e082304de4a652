"""The Board's figures from maintained monthly summaries: one small document per month and
category, school or team (`board_months`), incremented when something countable happens to a
clock (it is submitted, a cycle ends, a breach or escalation line is written, a survey is
answered). A report reads at most months x groups of them, however many years of clocks
the store holds; only the open clocks are read for the backlog.

Counting is idempotent per clock and fact (`standards.facts_of` names each fact): a fact is
claimed by adding its key to the clock's `board_counted` before its counters are incremented,
in the clock's own versioned write of the change (services/escalation/repository/clocks.py;
one writer wins it, a redelivered change changes nothing), or, for a change that both adds
and takes back facts, by a conditional update per fact after it (`changed`). Clocks
stored before summaries existed are counted once at start (`backfill`).

The older reports (`/v1/reports/board`, any period, grouped also by channel or priority) read
only the clocks of their period (`clocks_of_period`), through index ranges.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pymongo
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from services.escalation.domain import SlaClock
from services.escalation.repository import NOT_READ, REPORT_CYCLES, _readable
from services.escalation.standards import (
    BACKLOG_BUCKETS,
    CALLBACK_OUTCOMES,
    NONE_KEY,
    Fact,
    Tally,
    backlog_bucket,
    changed_facts,
    facts_of,
    tally_of,
)
from shared.batching import GroupCommit
from shared.clock import as_utc
from shared.store import Document

REPORT_TIMEOUT_S = 120.0
OPEN = ["running", "paused"]


async def ensure_indexes(clocks: AsyncCollection[Document]) -> None:
    """The ranges the reports read clocks through (`clocks_of_period`, the open clocks)."""
    await clocks.create_index(
        [(f"{REPORT_CYCLES}.ended_at", ASCENDING)], name="report_cycles_ended_at"
    )
    await clocks.create_index([("history.at", ASCENDING)], name="history_at")
    await clocks.create_index(
        [("status", ASCENDING), ("started_at", ASCENDING)], name="status_started_at"
    )


def _name(value: Any) -> str:
    return NONE_KEY if value is None or value == "" else str(value)


async def clocks_of_period(
    clocks: AsyncCollection[Document], *, since: datetime, until: datetime, as_of: datetime
) -> list[SlaClock]:
    """The clocks the older reports (`/v1/reports/board` and its trend) count for `[since,
    until)` with the backlog at `as_of`, each read once, through index ranges: those with a
    history line in the period (submission, resolution, breach, escalation, survey), those
    still open, and those with a cycle that ended at or after `as_of` (open across it; the
    earliest instant a backlog is counted at) -- never every clock of the history before the
    period. The reports pick what falls in the period from these."""
    found: dict[str, Document] = {}
    with pymongo.timeout(REPORT_TIMEOUT_S):
        for query in (
            {"history.at": {"$gte": since, "$lt": until}},
            {"submitted_at": {"$gte": since, "$lt": until}},
            {"status": {"$in": OPEN}, "started_at": {"$lt": until}},
            {f"{REPORT_CYCLES}.ended_at": {"$gte": as_of}},
        ):
            async for doc in clocks.find(query, NOT_READ):
                found.setdefault(doc["_id"], doc)
    return _readable(list(found.values()))


def total(groups: Mapping[Any, Tally]) -> Tally:
    """All groups together."""
    whole = Tally()
    for tally in groups.values():
        whole.merge(tally)
    return whole


MONTHS = "board_months"
COUNTED = "board_counted"
BACKFILLED = "board_backfilled"
# Facts that clocks counted before they existed gain once, by their key's prefix: the waits
# for information (`i<n>`) ended before the standard was measured; the callbacks made or
# missed (`k…`) before they were counted; and, once more, the waits for information, now that
# those resumed before the clock logged the family's answer count as answered (see
# `ANSWERED_SINCE`). Each pass also takes back what the clock counted under a key of its
# prefix that it no longer has.
LATER_FACTS = (
    ("board_backfilled_information", "i"),
    ("board_backfilled_callbacks", "k"),
    ("board_recounted_information_answered", "i"),
)
# The history lines a clock needs for facts of a prefix: only those clocks are read.
LATER_KINDS = {"i": ("paused",), "k": CALLBACK_OUTCOMES}
# When this store first ran with the clock logging the family's answer (`answered`): a wait
# for information resumed before it counts as answered (its history cannot say by whom).
ANSWERED_SINCE = "board_answered_since"
BACKFILL_TOKEN = "board_backfill"
# How many marked clocks' counts the backfill sums before writing them (a crash in between
# loses at most these; counting twice is never possible).
FLUSH_CLOCKS = 5_000


def _inc(fact: Fact, label: str, counts: tuple[tuple[str, int], ...]) -> list[tuple[str, Document]]:
    return [
        (
            f"{label}|{dim}|{value}",
            {
                "$inc": dict(counts),
                "$setOnInsert": {"month": label, "dim": dim, "value": value},
            },
        )
        for dim, value in zip(BREAKDOWN, fact.dims, strict=True)
    ]


BREAKDOWN = ("category", "school", "team")


def _add(kept: Document, update: Document) -> None:
    for name, n in update["$inc"].items():
        kept["$inc"][name] = kept["$inc"].get(name, 0) + n


def _sums(facts: tuple[Fact, ...] | list[Fact]) -> dict[str, Document]:
    """Summary document id -> its upsert, the facts' counts summed."""
    sums: dict[str, Document] = {}
    for fact in facts:
        for label, counts in fact.months:
            for _id, update in _inc(fact, label, counts):
                kept = sums.setdefault(_id, update)
                if kept is not update:
                    _add(kept, update)
    return sums


def _merge(batches: list[dict[str, Document]]) -> dict[str, Document]:
    """Several changes' upserts as one per summary document."""
    merged: dict[str, Document] = {}
    for sums in batches:
        for _id, update in sums.items():
            if _id in merged:
                _add(merged[_id], update)
            else:
                merged[_id] = {**update, "$inc": dict(update["$inc"])}
    return merged


class BoardSummaries:
    """The monthly summaries: counted as clocks change, read by the Board report."""

    def __init__(
        self,
        clocks: AsyncCollection[Document],
        *,
        timezone: ZoneInfo,
        guarantee: timedelta,
    ) -> None:
        self._clocks = clocks
        self._months: AsyncCollection[Document] = clocks.database[MONTHS]
        self._meta: AsyncCollection[Document] = clocks.database["board_meta"]
        self.timezone = timezone
        self.guarantee = guarantee
        # the store's `ANSWERED_SINCE`, read at start (`backfill`); None: every wait resumed
        # without an `answered` line is unanswered
        self.answered_since: datetime | None = None
        self._upserts: GroupCommit[dict[str, Document], None] = GroupCommit(self._write)

    async def ensure_indexes(self) -> None:
        await self._months.create_index([("month", ASCENDING)], name="month")

    async def _apply(self, *facts: Fact) -> None:
        """Add facts' counts: one upsert per summary document they touch, written together
        with those of the changes counted at the same time (one `bulk_write`)."""
        if facts:
            await self._upserts(_sums(facts))

    async def _write(self, batches: list[dict[str, Document]]) -> list[None]:
        """The summaries' increments of concurrent changes, summed per summary document: one
        upsert each, in one round trip."""
        sums = batches[0] if len(batches) == 1 else _merge(batches)
        await self._months.bulk_write(
            [UpdateOne({"_id": _id}, update, upsert=True) for _id, update in sums.items()],
            ordered=False,
        )
        return [None] * len(batches)

    def facts(self, before: SlaClock | None, after: SlaClock) -> tuple[list[Fact], list[Fact]]:
        """What a change of a clock adds to the summaries and what it takes back."""
        return changed_facts(
            before,
            after,
            timezone=self.timezone,
            guarantee=self.guarantee,
            answered_since=self.answered_since,
        )

    async def counted(
        self, concern_id: str, added: Sequence[Fact], removed: Sequence[Fact]
    ) -> None:
        """Count the facts a change's own write marked counted (`added`) and unmarked
        (`removed`, taken back): the clock's versioned write made its writer the only one."""
        await self._apply(*added, *(fact.negated() for fact in removed))

    async def changed(self, concern_id: str, before: SlaClock | None, after: SlaClock) -> None:
        """Count what a stored change of a clock added (and take back what it removed): each
        fact once, however often the change is seen (a redelivered event, a replayed write)."""
        added, removed = self.facts(before, after)
        counted = [*await self._claim(concern_id, added), *await self._release(concern_id, removed)]
        await self._apply(*counted)

    async def _claim(self, concern_id: str, facts: list[Fact]) -> list[Fact]:
        """The facts this writer claims (marks counted) first: all in one conditional write
        when none is counted yet (the usual case), else one at a time."""
        if len(facts) > 1:
            keys = [fact.key for fact in facts]
            claimed = await self._clocks.update_one(
                {"_id": concern_id, COUNTED: {"$nin": keys}},
                {"$push": {COUNTED: {"$each": keys}}},
            )
            if claimed.modified_count == 1:
                return facts
        mine = []
        for fact in facts:
            claimed = await self._clocks.update_one(
                {"_id": concern_id, COUNTED: {"$ne": fact.key}}, {"$push": {COUNTED: fact.key}}
            )
            if claimed.modified_count == 1:
                mine.append(fact)
        return mine

    async def _release(self, concern_id: str, facts: list[Fact]) -> list[Fact]:
        """The removed facts this writer takes back (unmarks), negated."""
        mine = []
        for fact in facts:
            released = await self._clocks.update_one(
                {"_id": concern_id, COUNTED: fact.key}, {"$pull": {COUNTED: fact.key}}
            )
            if released.modified_count == 1:
                mine.append(fact.negated())
        return mine

    async def load_answered_since(self, now: datetime) -> datetime:
        """The instant this store first ran with the clock logging the family's answer: set
        by the first start (`now`), read by every later one and every replica."""
        await self._meta.update_one(
            {"_id": ANSWERED_SINCE}, {"$setOnInsert": {"at": now}}, upsert=True
        )
        found = await self._meta.find_one({"_id": ANSWERED_SINCE})
        self.answered_since = as_utc(found["at"]) if found else now
        return self.answered_since

    async def backfill(self, batch: int = 200, *, now: datetime | None = None) -> int:
        """Count the clocks stored before summaries existed (those without `board_counted`),
        once; later starts find the backfill done and read no clock. Then, once each, the
        kinds of facts added since the clocks were counted (`LATER_FACTS`). `now` (the
        service's clock) marks when the store began logging the family's answer, on its
        first start; without it, the mark a start left is read, or none is used."""
        if now is not None:
            await self.load_answered_since(now)
        elif found := await self._meta.find_one({"_id": ANSWERED_SINCE}):
            self.answered_since = as_utc(found["at"])
        done = await self._backfill_clocks(batch)
        for marker, prefix in LATER_FACTS:
            await self.backfill_later_facts(marker, prefix)
        return done

    async def backfill_later_facts(self, marker: str, prefix: str) -> int:
        """Once per store: the facts whose key starts with `prefix` that clocks already
        counted (those with `board_counted`) lack, each claimed as a change claims it (one
        writer counts it, whoever else runs this or changes the clock meanwhile), and those
        of the prefix they counted but no longer have, taken back as a change takes them
        back; answers how many it counted or took back. Only the clocks with a history line
        the prefix needs are read (`LATER_KINDS`)."""
        if await self._meta.find_one({"_id": marker}):
            return 0
        counted = 0
        with pymongo.timeout(REPORT_TIMEOUT_S * 10):
            cursor = self._clocks.find(
                {COUNTED: {"$exists": True}, "history.kind": {"$in": list(LATER_KINDS[prefix])}},
                {"outbox": 0, "applied_events": 0},
            )
            async for doc in cursor:
                read = _readable([doc])  # an unreadable clock is left out, as at start
                if not read:
                    continue
                clock = read[0]
                known = set(doc.get(COUNTED) or ())
                found = {
                    key: fact
                    for key, fact in facts_of(
                        clock,
                        timezone=self.timezone,
                        guarantee=self.guarantee,
                        answered_since=self.answered_since,
                    ).items()
                    if key.startswith(prefix)
                }
                missing = [fact for key, fact in found.items() if key not in known]
                # counted under an outcome the clock no longer gives (a wait counted
                # unanswered before `answered_since` was known): taken back under its groups
                # now, as a change takes a replaced fact back
                gone = [key for key in known if key.startswith(prefix) and key not in found]
                earlier = (
                    facts_of(clock, timezone=self.timezone, guarantee=self.guarantee)
                    if gone
                    else {}
                )
                stale = [earlier[key] for key in gone if key in earlier]
                mine = await self._claim(clock.concern_id, missing) if missing else []
                mine += await self._release(clock.concern_id, stale) if stale else []
                await self._apply(*mine)
                counted += len(mine)
        await self._meta.update_one({"_id": marker}, {"$set": {"done": True}}, upsert=True)
        return counted

    async def _backfill_clocks(self, batch: int) -> int:
        if await self._meta.find_one({"_id": BACKFILLED}):
            return 0
        done, flushed = 0, 0
        pending: list[Fact] = []
        # one pass of one cursor over the clocks, taken in batches (a query per batch would
        # walk the collection again each time)
        cursor = self._clocks.find(
            {COUNTED: {"$exists": False}}, {"outbox": 0, "applied_events": 0}, batch_size=batch
        )
        more = True
        while more:
            docs = []
            with pymongo.timeout(REPORT_TIMEOUT_S):
                async for doc in cursor:
                    docs.append(doc)
                    if len(docs) == batch:
                        break
            more = len(docs) == batch
            readable = {clock.concern_id: clock for clock in _readable(docs)}
            facts: dict[str, dict[str, Fact]] = {}
            for doc in docs:
                clock = readable.get(doc["_id"])  # an unreadable clock is marked, left out
                facts[doc["_id"]] = (
                    facts_of(
                        clock,
                        timezone=self.timezone,
                        guarantee=self.guarantee,
                        summaries=doc.get(REPORT_CYCLES) or (),
                    )
                    if clock
                    else {}
                )
            # marked in one trip, each only if nobody counted it meanwhile (another replica
            # starting too): this run counts those that carry its token
            token = uuid.uuid4().hex
            mine = list(facts)
            if facts:
                with pymongo.timeout(REPORT_TIMEOUT_S):  # a batch's marks in one operation
                    marked = await self._clocks.bulk_write(
                        [
                            UpdateOne(
                                {"_id": _id, COUNTED: {"$exists": False}},
                                {"$set": {COUNTED: list(found), BACKFILL_TOKEN: token}},
                            )
                            for _id, found in facts.items()
                        ],
                        ordered=False,
                    )
                if marked.modified_count != len(facts):  # some counted by another replica
                    mine = [
                        _id
                        for _id in facts
                        if await self._clocks.find_one({"_id": _id, BACKFILL_TOKEN: token})
                    ]
            # counts summed over many batches before they are written: a batch's clocks
            # spread over every month and group, so one write per summary per flush
            pending.extend(f for _id in mine for f in facts[_id].values())
            done += len(mine)
            if done - flushed >= FLUSH_CLOCKS or not more:
                await self._apply(*pending)
                pending, flushed = [], done
            if not more:
                await cursor.close()
                await self._meta.update_one(
                    {"_id": BACKFILLED}, {"$set": {"done": True}}, upsert=True
                )
        return done

    async def tallies(
        self, labels: list[str], *, as_of: datetime, end_label: str | None
    ) -> tuple[dict[str, Tally], dict[str, dict[str, Tally]]]:
        """Each month's tally, and per breakdown (category, school, team) each group's tally
        over the months with the backlog at `as_of`: the cycles still open across the end of
        month `end_label` (when `as_of` is that month's end), and the open clocks."""
        monthly: dict[str, Tally] = {label: Tally() for label in labels}
        groups: dict[str, dict[str, Tally]] = {dim: {} for dim in BREAKDOWN}
        docs = await self._months.find({"month": {"$gte": labels[0], "$lte": labels[-1]}}).to_list()
        for doc in docs:
            if doc["month"] not in monthly:
                continue
            tally = tally_of(doc)
            if doc["month"] != end_label:
                tally.backlog = {name: 0 for name, _ in BACKLOG_BUCKETS}
            if doc["dim"] == BREAKDOWN[0]:
                month_tally = tally_of(doc)
                month_tally.backlog = {name: 0 for name, _ in BACKLOG_BUCKETS}
                monthly[doc["month"]].merge(month_tally)
            groups[doc["dim"]].setdefault(doc["value"], Tally()).merge(tally)
        async for doc in self._clocks.find(
            {"status": {"$in": OPEN}, "started_at": {"$lt": as_of}},
            {"category": 1, "school_id": 1, "team_id": 1, "started_at": 1},
        ):
            bucket = backlog_bucket(as_of - as_utc(doc["started_at"]))
            for dim, field in zip(BREAKDOWN, ("category", "school_id", "team_id"), strict=True):
                tally = groups[dim].setdefault(_name(doc.get(field)), Tally())
                tally.backlog[bucket] += 1
        return monthly, groups
