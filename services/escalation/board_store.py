"""The Board's figures computed in the store: aggregation pipelines over the clocks, each
starting from an indexed range of the period (what happened in it), never reading every clock.

What is summed is defined in `services.escalation.standards`: the cycle summaries that a clock
keeps in `report_cycles` (written with the change that ends a cycle), the breach and
escalation lines of its history, its survey answer, and its open cycle for the backlog.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from services.escalation.repository import REPORT_CYCLES, _readable
from services.escalation.standards import BACKLOG_BUCKETS, NONE_KEY, Tally, cycles_of
from shared.clock import as_utc
from shared.store import Document

# group_by -> the clock's field
GROUP_FIELDS = {
    "category": "category",
    "school": "school_id",
    "team": "team_id",
    "channel": "channel",
    "priority": "priority",
}
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


def _key(group_by: str | None) -> Any:
    return f"${GROUP_FIELDS[group_by]}" if group_by else None


def _name(value: Any) -> str:
    return NONE_KEY if value is None or value == "" else str(value)


async def _run(clocks: AsyncCollection[Document], pipeline: list[Document]) -> list[Document]:
    cursor = await clocks.aggregate(pipeline)
    return await cursor.to_list()


def _bucket_of(started: str, as_of: datetime) -> Document:
    """The backlog bucket of a cycle that started at the field `started`, at `as_of`."""
    branches = [
        {"case": {"$gt": [started, as_of - limit]}, "then": name}
        for name, limit in BACKLOG_BUCKETS[:-1]
    ]
    return {"$switch": {"branches": branches, "default": BACKLOG_BUCKETS[-1][0]}}


async def tallies(
    clocks: AsyncCollection[Document],
    *,
    group_by: str | None,
    start: datetime,
    end: datetime,
    as_of: datetime,
    guarantee: timedelta,
) -> dict[str, Tally]:
    """One tally per group (one, keyed "total", without `group_by`) for `[start, end)`, with
    the backlog open at `as_of`."""
    key = _key(group_by)
    out: dict[str, Tally] = {}

    def of(value: Any) -> Tally:
        return out.setdefault(_name(value) if group_by else "total", Tally())

    in_period = {"$gte": start, "$lt": end}
    for row in await _run(
        clocks,
        [{"$match": {"submitted_at": in_period}}, {"$group": {"_id": key, "n": {"$sum": 1}}}],
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
                        "k": key,
                        "m": {"$floor": {"$divide": [f"{cycle}.counted_s", 60]}},
                        "f": f"{cycle}.first_response_met",
                        "r": f"{cycle}.resolution_met",
                    },
                    "n": {"$sum": 1},
                }
            },
        ],
    ):
        ident = row["_id"]
        of(ident.get("k")).add_resolved(
            counted_s=float(ident["m"]) * 60,
            first_response_met=bool(ident.get("f")),
            resolution_met=bool(ident.get("r")),
            guarantee=guarantee,
            n=int(row["n"]),
        )

    lines = {"$in": ["breached", "escalated"]}
    for row in await _run(
        clocks,
        [
            {"$match": {"history.at": in_period}},
            {"$unwind": "$history"},
            {"$match": {"history.kind": lines, "history.at": in_period}},
            {
                "$group": {
                    "_id": {
                        "k": key,
                        "kind": "$history.kind",
                        "t": "$history.target",
                        "l": "$history.level",
                    },
                    "n": {"$sum": 1},
                }
            },
        ],
    ):
        ident, n = row["_id"], int(row["n"])
        tally = of(ident.get("k"))
        if ident["kind"] == "breached" and ident.get("t"):
            tally.breaches[ident["t"]] = tally.breaches.get(ident["t"], 0) + n
        elif ident["kind"] == "escalated" and ident.get("l") is not None:
            level = str(ident["l"])
            tally.escalations[level] = tally.escalations.get(level, 0) + n

    for row in await _run(
        clocks,
        [
            {"$match": {"surveyed_at": in_period, "satisfaction": {"$ne": None}}},
            {"$group": {"_id": key, "n": {"$sum": 1}, "s": {"$sum": "$satisfaction"}}},
        ],
    ):
        tally = of(row["_id"])
        tally.surveys += int(row["n"])
        tally.score_total += int(row["s"])

    # Backlog: cycles that started before `as_of` and ended after it, and open cycles.
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
                    "_id": {"k": key, "b": _bucket_of(f"{cycle}.started_at", as_of)},
                    "n": {"$sum": 1},
                }
            },
        ],
    ):
        of(row["_id"].get("k")).backlog[row["_id"]["b"]] += int(row["n"])
    for row in await _run(
        clocks,
        [
            {"$match": {"status": {"$in": OPEN}, "started_at": {"$lt": as_of}}},
            {
                "$group": {
                    "_id": {"k": key, "b": _bucket_of("$started_at", as_of)},
                    "n": {"$sum": 1},
                }
            },
        ],
    ):
        of(row["_id"].get("k")).backlog[row["_id"]["b"]] += int(row["n"])
    return out


def total(groups: dict[str, Tally]) -> Tally:
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
