"""The Board's figures over HTTP (JSON and CSV): aggregates only, never a case, a name or a
student. Month by month, and for the whole period by category, school and team, each with the
compliance of the standards measured on SLA clocks. Read from monthly summaries maintained
as clocks change (`board_store`), so a report over years of data reads a few documents per
month, never the clocks of its months."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Response

from services.escalation import board_store, reports
from services.escalation.context import EscalationContext
from services.escalation.standards import (
    CLOCK_MEASURES,
    Figures,
    StandardsConfig,
    clock_compliance,
    figures,
)
from shared import disclosure
from shared.authz import TABLE, Access, Permission
from shared.board import BoardConfig
from shared.http import Problem, authorize, service_context

router = APIRouter(prefix="/v1/board", tags=["board"])

Ctx = Annotated[EscalationContext, Depends(service_context)]
ReportReader = Annotated[Access, Depends(authorize(Permission.REPORTS_READ))]
MAX_MONTHS = 36
BREAKDOWNS = ("category", "school", "team")
COUNTED = (
    "Resolution times are the SLA clock's counted time: on the policy's calendar, with "
    "time paused (waiting for the requester) left out, exactly as the clock counts "
    "toward the guarantee."
)
CSV_MEDIA = "text/csv; charset=utf-8"


def standards_of(ctx: EscalationContext) -> StandardsConfig:
    return ctx.district.section("standards", StandardsConfig)


def _month(field: str, value: str) -> date:
    try:
        return date.fromisoformat(f"{value}-01")
    except ValueError:
        raise Problem(
            422,
            "Invalid request",
            f"Check these fields: {field}.",
            errors=[{"field": field, "message": "a month like 2026-03"}],
        ) from None


def _row(fig: Figures, config: StandardsConfig) -> dict[str, Any]:
    return {
        **asdict(fig),
        "standards": [
            asdict(clock_compliance(s, fig))
            for s in config.standards
            if s.measure in CLOCK_MEASURES
        ],
    }


async def board_figures(ctx: EscalationContext, first: date, last: date) -> dict[str, Any]:
    """Months `first`..`last` (district time zone): each month's figures, then the whole
    period's by category, school and team (with the backlog at its end); each with its clock
    standards' compliance. Read from the monthly summaries: months x groups small documents,
    and the open clocks for the backlog."""
    timezone = ZoneInfo(ctx.district.district.timezone)
    config = standards_of(ctx)
    months = [
        (m.strftime("%Y-%m"), *reports.month_bounds(m, timezone))
        for m in reports.months(first, last)
    ]
    since, until = months[0][1], months[-1][2]
    as_of = min(until, ctx.clock.now())
    summaries = board_store.BoardSummaries(
        ctx.repo.collection,
        timezone=timezone,
        guarantee=timedelta(hours=ctx.district.district.guarantee_hours),
    )
    monthly, groups = await summaries.tallies(
        [label for label, _, _ in months],
        as_of=as_of,
        end_label=months[-1][0] if as_of == until else None,
    )
    rows = []
    for label, _, _ in months:
        row = _row(figures(monthly[label]), config)
        row["backlog"] = {}  # counted at the end of the period only (see `total`)
        rows.append({"month": label, **row})
    breakdown = {
        group_by: [
            {"key": key, **_row(figures(groups[group_by][key]), config)}
            for key in sorted(groups[group_by])
        ]
        for group_by in BREAKDOWNS
    }
    return {
        "from": first.strftime("%Y-%m"),
        "to": last.strftime("%Y-%m"),
        "period_start": since,
        "period_end": until,
        "as_of": as_of,
        "guarantee_hours": ctx.district.district.guarantee_hours,
        "counted_time": COUNTED,
        "standards": [s.model_dump(mode="json") for s in config.standards],
        "adopted_on": config.adopted_on,
        "milestones": [m.model_dump(mode="json") for m in config.milestones],
        "months": rows,
        "total": _row(figures(board_store.total(groups[BREAKDOWNS[0]])), config),
        "breakdown": breakdown,
    }


# Counts of a group row, and each share or mean with the count it is computed from.
COUNTS = (
    "open",  # the backlog's buckets summed (added where suppressed: one cell of the tables)
    "received",
    "resolved",
    "satisfaction_responses",
    "information_requests",
    "callbacks_due",
)
NESTED = ("backlog", "breaches", "escalations", "answered_days")
SHARES = {
    "resolved_within_guarantee": "resolved",
    "resolved_within_target": "resolved",
    "first_response_within_target": "resolved",
    "median_hours_to_resolve": "resolved",
    "p90_hours_to_resolve": "resolved",
    "satisfaction_mean": "satisfaction_responses",
    "callbacks_on_time": "callbacks_due",
}
MEASURE_COUNTS = {
    "first_response_within_target": "resolved",
    "resolved_within_guarantee": "resolved",
    "resolved_within_target": "resolved",
    "satisfaction_mean": "satisfaction_responses",
    "information_answered_within_days": "information_requests",
    "callbacks_on_time": "callbacks_due",
}


def suppress_below(ctx: EscalationContext) -> int:
    """The district's threshold of small counts (`board.suppress_below`; 0: off)."""
    return ctx.district.section("board", BoardConfig).suppress_below


