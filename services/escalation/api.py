"""Escalation's HTTP API: clocks, SLA policies admin, the Ombudsperson view, Board reports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Response
from pydantic import ValidationError

from services.escalation import board, board_store, reports
from services.escalation.context import EscalationContext
from services.escalation.domain import (
    Entry,
    SlaClock,
    ombudsperson_reason,
)
from services.escalation.policies import Policy, PolicyFields, reference_problems
from services.escalation.reports import GroupBy
from services.escalation.repository import PolicyChangeBusy, from_document
from services.escalation.schemas import ClockRead, HistoryRead, OmbudspersonCaseRead
from shared.authz import Access, Permission
from shared.http import Problem, authorize, out_of_scope, service_context

router = APIRouter(prefix="/v1")

Ctx = Annotated[EscalationContext, Depends(service_context)]
Reader = Annotated[Access, Depends(authorize(Permission.CONCERN_READ))]
ConfigReader = Annotated[Access, Depends(authorize(Permission.CONFIG_READ))]
ConfigWriter = Annotated[Access, Depends(authorize(Permission.CONFIG_WRITE))]
Oversight = Annotated[Access, Depends(authorize(Permission.OVERSIGHT_READ))]
ReportReader = Annotated[Access, Depends(authorize(Permission.REPORTS_READ))]
Format = Literal["json", "csv"]
CSV_MEDIA = "text/csv; charset=utf-8"
MAX_TREND_MONTHS = 120


def _history(entries: tuple[Entry, ...]) -> list[HistoryRead]:
    return [
        HistoryRead(
            at=e.at,
            kind=e.kind,
            cycle=e.cycle,
            target=str(e.target) if e.target else None,
            level=e.level,
            reminder=e.reminder,
            percent=e.percent,
            detail=e.detail,
        )
        for e in entries
    ]


def _clock_read(clock: SlaClock) -> ClockRead:
    return ClockRead(
        concern_id=clock.concern_id,
        policy=clock.policy.id,
        calendar=clock.policy.calendar,
        status=clock.status,
        priority=clock.priority,
        cycle=clock.cycle,
        started_at=clock.started_at,
        first_response_at=clock.first_response_at,
        first_response_due_at=clock.first_response_due_at,
        resolution_due_at=clock.resolution_due_at,
        elapsed_s=clock.elapsed.total_seconds(),
        level=clock.level,
        reminders=clock.reminders,
        next_due_at=clock.next_due_at,
        breached_at=clock.breached_at,
        stopped_at=clock.stopped_at,
        history=_history(clock.history),
    )


# --- clocks ----------------------------------------------------------------------------------


@router.get("/clocks/{concern_id}", response_model=ClockRead, tags=["clocks"])
async def read_clock(concern_id: str, ctx: Ctx, who: Reader) -> ClockRead:
    """The SLA clock of a concern: policy, due times, pauses, breach, level, history. Staff of
    its school or team read it, and its assignee (a backup from another team)."""
    doc = await ctx.repo.get_document(concern_id)
    if doc is None:
        raise Problem(404, "Clock not found", f"No SLA clock for concern {concern_id!r}.")
    covered = who.covers(school_id=doc.get("school_id"), team_id=doc.get("team_id"))
    if not covered and await ctx.repo.assignee(concern_id) != who.actor:  # a backup's
        raise out_of_scope()
    try:
        clock = from_document(doc)
    except (KeyError, TypeError, ValueError):
        raise Problem(
            409,
            "Clock in an older format",
            "This clock was stored by an earlier version and cannot be shown.",
        ) from None
    return _clock_read(clock)


# --- policies admin --------------------------------------------------------------------------


async def _checked(
    policy: Policy,
    ctx: EscalationContext,
    *,
    replacing: str | None,
    stored: list[Policy] | None = None,
) -> None:
    """Refuse a policy naming unknown things, or a change that leaves no catch-all policy
    (among `stored`, the policies read under the change lock, when given)."""
    problems = reference_problems(policy, district=ctx.district, calendars=ctx.calendars)
    if problems:
        fields = ", ".join(p["field"] for p in problems)
        raise Problem(422, "Invalid request", f"Check these fields: {fields}.", errors=problems)
    current = stored if stored is not None else await ctx.policies.all()
    others = [p for p in current if p.id != replacing]
    if not any(p.catch_all for p in [*others, policy]):
        raise Problem(
            409,
            "Catch-all policy required",
            "At least one policy without category and priority must remain, so "
            "that every concern has a clock.",
        )


@router.get("/policies", response_model=list[Policy], tags=["policies"])
async def list_policies(ctx: Ctx, who: ConfigReader) -> list[Policy]:
    """Every SLA policy, in the order they are tried."""
    return await ctx.policies.all()


@router.get("/policies/{policy_id}", response_model=Policy, tags=["policies"])
async def read_policy(policy_id: str, ctx: Ctx, who: ConfigReader) -> Policy:
    """One SLA policy."""
    policy = await ctx.policies.get(policy_id)
    if policy is None:
        raise Problem(404, "Policy not found", f"No SLA policy {policy_id!r}.")
    return policy


@router.post("/policies", response_model=Policy, status_code=201, tags=["policies"])
async def create_policy(body: Policy, ctx: Ctx, who: ConfigWriter) -> Policy:
    """Add an SLA policy; new concerns (and re-triaged ones) may select it at once."""
    await _checked(body, ctx, replacing=None)
    if not await ctx.policies.create(body):
        raise Problem(409, "Policy exists", f"An SLA policy {body.id!r} exists; PUT replaces it.")
    return body


@router.put("/policies/{policy_id}", response_model=Policy, tags=["policies"])
async def replace_policy(policy_id: str, body: PolicyFields, ctx: Ctx, who: ConfigWriter) -> Policy:
    """Replace an SLA policy. Running clocks keep the policy they started with until their
    concern is re-triaged or reopened."""
    try:
        policy = Policy.model_validate({**body.model_dump(), "id": policy_id})
    except ValidationError:
        raise Problem(
            422,
            "Invalid request",
            "Check these fields: id.",
            errors=[
                {"field": "id", "message": "a policy id is lower-case letters, digits, - and _"}
            ],
        ) from None
    async with _change_lock(ctx) as stored:
        if not any(p.id == policy_id for p in stored):
            raise Problem(404, "Policy not found", f"No SLA policy {policy_id!r}.")
        await _checked(policy, ctx, replacing=policy_id, stored=stored)
        if not await ctx.policies.replace(policy):
            raise Problem(404, "Policy not found", f"No SLA policy {policy_id!r}.")
    return policy


@router.delete("/policies/{policy_id}", status_code=204, tags=["policies"])
async def delete_policy(policy_id: str, ctx: Ctx, who: ConfigWriter) -> Response:
    """Remove an SLA policy (not the last catch-all one)."""
    async with _change_lock(ctx) as policies:
        if not any(p.id == policy_id for p in policies):
            raise Problem(404, "Policy not found", f"No SLA policy {policy_id!r}.")
        if not any(p.catch_all for p in policies if p.id != policy_id):
            raise Problem(
                409,
                "Catch-all policy required",
                "This is the last policy without category and priority; every "
                "concern needs one to fall back on.",
            )
        await ctx.policies.delete(policy_id)
    return Response(status_code=204)


@asynccontextmanager
async def _change_lock(ctx: EscalationContext) -> AsyncIterator[list[Policy]]:
    """The policies as stored, under the lock of policy changes (503 if it stays busy)."""
    try:
        async with ctx.policies.changing() as policies:
            yield policies
    except PolicyChangeBusy:
        raise Problem(
            503,
            "Policies busy",
            "Another change of the SLA policies is under way; try again shortly.",
            headers={"Retry-After": "2"},
        ) from None


# --- the Ombudsperson ------------------------------------------------------------------------

MERGES_SHOWN = timedelta(days=30)


@router.get(
    "/ombudsperson/concerns", response_model=list[OmbudspersonCaseRead], tags=["ombudsperson"]
)
async def ombudsperson_concerns(
    ctx: Ctx,
    who: Oversight,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[OmbudspersonCaseRead]:
    """Open concerns at level 3 or long past their resolution target, and concerns merged
    into another in the last 30 days (a merge closes a concern unresolved:
    oversight sees each one), oldest first."""
    now = ctx.clock.now()
    long_overdue = timedelta(seconds=ctx.config.long_overdue_s)
    overdue_before, merged_since = now - long_overdue, now - MERGES_SHOWN
    clocks = await ctx.repo.for_ombudsperson(
        overdue_before=overdue_before, limit=limit, merged_since=merged_since
    )
    cases = []
    for clock in clocks:
        due = clock.resolution_due_at
        reason = ombudsperson_reason(
            clock, overdue_before=overdue_before, merged_since=merged_since
        )
        if reason is None:  # the store lists only what the rule lists
            continue
        cases.append(
            OmbudspersonCaseRead(
                concern_id=clock.concern_id,
                reason=reason,
                category=clock.category,
                school_id=clock.school_id,
                team_id=clock.team_id,
                priority=clock.priority,
                submitted_at=clock.submitted_at,
                status=clock.status,
                cycle=clock.cycle,
                level=clock.level,
                resolution_due_at=due,
                breached_at=clock.breached_at,
                overdue_hours=round((now - due).total_seconds() / 3600, 2) if due else None,
                history=_history(clock.history),
            )
        )
    return cases


# --- Board reports ---------------------------------------------------------------------------


def _instant(field: str, value: str, timezone: ZoneInfo) -> datetime:
    """A date (midnight in the district's time zone) or a date-time (local when naive)."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=timezone)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(field, "a date (2026-03-01) or a date-time (2026-03-01T08:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone)


def _month(field: str, value: str) -> date:
    try:
        return date.fromisoformat(f"{value}-01")
    except ValueError:
        raise _invalid(field, "a month like 2026-03") from None


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        422,
        "Invalid request",
        f"Check these fields: {field}.",
        errors=[{"field": field, "message": message}],
    )


