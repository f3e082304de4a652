"""What the Board pages show, built from the services' aggregates. Pure: no I/O.

Every chart is a list of bars (drawn as server-side SVG) with a text alternative that says what
the chart shows and a data table with the same numbers, for screen readers and for print.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.disclosure import SUPPRESSED, fewer_than
from shared.standards import (
    CLOCK_MEASURES,
    Compliance,
    Measure,
    Milestone,
    MilestoneState,
    Standard,
    compliance,
    milestone_state,
)

NO_DATA = "no data"
NOT_SHOWN = "not shown: fewer than {below} cases"
CALL_COUNTS = ("calls", "answered", "callbacks_scheduled")
SHARE_MEASURES = frozenset(
    m for m in Measure if m not in (Measure.SATISFACTION_MEAN, Measure.CALL_ANSWER_P90_S)
)
LEVELS = {
    "1": "Level 1: principal or team lead",
    "2": "Level 2: assistant superintendent",
    "3": "Level 3: Ombudsperson",
}
BACKLOG = {
    "under_24h": "Under 24 hours",
    "24h_to_72h": "24 to 72 hours",
    "72h_to_7d": "72 hours to 7 days",
    "over_7d": "Over 7 days",
}


@dataclass(frozen=True)
class Bar:
    label: str
    display: str  # the value as read aloud / printed
    width: float  # 0..100, the bar's length
    met: bool | None = None


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    summary: str  # the text alternative: what a glance at the chart tells
    bars: Sequence[Bar]
    target: float | None = None  # 0..100, where the target line is drawn
    target_label: str = ""
    columns: Sequence[str] = ("", "Value")
    rows: Sequence[Sequence[str]] = field(default_factory=tuple)


def hidden(row: Mapping[str, Any], name: str) -> bool:
    """Whether a figure of a row was suppressed (a small count, or a share from one)."""
    return name in (row.get(SUPPRESSED) or ())


def count(row: Mapping[str, Any], name: str, below: int) -> str:
    """A count as people read it: "fewer than 5" where it was suppressed."""
    if hidden(row, name) or row.get(name) is None:
        return fewer_than(below) if hidden(row, name) else "0"
    return str(row[name])


def figure(row: Mapping[str, Any], name: str, measure: str, below: int) -> str:
    """A share or mean of a row as people read it, or why it is not shown."""
    if hidden(row, name):
        return NOT_SHOWN.format(below=below)
    return shown(row.get(name), measure)


def open_count(row: Mapping[str, Any], below: int) -> str:
    """A group's open concerns: exact, or "fewer than 5" where suppressed."""
    if "open" in row:
        return count(row, "open", below)
    return str(sum(v or 0 for v in row["backlog"].values()))


def _hidden_note(names: Sequence[str], below: int) -> str:
    if not names:
        return ""
    return f" Not shown for {', '.join(names)}: fewer than {below} cases."


def shown(value: float | None, measure: str) -> str:
    """A measure's value as people read it."""
    if value is None:
        return NO_DATA
    if measure == Measure.SATISFACTION_MEAN.value:
        return f"{value:.1f} of 5"
    if measure == Measure.CALL_ANSWER_P90_S.value:
        return f"{value:.0f} seconds"
    return f"{value * 100:.0f}%"


def scale(value: float | None, measure: str) -> float:
    """A value as a bar's length (0..100)."""
    if value is None:
        return 0.0
    if measure == Measure.SATISFACTION_MEAN.value:
        return max(0.0, min(100.0, value / 5 * 100))
    if measure == Measure.CALL_ANSWER_P90_S.value:
        return max(0.0, min(100.0, value / 120 * 100))  # two minutes fill the bar
    return max(0.0, min(100.0, value * 100))


def met_word(met: bool | None) -> str:
    return "no data" if met is None else ("met" if met else "not met")


def other_values(
    calls: Mapping[str, Any] | None, coverage: Mapping[str, Any] | None
) -> dict[str, float | None]:
    """The measures intake's call report and triage's training coverage give."""
    values: dict[str, float | None] = {}
    if calls:
        total = calls.get("calls") or 0
        values[Measure.CALLS_ANSWERED.value] = (
            round(calls["answered"] / total, 4)
            if total and calls.get("answered") is not None
            else None
        )
        values[Measure.CALL_ANSWER_P90_S.value] = calls.get("p90_answer_s")
        values[Measure.CALLBACKS_ON_TIME.value] = calls.get("callbacks_on_time")
    if coverage:
        values[Measure.STAFF_TRAINED.value] = coverage["total"].get("trained_share")
        values[Measure.PLEDGE_SIGNED.value] = coverage["total"].get("pledged_share")
    return values