def _standards_suppressed(row: dict[str, Any], source: dict[str, Any], below: int) -> None:
    """A standard's value computed from fewer than `below` cases is not shown (nor met)."""
    items = []
    for item in row.get("standards", ()):
        whole = source.get(MEASURE_COUNTS.get(item["measure"], ""))
        if disclosure.hidden(whole, below):
            item = {**item, "value": None, "met": None}
            row[disclosure.SUPPRESSED] = [
                *row[disclosure.SUPPRESSED],
                f"standards.{item['standard']}",
            ]
        items.append(item)
    row["standards"] = items


def suppressed(report: dict[str, Any], below: int) -> dict[str, Any]:
    """A Board report with its small cells suppressed (`shared.disclosure`): the months and
    each breakdown's groups as tables (with the next-smallest count of a column where only one
    would be hidden: they add up to the total) and the total, exact at or above the
    threshold."""

    def opened(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "open": sum(row.get("backlog", {}).values())}

    def one(row: dict[str, Any]) -> dict[str, Any]:
        row = opened(row)
        out = disclosure.suppress_row(row, below, counts=COUNTS, shares=SHARES, nested=NESTED)
        _standards_suppressed(out, row, below)
        return out

    def table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        opened_rows = [opened(r) for r in rows]
        out = disclosure.suppress_table(
            opened_rows, below, counts=COUNTS, shares=SHARES, nested=NESTED
        )
        for done, row in zip(out, opened_rows, strict=True):
            _standards_suppressed(done, row, below)
        return out

    breakdown = {group_by: table(found) for group_by, found in report["breakdown"].items()}
    return {
        **report,
        # the months add up to the total shown: one hidden month takes the next with it
        "months": table(report["months"]),
        "total": one(report["total"]),
        "breakdown": breakdown,
        "suppression": {"below": below, "note": disclosure.note(below)},
    }


def suppressed_rows(rows: list[dict[str, Any]], below: int, *, table: bool) -> list[dict[str, Any]]:
    """Rows of the older reports (`/v1/reports/board`'s groups with `table`, its total or
    trend's months one by one) with their small cells suppressed, as `suppressed` does."""
    if table:
        return disclosure.suppress_table(rows, below, counts=COUNTS, shares=SHARES, nested=NESTED)
    return [
        disclosure.suppress_row(r, below, counts=COUNTS, shares=SHARES, nested=NESTED) for r in rows
    ]


def flat_rows(rows: list[dict[str, Any]], label: str) -> list[dict[str, object]]:
    """Rows of `suppressed_rows` as the older reports' CSV rows, with their `suppressed`."""
    return [
        {
            **reports.flat(r[label], _as_figures(r), label=label),
            disclosure.SUPPRESSED: ";".join(r.get(disclosure.SUPPRESSED, ())),
        }
        for r in rows
    ]


