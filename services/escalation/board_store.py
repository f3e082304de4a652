"""The Board's figures from maintained monthly summaries: one small document per month and
category, school or team (`board_months`), incremented when something countable happens to a
clock (it is submitted, a cycle ends, a breach or escalation line is written, a survey is
answered). A report reads at most months x groups of them, however many years of clocks
the store holds; only the open clocks are read for the backlog.

Counting is idempotent per clock and fact (`standards.facts_of` names each fact): a fact is
claimed by adding its key to the clock's `board_counted` (a conditional update, so one writer
wins, and a redelivered change finds it taken) before its counters are incremented. Clocks
stored before summaries existed are counted once at start (`backfill`).

The older aggregation pipelines (`sums`) remain for `/v1/reports/board`'s arbitrary periods.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pymongo
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from services.escalation.domain import SlaClock
from services.escalation.repository import REPORT_CYCLES, _readable
from services.escalation.standards import (
    BACKLOG_BUCKETS,
    NONE_KEY,
    Fact,
    Tally,
    backlog_bucket,
    changed_facts,
    facts_of,
    tally_of,
)
from shared.clock import as_utc
from shared.store import Document

REPORT_TIMEOUT_S = 120.0
OPEN = ["running", "paused"]


async def ensure_indexes(clocks: AsyncCollection[Document]) -> None:
    """Each pipeline starts from one of these ranges."""
    await clocks.create_index(
        [(f"{REPORT_CYCLES}.ended_at", ASCENDING)], name="report_cycles_ended_at"
    )
    await clocks.create_index([("history.at", ASCENDING)], name="history_at")
    await clocks.create_index([("surveyed_at", ASCENDING)], name="surveyed_at")
    await clocks.create_index(
        [("status", ASCENDING), ("started_at", ASCENDING)], name="status_started_at"
    )


def _name(value: Any) -> str:
    return NONE_KEY if value is None or value == "" else str(value)


async def _run(clocks: AsyncCollection[Document], pipeline: list[Document]) -> list[Document]:
    # A report reads a period's facts: longer than the store's usual time limit per operation.
    with pymongo.timeout(REPORT_TIMEOUT_S):
        cursor = await clocks.aggregate(pipeline)
        return await cursor.to_list()


def _bucket_of(started: str, as_of: datetime) -> Document:
    """The backlog bucket of a cycle that started at the field `started`, at `as_of`."""
    branches = [
        {"case": {"$gt": [started, as_of - limit]}, "then": name}
        for name, limit in BACKLOG_BUCKETS[:-1]
    ]
    return {"$switch": {"branches": branches, "default": BACKLOG_BUCKETS[-1][0]}}


Key = tuple[str | None, str, str, str]  # (month, category, school, team); month None: backlog
DIMENSIONS = {"category": 1, "school": 2, "team": 3}


def _month_of(field: str, months: list[tuple[str, datetime, datetime]]) -> Document:
    """The label of the month an instant (the field) falls in; months are in order."""
    branches = [{"case": {"$lt": [field, end]}, "then": label} for label, _, end in months]
    return {"$switch": {"branches": branches, "default": None}}


def _keyed(field: str | None, months: list[tuple[str, datetime, datetime]]) -> Document:
    return {
        "m": _month_of(field, months) if field else None,
        "c": "$category",
        "s": "$school_id",
        "t": "$team_id",
    }


def _key_of(ident: Document) -> Key:
    return (ident.get("m"), _name(ident.get("c")), _name(ident.get("s")), _name(ident.get("t")))


async def sums(
    clocks: AsyncCollection[Document],
    *,
    months: list[tuple[str, datetime, datetime]],
    as_of: datetime,
    guarantee: timedelta,
) -> dict[Key, Tally]:
    """One tally per (month, category, school, team) of what happened in `months` (labelled,
    consecutive `[start, end)` periods), one pass per kind of fact over the whole period; and
    the backlog open at `as_of` per (None, category, school, team)."""
    out: dict[Key, Tally] = {}

    def of(ident: Document) -> Tally:
        return out.setdefault(_key_of(ident), Tally())

    in_period = {"$gte": months[0][1], "$lt": months[-1][2]}
    for row in await _run(
        clocks,
        [
            {"$match": {"submitted_at": in_period}},
            {"$group": {"_id": _keyed("$submitted_at", months), "n": {"$sum": 1}}},
        ],
    ):
        of(row["_id"]).received += int(row["n"])

    cycle = f"${REPORT_CYCLES}"
    for row in await _run(
        clocks,
        [
            {"$match": {f"{REPORT_CYCLES}.ended_at": in_period}},
            {"$unwind": cycle},
            {
                "$match": {
                    f"{REPORT_CYCLES}.outcome": "resolved",
                    f"{REPORT_CYCLES}.ended_at": in_period,
                }
            },
            {
                "$group": {
                    "_id": {
                        **_keyed(f"{cycle}.ended_at", months),
                        "x": {"$floor": {"$divide": [f"{cycle}.counted_s", 60]}},
                        "f": f"{cycle}.first_response_met",
                        "r": f"{cycle}.resolution_met",
                    },
                    "n": {"$sum": 1},
                }
            },
        ],
    ):
        ident = row["_id"]
        of(ident).add_resolved(
            counted_s=float(ident["x"]) * 60,
            first_response_met=bool(ident.get("f")),
            resolution_met=bool(ident.get("r")),
            guarantee=guarantee,
            n=int(row["n"]),
        )

    lines = {"$in": ["breached", "escalated"]}
    for row in await _run(
        clocks,
        [
            # clocks with a line in the period and a breach or escalation line (not always the
            # same line: the next stage picks the lines), so that clocks never breached stay
            {"$match": {"history.at": in_period, "history.kind": lines}},
            {"$unwind": "$history"},
            {"$match": {"history.kind": lines, "history.at": in_period}},
            {
                "$group": {
                    "_id": {
                        **_keyed("$history.at", months),
                        "kind": "$history.kind",
                        "target": "$history.target",
                        "level": "$history.level",
                    },
                    "n": {"$sum": 1},
                }
            },
        ],
    ):
        ident, n = row["_id"], int(row["n"])
        tally = of(ident)
        if ident["kind"] == "breached" and ident.get("target"):
            tally.breaches[ident["target"]] = tally.breaches.get(ident["target"], 0) + n
        elif ident["kind"] == "escalated" and ident.get("level") is not None:
            level = str(ident["level"])
            tally.escalations[level] = tally.escalations.get(level, 0) + n

    for row in await _run(
        clocks,
        [
            {"$match": {"surveyed_at": in_period, "satisfaction": {"$ne": None}}},
            {
                "$group": {
                    "_id": _keyed("$surveyed_at", months),
                    "n": {"$sum": 1},
                    "s": {"$sum": "$satisfaction"},
                }
            },
        ],
    ):
        tally = of(row["_id"])
        tally.surveys += int(row["n"])
        tally.score_total += int(row["s"])

    # Backlog at `as_of`: cycles that started before it and ended after it, and open cycles.
    for row in await _run(
        clocks,
        [
            {"$match": {f"{REPORT_CYCLES}.ended_at": {"$gt": as_of}}},
            {"$unwind": cycle},
            {
                "$match": {
                    f"{REPORT_CYCLES}.ended_at": {"$gt": as_of},
                    f"{REPORT_CYCLES}.started_at": {"$lt": as_of},
                }
            },
            {
                "$group": {
                    "_id": {**_keyed(None, months), "b": _bucket_of(f"{cycle}.started_at", as_of)},
                    "n": {"$sum": 1},
                }
            },
        ],
    ):
        of(row["_id"]).backlog[row["_id"]["b"]] += int(row["n"])
    for row in await _run(
        clocks,
        [
            {"$match": {"status": {"$in": OPEN}, "started_at": {"$lt": as_of}}},
            {
                "$group": {
                    "_id": {**_keyed(None, months), "b": _bucket_of("$started_at", as_of)},
                    "n": {"$sum": 1},
                }
            },
        ],
    ):
        of(row["_id"]).backlog[row["_id"]["b"]] += int(row["n"])
    return out


def by_month(found: dict[Key, Tally]) -> dict[str, Tally]:
    """Each month's tally (the backlog, counted at the end of the period, is in none)."""
    out: dict[str, Tally] = {}
    for key, tally in found.items():
        if key[0] is not None:
            out.setdefault(key[0], Tally()).merge(tally)
    return out