def all_compliance(
    standards: Sequence[Standard],
    clock_rows: Sequence[Mapping[str, Any]],
    others: Mapping[str, float | None],
) -> list[Compliance]:
    """Every standard's compliance: the clock ones as escalation computed them, the others
    from the call report and training coverage."""
    by_id = {row["standard"]: row for row in clock_rows}
    out = []
    for standard in standards:
        row = by_id.get(standard.id)
        if standard.measure in CLOCK_MEASURES and row is not None:
            out.append(Compliance(**row))
        else:
            out.append(compliance(standard, others))
    return out


def compliance_chart(
    items: Sequence[Compliance], period: str, hidden_ids: Sequence[str] = (), below: int = 0
) -> Chart:
    """Each standard against its target; one computed from fewer than `below` cases
    (`hidden_ids`) is not shown, and its text says why."""
    kept = sum(1 for c in items if c.met)
    measured = sum(1 for c in items if c.met is not None)

    def value(c: Compliance) -> str:
        if c.standard in hidden_ids:
            return NOT_SHOWN.format(below=below)
        return shown(c.value, c.measure)

    return Chart(
        id="standards",
        title=f"Standards kept in {period}",
        summary=f"{kept} of {measured} measured standards were kept in {period}."
        + "".join(
            f" {c.name}: {value(c)} against a target of "
            f"{shown(c.target, c.measure)}, {met_word(c.met)}."
            for c in items
        ),
        bars=[Bar(c.name, value(c), scale(c.value, c.measure), c.met) for c in items],
        columns=("Standard", "Result", "Target", "Kept"),
        rows=[(c.name, value(c), shown(c.target, c.measure), met_word(c.met)) for c in items],
    )


# Standards measured month by month: those of SLA clocks (escalation's months) and of calls
# (intake's monthly summaries: the share answered, and its time to answer).
CALL_MEASURE_FIELDS = {
    Measure.CALLS_ANSWERED: "answered_share",
    Measure.CALL_ANSWER_P90_S: "p90_answer_s",
}


def standards_by_month(
    standards: Sequence[Standard],
    months: Sequence[Mapping[str, Any]],
    call_months: Sequence[Mapping[str, Any]] = (),
    below: int = 0,
) -> Chart:
    """Each standard measured month by month (a table: a row per month, a cell per standard
    with its value and whether it was kept); one from fewer than `below` cases is not shown.
    Training and the pledge are counted as they are today, not by month: not a column."""
    monthly = [
        s for s in standards if s.measure in CLOCK_MEASURES or s.measure in CALL_MEASURE_FIELDS
    ]
    calls = {m["month"]: m for m in call_months}

    def result(standard: Standard, month: Mapping[str, Any]) -> Compliance:
        field_ = CALL_MEASURE_FIELDS.get(standard.measure)
        if field_ is None:
            found = next(
                (c for c in month.get("standards", ()) if c["standard"] == standard.id), None
            )
            return Compliance(**found) if found else compliance(standard, {})
        call = calls.get(month["month"], {})
        return compliance(standard, {standard.measure.value: call.get(field_)})

    def not_shown(standard: Standard, month: Mapping[str, Any]) -> bool:
        field_ = CALL_MEASURE_FIELDS.get(standard.measure)
        if field_ is None:
            return hidden(month, f"standards.{standard.id}")
        return hidden(calls.get(month["month"], {}), field_)

    def cell(standard: Standard, month: Mapping[str, Any]) -> str:
        if not_shown(standard, month):
            return NOT_SHOWN.format(below=below)
        found = result(standard, month)
        if found.value is None:
            return NO_DATA
        return f"{shown(found.value, found.measure)}, {met_word(found.met)}"

    tallies = []
    for standard in monthly:
        results = [result(standard, m) for m in months if not not_shown(standard, m)]
        kept = sum(1 for r in results if r.met)
        measured = sum(1 for r in results if r.met is not None)
        tallies.append(f"{standard.name}: kept in {kept} of {measured} months measured")
    title = "Each standard, month by month"
    return Chart(
        id="standards-by-month",
        title=title,
        summary=f"{title}. " + "; ".join(tallies) + ".",
        bars=(),
        columns=("Month", *(s.name for s in monthly)),
        rows=[(month_label(m["month"]), *(cell(s, m) for s in monthly)) for m in months],
    )


def month_label(month: str) -> str:
    return date.fromisoformat(f"{month}-01").strftime("%B %Y")


