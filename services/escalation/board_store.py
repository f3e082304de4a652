"""The Board's figures computed in the store: aggregation pipelines over the clocks, each
starting from an indexed range of the period (what happened in it), never reading every clock.

What is summed is defined in `services.escalation.standards`: the cycle summaries that a clock
keeps in `report_cycles` (written with the change that ends a cycle), the breach and
escalation lines of its history, its survey answer, and its open cycle for the backlog.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pymongo
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from services.escalation.repository import REPORT_CYCLES, _readable
from services.escalation.standards import BACKLOG_BUCKETS, NONE_KEY, Tally, cycles_of
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


async def backfill(clocks: AsyncCollection[Document], batch: int = 500) -> int:
    """Give clocks stored before cycle summaries existed their `report_cycles` (once, at
    start): only clocks with an ended cycle and no summaries are read."""
    done = 0
    while True:
        docs = (
            await clocks.find(
                {
                    REPORT_CYCLES: {"$exists": False},
                    "history.kind": {"$in": ["resolved", "closed"]},
                },
                {"outbox": 0, "applied_events": 0},
            )
            .limit(batch)
            .to_list()
        )
        if not docs:
            return done
        readable = {clock.concern_id: clock for clock in _readable(docs)}
        for doc in docs:
            clock = readable.get(doc["_id"])  # an unreadable clock gets none (and is skipped)
            ended = (
                [
                    {**c, "ended_at": as_utc(c["ended_at"])}
                    for c in cycles_of(clock)
                    if c["outcome"] is not None
                ]
                if clock
                else []
            )
            await clocks.update_one(
                {"_id": doc["_id"], REPORT_CYCLES: {"$exists": False}},
                {"$set": {REPORT_CYCLES: ended}},
            )
            done += 1
        if len(docs) < batch:
            return done
