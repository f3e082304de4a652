"""Calls answered month by month: maintained monthly summaries of the call records.

Each call record is counted once into `call_months`, one small document per month (the
district's time zone, by the call's start) and group (the district's total, a school, a
category, a team): its calls, calls answered, the seconds each answer took (whole seconds,
rounded up: a histogram, so the time nine in ten were answered within is read from it) and
the callbacks its voicemails promised. A record's facts (`call`: it reached an outcome,
`answer`: the caller was served, `callback`: a voicemail promised one) are claimed on the
record (`board.<fact>`, a write guarded by the claim's absence) before the counters move, so
a provider's retry, a redelivery or a replica doing the same counts nothing twice (a crash
between claim and count loses that fact rather than counting it twice). The groups are fixed
when the call is first counted (the school the caller chose, else the concern's groups then)
and follow the concern when triage routes it again (`regroup`).
Records stored before the summaries are counted once at start (`backfill`), a batch
claimed together, within a time budget a start. The Board reads at most months x groups
documents, never a call.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.call_schemas import NO_GROUP, UNKNOWN
from services.intake.web import Ctx
from shared import disclosure
from shared.authz import TABLE, Access, Permission
from shared.board import BoardConfig
from shared.clock import as_utc
from shared.events import CloudEvent
from shared.http import Problem, authorize
from shared.messaging.consumer import IDEMPOTENT, Handler
from shared.store import Document

log = logging.getLogger(__name__)

CALL_MONTHS = "call_months"
CALLS = "calls"  # intake's call records (services/intake/calls.py)
MENU = "menu"  # `school_from`: the caller chose the school in the phone menu
CONCERN = "concern"  # `school_from`: the concern the call is about gave it
TOTAL = "total"  # the dimension of the district's whole figure (key `all`)
DIMENSIONS = ("school", "category", "team")
FACTS = ("call", "answer", "callback")
MAX_WAIT_S = 3600  # an answer after an hour or more counts in the last bucket
MAX_MONTHS = 24
BACKFILL = "call_months_backfilled"  # the mark in intake's `migrations` once all are counted
BACKFILL_BUDGET_S = 60.0  # a start spends at most this long; the next start goes on
BATCH = 1000

# --- pure: what one record adds ---------------------------------------------------------


def month_of(at: datetime, timezone: ZoneInfo) -> str:
    """The month (YYYY-MM) of an instant in the district's time zone."""
    return as_utc(at).astimezone(timezone).strftime("%Y-%m")


def wait_bucket(seconds: float) -> int:
    """An answer's wait in whole seconds, rounded up (capped at `MAX_WAIT_S`)."""
    return min(MAX_WAIT_S, max(0, math.ceil(round(seconds, 3))))


def groups_of(record: Mapping[str, Any], concern: Mapping[str, Any] | None) -> dict[str, str]:
    """The call's school, category and team: the school the caller chose in the menu, else
    its concern's groups (`concern` as it is now), else the school stored when it was tied to
    a concern; a call about no concern has no category or team, and without a chosen school
    no school either (`unknown`)."""
    if record.get("school_from") == MENU:
        school = record.get("school_id") or UNKNOWN
    elif concern is not None:
        school = concern.get("school_id") or NO_GROUP
    elif record.get("school_from") == CONCERN:
        school = record.get("school_id") or NO_GROUP
    else:
        school = UNKNOWN
    return {
        "school": school,
        "category": (concern.get("category") or NO_GROUP) if concern else UNKNOWN,
        "team": (concern.get("team_id") or NO_GROUP) if concern else UNKNOWN,
    }


def facts_of(record: Mapping[str, Any]) -> list[str]:
    """What the record has to count: `call` once it reached an outcome (answered or
    abandoned), `answer` once the caller was served, `callback` once a voicemail promised one."""
    if not record.get("outcomes"):
        return []
    facts = ["call"]
    if record.get("answered_after_s") is not None:
        facts.append("answer")
    if record.get("callback"):
        facts.append("callback")
    return facts


def doc_id(month: str, dim: str, key: str) -> str:
    return f"{month}|{dim}|{key}"