def _month_bars(
    months: Sequence[Mapping[str, Any]], field: str, target: float | None, below: int
) -> list[Bar]:
    """One bar per month of its share `field`, marked met or not against `target`."""
    return [
        Bar(
            month_label(m["month"]),
            figure(m, field, "share", below),
            scale(m[field], "share"),
            None if m[field] is None or target is None else m[field] >= target,
        )
        for m in months
    ]


def _trend_summary(
    name: str,
    months: Sequence[Mapping[str, Any]],
    field: str,
    empty: str,
    target: float | None,
    below: int,
) -> str:
    """A month-by-month chart's text alternative: its lowest, highest and latest share, the
    months not shown (too few cases) and the target."""
    known = [(m["month"], m[field]) for m in months if m[field] is not None]
    if known:
        best = max(known, key=lambda k: k[1])
        worst = min(known, key=lambda k: k[1])
        summary = (
            f"{name}, by month: from {shown(worst[1], 'share')} in "
            f"{month_label(worst[0])} to {shown(best[1], 'share')} in "
            f"{month_label(best[0])}; latest {shown(known[-1][1], 'share')}."
        )
    else:
        summary = f"{name}, by month: {empty}."
    late = [month_label(m["month"]) for m in months if hidden(m, field)]
    if not known and late:
        summary = f"{name}, by month: no share is shown."
    summary += _hidden_note(late, below)
    if target is not None:
        summary += f" The target is {shown(target, 'share')}."
    return summary


def trend_chart(
    months: Sequence[Mapping[str, Any]],
    guarantee_hours: int,
    target: float | None,
    below: int = 0,
) -> Chart:
    """The share resolved within the guarantee, month by month (a month with fewer than
    `below` resolved shows no share, and the text says so)."""
    name = f"Resolved within {guarantee_hours} hours"
    field_ = "resolved_within_guarantee"
    return Chart(
        id="trend",
        title=f"{name}, by month",
        summary=_trend_summary(
            name, months, field_, "no concern was resolved in these months", target, below
        ),
        bars=_month_bars(months, field_, target, below),
        target=None if target is None else target * 100,
        target_label=f"target {shown(target, 'share')}" if target is not None else "",
        columns=("Month", name, "Resolved", "Received"),
        rows=[
            (
                month_label(m["month"]),
                figure(m, field_, "share", below),
                count(m, "resolved", below),
                count(m, "received", below),
            )
            for m in months
        ],
    )


def span_label(first: str, last: str) -> str:
    """Months `first`..`last` (YYYY-MM) as people read them."""
    if first == last:
        return month_label(last)
    return f"{month_label(first)} to {month_label(last)}"


def calls_trend_chart(
    months: Sequence[Mapping[str, Any]], target: float | None, below: int = 0
) -> Chart:
    """The share of calls answered, month by month (intake's monthly call summaries)."""
    name = "Calls answered"
    return Chart(
        id="calls-trend",
        title=f"{name}, by month",
        summary=_trend_summary(
            name, months, "answered_share", "no calls in these months", target, below
        ),
        bars=_month_bars(months, "answered_share", target, below),
        target=None if target is None else target * 100,
        target_label=f"target {shown(target, 'share')}" if target is not None else "",
        columns=("Month", name, "Calls", "Answered", "90% answered within"),
        rows=[
            (
                month_label(m["month"]),
                figure(m, "answered_share", "share", below),
                count(m, "calls", below),
                count(m, "answered", below),
                figure(m, "p90_answer_s", Measure.CALL_ANSWER_P90_S.value, below),
            )
            for m in months
        ],
    )


def _has_figures(group: Mapping[str, Any]) -> bool:
    return bool(
        group.get(SUPPRESSED)
        or group["received"]
        or group["resolved"]
        or group.get("information_requests")
        or group.get("callbacks_due")
        or sum(v or 0 for v in group["backlog"].values())
        or any(
            group[name] is not None
            for name in (
                "resolved_within_guarantee",
                "first_response_within_target",
                "satisfaction_mean",
            )
        )
    )


def _below(
    ordered: Sequence[Mapping[str, Any]], field: str, names: Mapping[str, str], target: float | None
) -> list[str]:
    """The names of the groups whose share `field` is under `target`."""
    return [
        names.get(g["key"], g["key"])
        for g in ordered
        if target is not None and g.get(field) is not None and g[field] < target
    ]


