"""Call records of the phone front door: each call's path, outcome and time to answer.

The phone frontend reports what happens on a call as it happens; intake keeps the record
beside the concerns it is about, schedules the callback a voicemail promises (the concern's
own `schedule_callback` action), counts calls in metrics and answers the Board's call report.
A record holds no phone number: only the path, the outcomes, the concern it is about and its
school (the caller's choice in the phone menu, where it offers one, else the concern's).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Response
from prometheus_client import Counter, Histogram
from pymongo.asynchronous.database import AsyncDatabase

from services.intake import call_months, handlers, views
from services.intake.call_months import CALLS, CONCERN, MENU, groups_of
from services.intake.call_schemas import (
    CallEnd,
    CallGroup,
    CallOutcome,
    CallRead,
    CallReport,
    CallSid,
    CallStart,
    CallStepCreate,
    RecentConcern,
    VoicemailCallback,
)
from services.intake.lifecycle import Action, Command
from services.intake.schemas import PHONE_PATTERN
from services.intake.web import Ctx, Submitter
from shared import disclosure
from shared.authz import Access, Permission
from shared.clock import as_utc
from shared.http import Problem, authorize
from shared.metrics import LAG_BUCKETS
from shared.store import Document

CALLS_TOTAL = Counter(
    "bureau_calls_total", "Phone calls by outcome (a call may reach several)", ["outcome"]
)
CALL_ANSWER_SECONDS = Histogram(
    "bureau_call_answer_seconds",
    "Time from a call's start to the caller being served (status heard, voicemail recorded, "
    "connected to a person)",
    buckets=LAG_BUCKETS,
)
CALLBACKS_SCHEDULED = Counter(
    "bureau_callbacks_scheduled_total", "Callbacks promised to callers who left a voicemail"
)

# The district-wide counts of the report, and each time or share with the count it is from.
REPORT_COUNTS = ("calls", "answered", "callbacks_scheduled", "callbacks_due")
REPORT_SHARES = {
    "median_answer_s": "answered",
    "p90_answer_s": "answered",
    "callbacks_on_time": "callbacks_due",
}
GROUP_COUNTS = ("calls", "answered")
GROUP_SHARES = {"answered_share": "calls", "p90_answer_s": "answered"}


def suppressed_report(report: CallReport, below: int) -> CallReport:
    """The report as a Board member reads it (`shared.disclosure`): its district-wide counts
    (each outcome's too) under `below` and the times and shares from fewer cases left out, as
    the Board's other totals; each table of groups with the next-smallest count of a column
    where only one would be hidden."""
    row = disclosure.suppress_row(
        report.model_dump(),
        below,
        counts=REPORT_COUNTS,
        shares=REPORT_SHARES,
        nested=("by_outcome",),
    )
    for dim in ("by_school", "by_category", "by_team"):
        row[dim] = disclosure.suppress_table(
            row[dim], below, counts=GROUP_COUNTS, shares=GROUP_SHARES
        )
    return CallReport.model_validate(row)


def _p90(waits: list[float]) -> float | None:
    waits = sorted(waits)
    return waits[min(len(waits) - 1, int(len(waits) * 0.9))] if waits else None


def call_groups(
    records: Iterable[Mapping[str, Any]], concerns: Mapping[str, Mapping[str, Any]]
) -> dict[str, list[CallGroup]]:
    """Calls by school, category and team: a call counts in the school the caller chose in
    the menu, else in its concern's groups (as the concern is now: `concerns` by id), else in
    the school stored when it was tied to a concern; a call tied to no concern has no
    category or team, and without a chosen school no school either (`unknown`)."""
    found: dict[str, dict[str, tuple[int, list[float]]]] = {
        "school": {},
        "category": {},
        "team": {},
    }
    for record in records:
        keys = groups_of(record, concerns.get(record.get("concern_id") or ""))
        wait = record.get("answered_after_s")
        for dim, key in keys.items():
            calls, waits = found[dim].get(key, (0, []))
            if wait is not None:
                waits.append(float(wait))
            found[dim][key] = (calls + 1, waits)
    return {
        dim: [
            CallGroup(
                key=key,
                calls=calls,
                answered=len(waits),
                answered_share=round(len(waits) / calls, 4) if calls else None,
                p90_answer_s=_p90(waits),
            )
            for key, (calls, waits) in sorted(groups.items())
        ]
        for dim, groups in found.items()
    }


# --- store --------------------------------------------------------------------------------


def _calls(ctx: Any) -> Any:
    return ctx.repo.collection.database[CALLS]


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """The report reads calls by start time; the lookup reads concerns by requester phone."""
    await db[CALLS].create_index("started_at")
    await db["concerns"].create_index([("requester.phone", 1), ("submitted_at", -1)])


def _read(doc: Document) -> CallRead:
    return CallRead(
        call_sid=doc["_id"],
        started_at=as_utc(doc["started_at"]),
        ended_at=as_utc(doc["ended_at"]) if doc.get("ended_at") else None,
        language=doc.get("language"),
        path=doc.get("path", []),
        outcomes=doc.get("outcomes", []),
        answered_after_s=doc.get("answered_after_s"),
        concern_id=doc.get("concern_id"),
        school_id=doc.get("school_id"),
        duration_s=doc.get("duration_s"),
    )


async def _update_and_read(calls: Any, query: Document, update: Document) -> Document | None:
    """Apply `update` to the call `query` matches and read it back, or None if none matched.
    Two round trips, not one `find_one_and_update`: SecantusDB writes that command through a
    filter no index serves, a scan of every call stored."""
    changed = await calls.update_one(query, update)
    if not changed.matched_count:
        return None
    found: Document | None = await calls.find_one({"_id": query["_id"]})
    return found


async def _tie_school(ctx: Any, call_sid: str, concern_id: str, school_id: str | None) -> None:
    """The call is about this concern: it takes the concern's school, unless the caller chose
    one in the menu."""
    await _calls(ctx).update_one(
        {"_id": call_sid, "school_from": {"$ne": MENU}},
        {"$set": {"school_id": school_id, "school_from": CONCERN}},
    )


async def _count(ctx: Any, call_sid: str) -> None:
    """The Board's monthly summaries count what the record has not yet counted (once)."""
    timezone = ZoneInfo(ctx.district.district.timezone)
    await call_months.count(ctx.repo.collection.database, call_sid, timezone)


def _unknown_call() -> Problem:
    return Problem(404, "Call not found", "No call record has this id; start it first.")


async def _record_outcome(
    ctx: Any, call_sid: str, outcome: CallOutcome, *, served_at: datetime | None, sets: Document
) -> Document:
    """Add an outcome once (a provider's retry adds nothing) and count it."""
    calls = _calls(ctx)
    current = await calls.find_one({"_id": call_sid})
    if current is None:
        raise _unknown_call()
    served = as_utc(served_at) if served_at else ctx.clock.now()
    answered_after_s = max((served - as_utc(current["started_at"])).total_seconds(), 0.0)
    first_answer = outcome is not CallOutcome.ABANDONED and current.get("answered_after_s") is None
    if first_answer:
        sets = {**sets, "answered_after_s": round(answered_after_s or 0.0, 3)}
    update: Document = {"$push": {"outcomes": outcome.value}}
    if sets:
        update["$set"] = sets
    after = await _update_and_read(
        calls, {"_id": call_sid, "outcomes": {"$ne": outcome.value}}, update
    )
    if after is None:  # already recorded: the same answer again
        if sets:
            await calls.update_one({"_id": call_sid}, {"$set": sets})
        await _count(ctx, call_sid)  # what an interrupted first attempt left uncounted
        return await calls.find_one({"_id": call_sid}) or current
    CALLS_TOTAL.labels(outcome.value).inc()
    if first_answer:
        CALL_ANSWER_SECONDS.observe(answered_after_s or 0.0)
    await _count(ctx, call_sid)
    return after


# --- API ----------------------------------------------------------------------------------

router = APIRouter(prefix="/v1/calls", tags=["calls"])
ReportReader = Annotated[Access, Depends(authorize(Permission.REPORTS_READ))]


@router.get(
    "/recent-concern",
    response_model=RecentConcern,
    responses={404: {"description": "no open concern from this number (nor a done one)"}},
)
async def recent_concern(
    ctx: Ctx,
    who: Submitter,
    phone: Annotated[str, Query(pattern=PHONE_PATTERN)],
    done: Annotated[
        bool,
        Query(description="when none is open, the latest resolved or closed one (its survey)"),
    ] = False,
) -> RecentConcern:
    """The open concern of this phone number, one waiting on the requester first, else the
    most recent (for a frontend that knows the number is the caller's: a call or text); with
    `done`, else its latest resolved or closed one (a text answering its survey)."""
    doc = await ctx.repo.open_concern_of_phone(phone, done=done)
    if doc is None:
        raise Problem(404, "No open concern", "No open concern from this number.")
    return RecentConcern(
        language=doc["requester"].get("language") or "en",
        view=views.requester_view(doc, district=ctx.district, now=ctx.clock.now()),
    )


@router.get("/report", response_model=CallReport)
async def report(
    ctx: Ctx,
    who: ReportReader,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> CallReport:
    """Calls answered, their outcomes and time to answer, callbacks promised: aggregates. A
    Board member reads small counts suppressed (`board.suppress_below`): the district's
    totals as the groups'."""
    end = as_utc(end) if end else ctx.clock.now()
    start = as_utc(start) if start else end - timedelta(days=30)
    by_outcome: dict[str, int] = {o.value: 0 for o in CallOutcome}
    waits: list[float] = []
    calls = callbacks = 0
    records: list[Document] = []
    async for doc in _calls(ctx).find(
        {"started_at": {"$gte": start, "$lt": end}},
        {
            "outcomes": 1,
            "answered_after_s": 1,
            "callback": 1,
            "concern_id": 1,
            "school_id": 1,
            "school_from": 1,
        },
    ):
        records.append(doc)
        calls += 1
        for outcome in doc.get("outcomes", []):
            by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
        if doc.get("answered_after_s") is not None:
            waits.append(float(doc["answered_after_s"]))
        callbacks += 1 if doc.get("callback") else 0
    waits.sort()
    due, on_time = await ctx.repo.callbacks_kept(start, end, now=ctx.clock.now())
    # the groups of the concerns the period's calls are about, as they are now (one read)
    ids = sorted({r["concern_id"] for r in records if r.get("concern_id")})
    concerns: dict[str, Document] = {}
    if ids:
        async for doc in ctx.repo.collection.find(
            {"_id": {"$in": ids}}, {"school_id": 1, "category": 1, "team_id": 1}
        ):
            concerns[doc["_id"]] = doc
    groups = call_groups(records, concerns)
    found = CallReport(
        by_school=groups["school"],
        by_category=groups["category"],
        by_team=groups["team"],
        callbacks_due=due,
        callbacks_on_time=round(on_time / due, 4) if due else None,
        start=start,
        end=end,
        calls=calls,
        by_outcome={outcome: n for outcome, n in by_outcome.items()},
        answered=len(waits),
        median_answer_s=statistics.median(waits) if waits else None,
        p90_answer_s=waits[min(len(waits) - 1, int(len(waits) * 0.9))] if waits else None,
        callbacks_scheduled=callbacks,
    )
    if call_months.exact_for(who):
        return found
    return suppressed_report(found, call_months.suppress_below(ctx))


@router.post(
    "",
    response_model=CallRead,
    status_code=201,
    responses={200: {"description": "the call was already started (a retry)"}},
)
async def start_call(body: CallStart, ctx: Ctx, who: Submitter, response: Response) -> CallRead:
    """A call reached the phone front door; a retry answers the same record."""
    doc = {
        "_id": body.call_sid,
        "started_at": body.started_at or ctx.clock.now(),
        "frontend": who.actor,
        "path": [],
        "outcomes": [],
    }
    result = await _calls(ctx).update_one(
        {"_id": body.call_sid}, {"$setOnInsert": doc}, upsert=True
    )
    if result.upserted_id is None:
        response.status_code = 200
        doc = await _calls(ctx).find_one({"_id": body.call_sid}) or doc
    return _read(doc)


@router.post(
    "/{call_sid}/steps", response_model=CallRead, responses={404: {"description": "unknown call"}}
)
async def add_step(call_sid: CallSid, body: CallStepCreate, ctx: Ctx, who: Submitter) -> CallRead:
    """One step of the caller's path, with the outcome it reached, if any; the concern it is
    about (by id or by the tracking number the caller gave) and the school the caller chose
    tie the call to a school."""
    sets: Document = {}
    if body.language:
        sets["language"] = body.language
    concern_id, school_of_concern = body.concern_id, None
    if concern_id:
        case = await ctx.repo.load(concern_id)
        school_of_concern = case.school_id if case else None
    elif body.tracking_number:
        found = await ctx.repo.by_tracking_number(body.tracking_number)
        if found is not None:
            concern_id, school_of_concern = found["_id"], found.get("school_id")
    if concern_id:
        sets["concern_id"] = concern_id
    if body.school_id:
        sets |= {"school_id": body.school_id, "school_from": MENU}
    update: Document = {"$push": {"path": {"$each": [body.step], "$slice": -100}}}
    if sets:
        update["$set"] = sets
    doc = await _update_and_read(_calls(ctx), {"_id": call_sid}, update)
    if doc is None:
        raise _unknown_call()
    if concern_id and doc.get("school_from") != MENU:
        await _tie_school(ctx, call_sid, concern_id, school_of_concern)
        doc = await _calls(ctx).find_one({"_id": call_sid}) or doc
    if body.outcome is not None:
        doc = await _record_outcome(ctx, call_sid, body.outcome, served_at=body.served_at, sets={})
    return _read(doc)


@router.post(
    "/{call_sid}/end", response_model=CallRead, responses={404: {"description": "unknown call"}}
)
async def end_call(call_sid: CallSid, body: CallEnd, ctx: Ctx, who: Submitter) -> CallRead:
    """The caller hung up; a call that reached no outcome counts as abandoned."""
    sets: Document = {"ended_at": ctx.clock.now()}
    if body.duration_s is not None:
        sets["duration_s"] = body.duration_s
    doc = await _update_and_read(_calls(ctx), {"_id": call_sid, "ended_at": None}, {"$set": sets})
    if doc is None:
        doc = await _calls(ctx).find_one({"_id": call_sid})
        if doc is None:
            raise _unknown_call()
        return _read(doc)  # already ended: a retry
    if not doc.get("outcomes"):
        doc = await _record_outcome(ctx, call_sid, CallOutcome.ABANDONED, served_at=None, sets={})
    return _read(doc)


@router.post(
    "/{call_sid}/voicemail",
    response_model=CallRead,
    responses={
        404: {"description": "unknown call or concern"},
        409: {"description": "the concern takes no callback now"},
        422: {"description": "an invalid field"},
    },
)
async def voicemail(
    call_sid: CallSid, body: VoicemailCallback, ctx: Ctx, who: Submitter
) -> CallRead:
    """A voicemail became a concern: promise the caller a callback by the district's standard
    (the concern's `schedule_callback` action) and record the outcome. Idempotent per call."""
    call = await _calls(ctx).find_one({"_id": call_sid})
    if call is None:
        raise _unknown_call()
    if call.get("callback") != body.concern_id:
        note = body.note or "Voicemail left by phone: call the requester back."
        command = Command(
            Action.SCHEDULE_CALLBACK, who.actor, text=note, due_at=body.callback_due_at
        )
        # an unknown concern, a refused action or a concurrent change is answered as
        # everywhere (shared/errors.py: 404, 409)
        await handlers.act(body.concern_id, command, ctx=ctx)
        claimed = await _calls(ctx).update_one(
            {"_id": call_sid, "callback": {"$ne": body.concern_id}},
            {"$set": {"callback": body.concern_id, "concern_id": body.concern_id}},
        )
        if claimed.modified_count:
            CALLBACKS_SCHEDULED.inc()
        case = await ctx.repo.load(body.concern_id)
        await _tie_school(ctx, call_sid, body.concern_id, case.school_id if case else None)
    doc = await _record_outcome(
        ctx,
        call_sid,
        CallOutcome.VOICEMAIL_LEFT,
        served_at=None,
        sets={"concern_id": body.concern_id},
    )
    return _read(doc)