def exact_for(who: Access) -> bool:
    """Staff who hold `reports:read` through a staff role read exact figures; a caller who
    holds it only as a Board member reads them suppressed."""
    return disclosure.sees_exact(who.principal, TABLE[Permission.REPORTS_READ])


CSV_COLUMNS = (
    "scope",
    "key",
    *reports.CSV_COLUMNS[1:],
    "resolved_within_target",
    "information_requests",
    "callbacks_due",
    "suppressed",
)


def board_csv(report: dict[str, Any], standard_ids: list[str]) -> str:
    """The same figures as CSV: one row per month, per category, school and team, and the
    total; one column per clock standard (its value; met or not in `<id>_met`)."""
    columns = [*CSV_COLUMNS, *[c for s in standard_ids for c in (s, f"{s}_met")]]
    rows: list[dict[str, object]] = []

    def add(scope: str, key: str, row: dict[str, Any]) -> None:
        flat = reports.flat(key, _as_figures(row), label="key")
        flat.update(
            scope=scope,
            resolved_within_target=row["resolved_within_target"],
            information_requests=row.get("information_requests", 0),
            callbacks_due=row.get("callbacks_due", 0),
            suppressed=";".join(row.get(disclosure.SUPPRESSED, ())),
        )
        for item in row["standards"]:
            flat[item["standard"]] = item["value"]
            flat[f"{item['standard']}_met"] = (
                "" if item["met"] is None else ("yes" if item["met"] else "no")
            )
        rows.append(flat)

    for month in report["months"]:
        add("month", month["month"], month)
    for group_by, groups in report["breakdown"].items():
        for group in groups:
            add(group_by, group["key"], group)
    add("total", f"{report['from']}..{report['to']}", report["total"])
    return reports.to_csv(rows, columns)


def report_csv(report: dict[str, Any]) -> str:
    """A report of `board_figures` as CSV, with a column per clock standard."""
    ids = [s["id"] for s in report["standards"] if s["measure"] in CLOCK_MEASURES]
    return board_csv(report, ids)


def _as_figures(row: dict[str, Any]) -> reports.Figures:
    names = reports.Figures.__dataclass_fields__
    return reports.Figures(**{k: row[k] for k in names})


@router.get("/report", response_model=None)
async def board_report(
    ctx: Ctx,
    who: ReportReader,
    start: Annotated[str, Query(alias="from", description="first month, e.g. 2026-01")],
    end: Annotated[str, Query(alias="to", description="last month (included), e.g. 2026-06")],
    format: Literal["json", "csv"] = "json",
    public: Annotated[
        bool, Query(description="suppress small counts whoever asks (the printed packet)")
    ] = False,
) -> Any:
    """The Board's figures: month by month, and by category, school and team for the whole
    period, each with the compliance of every standard measured on SLA clocks. Aggregates
    only. Resolution times are counted time (paused time excluded), as the clock counts.
    A caller who reads as a Board member only (or `public=true`) gets small counts
    suppressed (`board.suppress_below`): null, named in each row's `suppressed`."""
    first, last = _month("from", start), _month("to", end)
    if last < first:
        raise Problem(
            422,
            "Invalid request",
            "Check these fields: to.",
            errors=[{"field": "to", "message": "must not be before `from`"}],
        )
    if len(reports.months(first, last)) > MAX_MONTHS:
        raise Problem(
            422,
            "Invalid request",
            "Check these fields: to.",
            errors=[
                {"field": "to", "message": f"a Board report covers at most {MAX_MONTHS} months"}
            ],
        )
    report = await board_figures(ctx, first, last)
    below = suppress_below(ctx)
    if public or not exact_for(who):
        report = suppressed(report, below)
    if format == "csv":
        return Response(
            report_csv(report),
            media_type=CSV_MEDIA,
            headers={"content-disposition": f'attachment; filename="board-{start}-{end}.csv"'},
        )
    return report


@router.get("/standards", response_model=StandardsConfig)
async def read_standards(ctx: Ctx, who: ReportReader) -> StandardsConfig:
    """The district's standards, pledge version, courses and implementation milestones."""
    return standards_of(ctx)