def _share_bars(
    ordered: Sequence[Mapping[str, Any]],
    field: str,
    names: Mapping[str, str],
    target: float | None,
    below: int = 0,
) -> dict[str, Any]:
    """One bar per group of its share `field`, marked met or not against `target` (a share
    suppressed shows no value: the bar is empty and reads why)."""
    return {
        "bars": [
            Bar(
                names.get(g["key"], g["key"]),
                figure(g, field, "share", below),
                scale(g[field], "share"),
                None if g[field] is None or target is None else g[field] >= target,
            )
            for g in ordered
        ],
        "target": None if target is None else target * 100,
        "target_label": f"target {shown(target, 'share')}" if target is not None else "",
    }


def group_chart(
    kind: str,
    groups: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
    guarantee_hours: int,
    target: float | None,
    information: Standard | None = None,
    callbacks: Standard | None = None,
    below: int = 0,
) -> Chart:
    """Where the guarantee is kept and where not: one bar per school, team or category that
    has a figure in the period (a group whose only concern moved to another, such as "Not yet
    routed" once triage routed it, keeps a summary of zeros: no row of zeros is shown). With
    the district's standard of information requests answered, a column of its share; with
    that of callbacks on time, a column of the share of callbacks made by their due time (and
    the groups below its target named in the summary)."""
    label = {"category": "category", "school": "school", "team": "team"}[kind]
    ordered = sorted(
        (g for g in groups if _has_figures(g)),
        key=lambda g: (g["resolved_within_guarantee"] is None, g["resolved_within_guarantee"] or 0),
    )
    shortfalls = _below(ordered, "resolved_within_guarantee", names, target)
    summary = f"Resolved within {guarantee_hours} hours by {label}. " + (
        f"Below target: {', '.join(shortfalls)}." if shortfalls else "No group is below target."
    )
    if callbacks is not None:
        late = _below(ordered, "callbacks_on_time", names, callbacks.target)
        summary += f" {callbacks.name}: " + (
            f"below target in {', '.join(late)}." if late else "no group is below target."
        )
    summary += _hidden_note(
        [names.get(g["key"], g["key"]) for g in ordered if hidden(g, "resolved_within_guarantee")],
        below,
    )
    return Chart(
        id=f"by-{kind}",
        title=f"By {label}",
        summary=summary,
        **_share_bars(ordered, "resolved_within_guarantee", names, target, below),
        columns=(
            label.capitalize(),
            f"Within {guarantee_hours} h",
            "First response in time",
            *(
                [f"Information answered within {information.within_days} days"]
                if information
                else []
            ),
            *(["Callbacks on time", "Callbacks due"] if callbacks else []),
            "Satisfaction",
            "Received",
            "Resolved",
            "Open",
        ),
        rows=[
            (
                names.get(g["key"], g["key"]),
                figure(g, "resolved_within_guarantee", "share", below),
                figure(g, "first_response_within_target", "share", below),
                *(
                    [
                        NOT_SHOWN.format(below=below)
                        if hidden(g, f"standards.{information.id}")
                        else shown(_value_of(g, information.id), "share")
                    ]
                    if information
                    else []
                ),
                *(
                    [
                        figure(g, "callbacks_on_time", "share", below),
                        count(g, "callbacks_due", below),
                    ]
                    if callbacks
                    else []
                ),
                figure(g, "satisfaction_mean", Measure.SATISFACTION_MEAN.value, below),
                count(g, "received", below),
                count(g, "resolved", below),
                open_count(g, below),
            )
            for g in ordered
        ],
    )


def call_chart(
    kind: str,
    groups: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
    period: str,
    target: float | None,
    below: int = 0,
) -> Chart:
    """Calls answered by school, team or category over `period` (the months of the other
    group tables, from intake's monthly call summaries): one bar per group with a call. A
    call tied to no concern has no category or team, and no school unless the caller chose
    one: it is counted as unknown, never dropped."""
    label = {"category": "category", "school": "school", "team": "team"}[kind]
    ordered = sorted(groups, key=lambda g: (g["answered_share"] is None, g["answered_share"] or 0))
    short = _below(ordered, "answered_share", names, target)
    title = f"Calls answered by {label}, {period}"
    summary = f"{title}. " + (
        f"Below target: {', '.join(short)}."
        if short
        else ("No group is below target." if target is not None else "")
    )
    summary += _hidden_note(
        [names.get(g["key"], g["key"]) for g in ordered if hidden(g, "answered_share")], below
    )
    if not ordered:
        summary = f"{title}: no calls."
    return Chart(
        id=f"calls-by-{kind}",
        title=title,
        summary=summary.strip(),
        **_share_bars(ordered, "answered_share", names, target, below),
        columns=(label.capitalize(), "Calls answered", "Calls", "Answered", "90% answered within"),
        rows=[
            (
                names.get(g["key"], g["key"]),
                figure(g, "answered_share", "share", below),
                count(g, "calls", below),
                count(g, "answered", below),
                figure(g, "p90_answer_s", Measure.CALL_ANSWER_P90_S.value, below),
            )
            for g in ordered
        ],
    )