def increments(
    record: Mapping[str, Any], fact: str, groups: Mapping[str, str], timezone: ZoneInfo
) -> list[tuple[str, dict[str, int]]]:
    """The summary documents one fact of a record moves, with the counters it adds."""
    month = month_of(record["started_at"], timezone)
    if fact == "call":
        inc = {"calls": 1}
    elif fact == "answer":
        bucket = wait_bucket(float(record["answered_after_s"]))
        inc = {"answered": 1, f"waits.{bucket}": 1}
    else:
        inc = {"callbacks": 1}
    places = [(TOTAL, "all"), *((dim, groups[dim]) for dim in DIMENSIONS)]
    return [(doc_id(month, dim, key), dict(inc)) for dim, key in places]


def recount(
    records: Iterable[Mapping[str, Any]],
    concerns: Mapping[str, Mapping[str, Any]],
    timezone: ZoneInfo,
) -> dict[str, dict[str, int]]:
    """The summaries' counters computed afresh from the records (the check of what the
    store maintains): by document id, flat counters (`waits.<s>` as in the store)."""
    out: dict[str, dict[str, int]] = {}
    for record in records:
        groups = groups_of(record, concerns.get(record.get("concern_id") or ""))
        for fact in facts_of(record):
            for key, inc in increments(record, fact, groups, timezone):
                counters = out.setdefault(key, {})
                for name, n in inc.items():
                    counters[name] = counters.get(name, 0) + n
    return out


def flat(doc: Mapping[str, Any]) -> dict[str, int]:
    """A stored summary's counters in `recount`'s flat form (zeros left out)."""
    out = {name: int(doc[name]) for name in ("calls", "answered", "callbacks") if doc.get(name)}
    out |= {f"waits.{s}": int(n) for s, n in (doc.get("waits") or {}).items() if n}
    return out


# --- pure: what the Board reads -----------------------------------------------------------


class CallFigures(BaseModel):
    """Calls of one group (or the district) over some months: aggregates only."""

    key: str = Field(
        description=f"the group's id; `{NO_GROUP}`: the concern has none (no school: "
        f"district-wide; no team: not yet routed); `{UNKNOWN}`: the call is tied to no concern "
        "and the caller chose no school; `all` for the district"
    )
    calls: int | None = Field(default=0, description="null: suppressed (see `suppressed`)")
    answered: int | None = 0
    answered_share: float | None = None
    median_answer_s: float | None = None
    p90_answer_s: float | None = Field(
        default=None, description="the time nine in ten answers took, in whole seconds"
    )
    callbacks_scheduled: int | None = 0
    suppressed: list[str] = Field(
        default_factory=list,
        description="figures not shown to a Board member: a count under the district's "
        "`board.suppress_below`, or a share or time from fewer calls",
    )


class CallMonth(CallFigures):
    month: str


class CallMonths(BaseModel):
    """Calls answered month by month, and by school, category and team over the months."""

    first: str
    last: str
    months: list[CallMonth]
    total: CallFigures
    by_school: list[CallFigures]
    by_category: list[CallFigures]
    by_team: list[CallFigures]


def _percentile(waits: Mapping[int, int], share: float) -> float | None:
    """The wait at index `int(n * share)` of the sorted waits (as the call report counts)."""
    n = sum(waits.values())
    if not n:
        return None
    index, seen = min(n - 1, int(n * share)), 0
    for seconds in sorted(waits):
        seen += waits[seconds]
        if seen > index:
            return float(seconds)
    return None  # pragma: no cover - the loop always reaches n