def by_group(found: dict[Key, Tally], group_by: str) -> dict[str, Tally]:
    """The whole period's tally per category, school or team (with the backlog)."""
    out: dict[str, Tally] = {}
    for key, tally in found.items():
        out.setdefault(str(key[DIMENSIONS[group_by]]), Tally()).merge(tally)
    return out


def total(groups: Mapping[Any, Tally]) -> Tally:
    """All groups together."""
    whole = Tally()
    for tally in groups.values():
        whole.merge(tally)
    return whole



MONTHS = "board_months"
COUNTED = "board_counted"
BACKFILLED = "board_backfilled"


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

    async def ensure_indexes(self) -> None:
        await self._months.create_index([("month", ASCENDING)], name="month")
        await self._clocks.create_index(
            [("status", ASCENDING), ("started_at", ASCENDING)], name="status_started_at"
        )

    async def _apply(self, fact: Fact) -> None:
        for label, counts in fact.months:
            for _id, update in _inc(fact, label, counts):
                await self._months.update_one({"_id": _id}, update, upsert=True)

    async def changed(self, concern_id: str, before: SlaClock | None, after: SlaClock) -> None:
        """Count what a stored change of a clock added (and take back what it removed): each
        fact once, however often the change is seen (a redelivered event, a replayed write)."""
        added, removed = changed_facts(
            before, after, timezone=self.timezone, guarantee=self.guarantee
        )
        for fact in added:
            claimed = await self._clocks.update_one(
                {"_id": concern_id, COUNTED: {"$ne": fact.key}}, {"$push": {COUNTED: fact.key}}
            )
            if claimed.modified_count == 1:
                await self._apply(fact)
        for fact in removed:
            released = await self._clocks.update_one(
                {"_id": concern_id, COUNTED: fact.key}, {"$pull": {COUNTED: fact.key}}
            )
            if released.modified_count == 1:
                await self._apply(fact.negated())

    async def backfill(self, batch: int = 500) -> int:
        """Count the clocks stored before summaries existed (those without `board_counted`),
        once; later starts find the backfill done and read no clock."""
        if await self._meta.find_one({"_id": BACKFILLED}):
            return 0
        done = 0
        while True:
            docs = (
                await self._clocks.find(
                    {COUNTED: {"$exists": False}}, {"outbox": 0, "applied_events": 0}
                )
                .limit(batch)
                .to_list()
            )
            readable = {clock.concern_id: clock for clock in _readable(docs)}
            for doc in docs:
                clock = readable.get(doc["_id"])
                facts = (
                    facts_of(
                        clock,
                        timezone=self.timezone,
                        guarantee=self.guarantee,
                        summaries=doc.get(REPORT_CYCLES) or (),
                    )
                    if clock
                    else {}  # an unreadable clock is marked and left out
                )
                marked = await self._clocks.update_one(
                    {"_id": doc["_id"], COUNTED: {"$exists": False}},
                    {"$set": {COUNTED: list(facts)}},
                )
                if marked.modified_count == 1:
                    for fact in facts.values():
                        await self._apply(fact)
                    done += 1
            if len(docs) < batch:
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