def _timezone(ctx: EscalationContext) -> ZoneInfo:
    return ZoneInfo(ctx.district.district.timezone)


def _figures_json(fig: reports.Figures) -> dict[str, Any]:
    return dict(fig.__dict__)


@router.get("/reports/board", tags=["reports"], response_model=None)
async def board_report(
    ctx: Ctx,
    who: ReportReader,
    start: Annotated[str, Query(alias="from", description="first day or instant (included)")],
    end: Annotated[
        str, Query(alias="to", description="last instant (excluded); a date means its midnight")
    ],
    group_by: GroupBy = GroupBy.CATEGORY,
    format: Format = "json",
) -> Any:
    """SLA figures for a period, grouped by category, school, team, channel or priority."""
    timezone = _timezone(ctx)
    since, until = _instant("from", start, timezone), _instant("to", end, timezone)
    if until <= since:
        raise _invalid("to", "must be after `from`")
    now = ctx.clock.now()
    clocks = await board_store.clocks_of_period(
        ctx.repo.collection, since=since, until=until, as_of=min(until, now)
    )
    facts = [reports.facts_of(c) for c in clocks]
    guarantee = timedelta(hours=ctx.district.district.guarantee_hours)
    groups, total = reports.board_report(
        facts, start=since, end=until, as_of=min(until, now), guarantee=guarantee, group_by=group_by
    )
    # a Board member reads no count under the district's threshold (board.suppressed)
    below = 0 if board.exact_for(who) else board.suppress_below(ctx)
    if below and format == "csv":
        table = board.suppressed_rows(
            [{"group": g.key, **_figures_json(g.figures)} for g in groups], below, table=True
        )
        totals = board.suppressed_rows(
            [{"group": "total", **_figures_json(total)}], below, table=False
        )
        return Response(
            reports.to_csv(
                board.flat_rows(table + totals, "group"),
                (*reports.CSV_COLUMNS, "suppressed"),
            ),
            media_type=CSV_MEDIA,
            headers={"content-disposition": f'attachment; filename="board-{group_by}.csv"'},
        )
    if below:
        return {
            "from": since,
            "to": until,
            "as_of": min(until, now),
            "group_by": group_by,
            "guarantee_hours": ctx.district.district.guarantee_hours,
            "groups": board.suppressed_rows(
                [{"key": g.key, **_figures_json(g.figures)} for g in groups], below, table=True
            ),
            "total": board.suppressed_rows([_figures_json(total)], below, table=False)[0],
        }
    if format == "csv":
        rows = [reports.flat(g.key, g.figures) for g in groups]
        rows.append(reports.flat("total", total))
        return Response(
            reports.to_csv(rows),
            media_type=CSV_MEDIA,
            headers={"content-disposition": f'attachment; filename="board-{group_by}.csv"'},
        )
    return {
        "from": since,
        "to": until,
        "as_of": min(until, now),
        "group_by": group_by,
        "guarantee_hours": ctx.district.district.guarantee_hours,
        "groups": [{"key": g.key, **_figures_json(g.figures)} for g in groups],
        "total": _figures_json(total),
    }