def _median(waits: Mapping[int, int]) -> float | None:
    n = sum(waits.values())
    if not n:
        return None
    ordered = sorted(waits)

    def at(index: int) -> int:
        seen = 0
        for seconds in ordered:
            seen += waits[seconds]
            if seen > index:
                return seconds
        return ordered[-1]  # pragma: no cover

    return (at((n - 1) // 2) + at(n // 2)) / 2


def figures(key: str, docs: Iterable[Mapping[str, Any]]) -> CallFigures:
    """One group's figures summed over its summary documents."""
    calls = answered = callbacks = 0
    waits: dict[int, int] = {}
    for doc in docs:
        calls += int(doc.get("calls") or 0)
        answered += int(doc.get("answered") or 0)
        callbacks += int(doc.get("callbacks") or 0)
        for seconds, n in (doc.get("waits") or {}).items():
            waits[int(seconds)] = waits.get(int(seconds), 0) + int(n)
    return CallFigures(
        key=key,
        calls=calls,
        answered=answered,
        answered_share=round(answered / calls, 4) if calls else None,
        median_answer_s=_median(waits),
        p90_answer_s=_percentile(waits, 0.9),
        callbacks_scheduled=callbacks,
    )


def call_months(docs: Iterable[Mapping[str, Any]], labels: list[str]) -> CallMonths:
    """The Board's figures of months `labels` from their summary documents."""
    by: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    totals: dict[str, list[Mapping[str, Any]]] = {}
    for doc in docs:
        if doc["dim"] == TOTAL:
            totals.setdefault(doc["month"], []).append(doc)
        else:
            by.setdefault((doc["dim"], doc["key"]), []).append(doc)
    months = [
        CallMonth(month=label, **figures("all", totals.get(label, [])).model_dump())
        for label in labels
    ]
    groups = {
        dim: [
            figures(key, found)
            for (d, key), found in sorted(by.items())
            if d == dim and any(doc.get("calls") for doc in found)
        ]
        for dim in DIMENSIONS
    }
    return CallMonths(
        first=labels[0],
        last=labels[-1],
        months=months,
        total=figures("all", [d for found in totals.values() for d in found]),
        by_school=groups["school"],
        by_category=groups["category"],
        by_team=groups["team"],
    )


CALL_COUNTS = ("calls", "answered", "callbacks_scheduled")
CALL_SHARES = {"answered_share": "calls", "median_answer_s": "answered", "p90_answer_s": "answered"}


def suppressed(report: CallMonths, below: int) -> CallMonths:
    """The figures with small counts suppressed (`shared.disclosure`): each month and the
    total row by row, each table of groups with the next-smallest count of a column where
    only one would be hidden."""

    def rows(items: list[Any]) -> list[dict[str, Any]]:
        return disclosure.suppress_table(
            [i.model_dump() for i in items], below, counts=CALL_COUNTS, shares=CALL_SHARES
        )

    def one(item: BaseModel) -> dict[str, Any]:
        return disclosure.suppress_row(
            item.model_dump(), below, counts=CALL_COUNTS, shares=CALL_SHARES
        )

    return CallMonths(
        first=report.first,
        last=report.last,
        months=[CallMonth.model_validate(m) for m in rows(report.months)],  # add up to total
        total=CallFigures.model_validate(one(report.total)),
        by_school=[CallFigures.model_validate(g) for g in rows(report.by_school)],
        by_category=[CallFigures.model_validate(g) for g in rows(report.by_category)],
        by_team=[CallFigures.model_validate(g) for g in rows(report.by_team)],
    )


def exact_for(who: Access) -> bool:
    """Staff read exact figures; a caller who reads reports only as a Board member does not."""
    return disclosure.sees_exact(who.principal, TABLE[Permission.REPORTS_READ])


def suppress_below(ctx: Any) -> int:
    """The district's threshold of small counts (`board.suppress_below`; 0: off)."""
    below: int = ctx.district.section("board", BoardConfig).suppress_below
    return below


def month_labels(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` (YYYY-MM), both included."""
    y, m = int(first[:4]), int(first[5:7])
    end = (int(last[:4]), int(last[5:7]))
    out = []
    while (y, m) <= end:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# --- store --------------------------------------------------------------------------------


def _identity(key: str) -> Document:
    return dict(zip(("month", "dim", "key"), key.split("|", 2), strict=True))


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """The Board reads a range of months; a concern's calls move when triage routes it."""
    await db[CALL_MONTHS].create_index("month")
    await db[CALLS].create_index("concern_id", sparse=True)


async def count(db: AsyncDatabase[Document], call_sid: str, timezone: ZoneInfo) -> int:
    """Count what the call record has and has not yet counted, each fact once; answers how
    many facts this counted."""
    record = await db[CALLS].find_one({"_id": call_sid})
    return 0 if record is None else await _count_record(db, record, timezone)


async def _count_record(db: AsyncDatabase[Document], record: Document, timezone: ZoneInfo) -> int:
    claimed = record.get("board") or {}
    todo = [fact for fact in facts_of(record) if fact not in claimed]
    if not todo:
        return 0
    groups = claimed.get("groups")
    if groups is None:
        concern = None
        if record.get("concern_id"):
            concern = await db["concerns"].find_one(
                {"_id": record["concern_id"]}, {"school_id": 1, "category": 1, "team_id": 1}
            )
        groups = groups_of(record, concern)
    done = 0
    for fact in todo:
        sets: Document = {f"board.{fact}": True}
        if fact == "call":
            sets["board.groups"] = groups
        won = await db[CALLS].update_one(
            {"_id": record["_id"], f"board.{fact}": {"$exists": False}}, {"$set": sets}
        )
        if not won.modified_count:  # another writer counted it (a retry, a replica, ...)
            if fact == "call":  # the rest count where that writer counted the call
                again = await db[CALLS].find_one({"_id": record["_id"]}, {"board": 1})
                groups = ((again or {}).get("board") or {}).get("groups") or groups
            continue
        await db[CALL_MONTHS].bulk_write(
            [
                UpdateOne(
                    {"_id": key},
                    {
                        "$inc": inc,
                        "$setOnInsert": _identity(key),
                    },
                    upsert=True,
                )
                for key, inc in increments(record, fact, groups, timezone)
            ],
            ordered=False,
        )
        done += 1
    return done


async def regroup(db: AsyncDatabase[Document], concern_id: str, timezone: ZoneInfo) -> int:
    """The concern's category or team changed (triage routed it, or re-routed it): its calls
    counted under its earlier groups move to the new ones, each once (the move is claimed by
    replacing the groups the record holds, guarded by the old ones); a call whose caller
    chose the school keeps it. Answers how many calls moved."""
    concern = await db["concerns"].find_one(
        {"_id": concern_id}, {"school_id": 1, "category": 1, "team_id": 1}
    )
    if concern is None:
        return 0
    moved = 0
    # by `concern_id` alone (its index); calls not yet counted are skipped here
    async for record in db[CALLS].find({"concern_id": concern_id}):
        if not (record.get("board") or {}).get("call"):
            continue
        old = record["board"].get("groups") or {}
        new = groups_of(record, concern)
        if old == new:
            continue
        won = await db[CALLS].update_one(
            {"_id": record["_id"], "board.groups": old}, {"$set": {"board.groups": new}}
        )
        if not won.modified_count:
            continue  # another replica moved it
        # one write per summary (each group's figures move together: a reader never sees
        # a group with the call but not yet its answer), the old groups' first
        moves: dict[str, dict[str, int]] = {}
        for sign, groups in ((-1, old), (1, new)):
            for fact in (f for f in FACTS if record["board"].get(f)):
                for key, inc in increments(record, fact, groups, timezone):
                    dim = key.split("|")[1]
                    if dim == TOTAL or old.get(dim) == new.get(dim):
                        continue  # the district's total and an unchanged group stay
                    into = moves.setdefault(key, {})
                    for name, n in inc.items():
                        into[name] = into.get(name, 0) + sign * n
        writes = [
            UpdateOne({"_id": key}, {"$inc": inc, "$setOnInsert": _identity(key)}, upsert=True)
            for key, inc in moves.items()
        ]
        if writes:
            await db[CALL_MONTHS].bulk_write(writes, ordered=True)
        moved += 1
    return moved


def regrouping(handler: Handler, db: AsyncDatabase[Document], timezone: ZoneInfo) -> Handler:
    """`handler` (of an event that may change a concern's category or team), then the move
    of the concern's counted calls to its groups now; as idempotent as `handler` is."""

    async def handle(event: CloudEvent, data: Any) -> None:
        await handler(event, data)
        await regroup(db, data.concern_id, timezone)

    if getattr(handler, IDEMPOTENT, False):
        setattr(handle, IDEMPOTENT, True)
    return handle


async def _count_batch(
    db: AsyncDatabase[Document], batch: list[Document], timezone: ZoneInfo
) -> int:
    """Count a batch of records at once: the never-counted ones are claimed together (each
    write still guarded by its record's lack of any claim, so a live count or another replica
    wins where it came first), their counters summed and written in one bulk write; a record
    partly counted (a live count interrupted) goes through the one-record path."""
    counted = 0
    fresh: dict[str, tuple[Document, dict[str, str], list[str]]] = {}
    for record in batch:
        facts = facts_of(record)
        if record.get("board"):
            if set(facts) - set(record["board"]):
                counted += await _count_record(db, record, timezone)
        elif facts:
            fresh[record["_id"]] = (record, {}, facts)
    if not fresh:
        return counted
    ids = sorted({r["concern_id"] for r, _, _ in fresh.values() if r.get("concern_id")})
    concerns = {
        c["_id"]: c
        for c in await db["concerns"]
        .find({"_id": {"$in": ids}}, {"school_id": 1, "category": 1, "team_id": 1})
        .to_list()
    }
    token = uuid.uuid4().hex
    claims = []
    for sid, (record, _, facts) in list(fresh.items()):
        groups = groups_of(record, concerns.get(record.get("concern_id") or ""))
        fresh[sid] = (record, groups, facts)
        claim = {**dict.fromkeys(facts, True), "groups": groups, "by": token}
        claims.append(
            UpdateOne({"_id": sid, "board": {"$exists": False}}, {"$set": {"board": claim}})
        )
    await db[CALLS].bulk_write(claims, ordered=False)
    ours = {"_id": {"$in": list(fresh)}, "board.by": token}
    won = await db[CALLS].find(ours, {"_id": 1}).to_list()
    sums: dict[str, dict[str, int]] = {}
    for doc in won:
        record, groups, facts = fresh[doc["_id"]]
        for fact in facts:
            for key, inc in increments(record, fact, groups, timezone):
                into = sums.setdefault(key, {})
                for name, n in inc.items():
                    into[name] = into.get(name, 0) + n
        counted += len(facts)
    if sums:
        await db[CALL_MONTHS].bulk_write(
            [
                UpdateOne({"_id": key}, {"$inc": inc, "$setOnInsert": _identity(key)}, upsert=True)
                for key, inc in sums.items()
            ],
            ordered=False,
        )
    return counted


async def backfill(
    db: AsyncDatabase[Document], timezone: ZoneInfo, *, budget_s: float | None = None
) -> bool:
    """Count the records stored before the summaries, once per store: `BATCH` at a time in
    `_id` order, within `budget_s` seconds of this start (the next start goes on where the
    claims say); answers whether every record is counted (then the mark is written)."""
    if await db["migrations"].find_one({"_id": BACKFILL}) is not None:
        return True
    budget = BACKFILL_BUDGET_S if budget_s is None else budget_s
    deadline, after, counted = time.monotonic() + budget, None, 0
    while True:
        # by `_id` alone (its index), records without an outcome skipped here: a filter on
        # another field would have the store scan every record for each batch
        query: Document = {} if after is None else {"_id": {"$gt": after}}
        batch = await db[CALLS].find(query, sort=[("_id", 1)], limit=BATCH).to_list()
        if not batch:
            break
        counted += await _count_batch(db, batch, timezone)
        after = batch[-1]["_id"]
        if time.monotonic() > deadline:
            log.warning(
                "call summaries: backfill paused at its time budget; the next start goes on",
                extra={"facts": counted},
            )
            return False
        await asyncio.sleep(0)
    await db["migrations"].update_one({"_id": BACKFILL}, {"$set": {"done": True}}, upsert=True)
    if counted:
        log.info("call summaries: older call records counted", extra={"facts": counted})
    return True


async def read(db: AsyncDatabase[Document], labels: list[str]) -> CallMonths:
    """The Board's figures of `labels` months: one query of months x groups documents."""
    docs = await db[CALL_MONTHS].find({"month": {"$in": labels}}).to_list()
    return call_months(docs, labels)


# --- API ----------------------------------------------------------------------------------

router = APIRouter(prefix="/v1/calls", tags=["calls"])
ReportReader = Annotated[Access, Depends(authorize(Permission.REPORTS_READ))]
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


@router.get("/months", response_model=CallMonths)
async def months(
    ctx: Ctx,
    who: ReportReader,
    first: Annotated[str, Query(alias="from", pattern=MONTH)],
    last: Annotated[str, Query(alias="to", pattern=MONTH)],
    public: Annotated[
        bool, Query(description="suppress small counts whoever asks (the printed packet)")
    ] = False,
) -> CallMonths:
    """Calls answered month by month, and by school, category and team over the months
    (from the maintained monthly summaries: aggregates only, never a call). A Board member
    (or `public=true`) reads small counts suppressed (`board.suppress_below`)."""
    labels = month_labels(first, last)
    if not labels or len(labels) > MAX_MONTHS:
        raise Problem(
            422,
            "Invalid months",
            f"`from` must not follow `to`, and a report covers at most {MAX_MONTHS} months",
        )
    found = await read(ctx.repo.collection.database, labels)
    if public or not exact_for(who):
        return suppressed(found, suppress_below(ctx))
    return found