def _value_of(group: Mapping[str, Any], standard_id: str) -> float | None:
    """A clock standard's value in a group's figures (None when the report lacks it)."""
    return next(
        (s["value"] for s in group.get("standards", ()) if s["standard"] == standard_id), None
    )


def count_chart(
    chart_id: str,
    title: str,
    counts: Mapping[str, int | None],
    labels: Mapping[str, str],
    below: int = 0,
) -> Chart:
    """Counts as bars; a suppressed count (None) has no bar and reads "fewer than 5"."""
    top = max((n for n in counts.values() if n is not None), default=0) or 1

    def text(n: int | None) -> str:
        return fewer_than(below) if n is None else str(n)

    parts = [f"{labels.get(k, k)}: {text(n)}" for k, n in counts.items()]
    return Chart(
        id=chart_id,
        title=title,
        summary=f"{title}. " + "; ".join(parts) + ".",
        bars=[
            Bar(labels.get(k, k), text(n), 0.0 if n is None else n / top * 100)
            for k, n in counts.items()
        ],
        columns=("", "Number"),
        rows=[(labels.get(k, k), text(n)) for k, n in counts.items()],
    )


def coverage_chart(
    kind: str, groups: Sequence[Mapping[str, Any]], names: Mapping[str, str], below: int = 0
) -> Chart:
    """Training and pledge coverage by school or department (a small department's counts
    and shares suppressed when the page is)."""
    title = f"Training and pledge by {kind}"
    return Chart(
        id=f"training-{kind}",
        title=title,
        summary=f"{title}: "
        + "; ".join(
            f"{names.get(g['key'], g['key'])} "
            f"{figure(g, 'trained_share', 'share', below)} trained, "
            f"{figure(g, 'pledged_share', 'share', below)} signed the pledge"
            for g in groups
        )
        + ".",
        bars=[
            Bar(
                names.get(g["key"], g["key"]),
                figure(g, "trained_share", "share", below),
                scale(g["trained_share"], "share"),
            )
            for g in groups
        ],
        columns=(kind.capitalize(), "Staff", "Trained", "Signed the pledge"),
        rows=[
            (
                names.get(g["key"], g["key"]),
                count(g, "staff", below),
                figure(g, "trained_share", "share", below),
                figure(g, "pledged_share", "share", below),
            )
            for g in groups
        ],
    )


def milestones(
    items: Sequence[Milestone], values: Mapping[str, float | None], today: date
) -> list[MilestoneState]:
    return [milestone_state(m, values, today) for m in items]


def packet_csv(
    period: str,
    items: Sequence[Compliance],
    charts: Sequence[Chart],
    calls: Mapping[str, Any] | None,
    below: int = 0,
) -> str:
    """The printed figures as CSV: one row per figure (section, item, column, value, note); a
    figure not shown (a small count, or a share from one) is an empty value with its note."""
    out = io.StringIO()
    raw = csv.writer(out, lineterminator="\r\n")
    raw.writerow(("section", "item", "figure", "value", "note"))

    class _Writer:
        def writerow(self, row: Sequence[object]) -> None:
            value = row[3]
            if isinstance(value, str) and (
                value.startswith("fewer than ") or value.startswith("not shown")
            ):
                raw.writerow((*row[:3], "", f"suppressed: {value}"))
            else:
                raw.writerow((*row, ""))

    writer = _Writer()
    for c in items:
        writer.writerow(("standards", c.name, "value", "" if c.value is None else c.value))
        writer.writerow(("standards", c.name, "target", c.target))
        writer.writerow(("standards", c.name, "kept", met_word(c.met)))
    for chart in charts:
        for row in chart.rows:
            for column, value in zip(chart.columns[1:], row[1:], strict=False):
                writer.writerow((chart.title, row[0], column, value))
    if calls:
        for name in ("calls", "answered", "median_answer_s", "p90_answer_s", "callbacks_scheduled"):
            cell = calls.get(name)
            if name in (calls.get(SUPPRESSED) or ()):
                cell = fewer_than(below) if name in CALL_COUNTS else NOT_SHOWN.format(below=below)
            writer.writerow(("calls", period, name, "" if cell is None else cell))
    return out.getvalue()