@router.get("/reports/board/trend", tags=["reports"], response_model=None)
async def board_trend(
    ctx: Ctx,
    who: ReportReader,
    start: Annotated[str, Query(alias="from", description="first month, e.g. 2026-01")],
    end: Annotated[str, Query(alias="to", description="last month (included), e.g. 2026-06")],
    format: Format = "json",
) -> Any:
    """The district-wide figures month by month (months in the district's time zone)."""
    timezone = _timezone(ctx)
    first, last = _month("from", start), _month("to", end)
    if last < first:
        raise _invalid("to", "must not be before `from`")
    months = reports.months(first, last)
    if len(months) > MAX_TREND_MONTHS:
        raise _invalid("to", f"a trend covers at most {MAX_TREND_MONTHS} months")
    now = ctx.clock.now()
    since, _ = reports.month_bounds(months[0], timezone)
    _, until = reports.month_bounds(months[-1], timezone)
    # each month's backlog is as of its end: the cycles open across it ended after `since`
    clocks = await board_store.clocks_of_period(
        ctx.repo.collection, since=since, until=until, as_of=min(since, now)
    )
    facts = [reports.facts_of(c) for c in clocks]
    guarantee = timedelta(hours=ctx.district.district.guarantee_hours)
    rows = []
    for month in months:
        since, month_end = reports.month_bounds(month, timezone)
        fig = reports.figures(
            facts, start=since, end=month_end, as_of=min(month_end, now), guarantee=guarantee
        )
        rows.append((month.strftime("%Y-%m"), fig))
    below = 0 if board.exact_for(who) else board.suppress_below(ctx)
    if below:  # a Board member: each month's small counts suppressed (board.suppressed)
        hidden = board.suppressed_rows(
            [{"month": m, **_figures_json(f)} for m, f in rows], below, table=False
        )
        if format == "csv":
            return Response(
                reports.to_csv(
                    board.flat_rows(hidden, "month"),
                    ("month", *reports.CSV_COLUMNS[1:], "suppressed"),
                ),
                media_type=CSV_MEDIA,
                headers={"content-disposition": 'attachment; filename="board-trend.csv"'},
            )
        return {"from": start, "to": end, "months": hidden}
    if format == "csv":
        return Response(
            reports.to_csv(
                [reports.flat(m, f, label="month") for m, f in rows],
                ("month", *reports.CSV_COLUMNS[1:]),
            ),
            media_type=CSV_MEDIA,
            headers={"content-disposition": 'attachment; filename="board-trend.csv"'},
        )
    return {"from": start, "to": end, "months": [{"month": m, **_figures_json(f)} for m, f in rows]}
