"""Board reports: SLA figures for a period, grouped, from the facts escalation keeps per concern.

Pure. Definitions (a period is `[start, end)`; a *cycle* is a concern's life from submission or
reopening to its resolution, so a reopened concern counts once more when resolved again):
- received: concerns submitted in the period;
- resolved: cycles resolved in the period; the shares, median and p90 are over those cycles:
  share resolved within the guarantee (72 hours of the clock's counted time: on its calendar,
  paused time excluded, as the clock counts; wall time only where a cycle's is unknown),
  share whose first response came within the policy's first-response target, median and 90th
  percentile (nearest rank) of counted hours from the cycle's start to its resolution;
- breaches: `sla.breached` fired in the period, by target; escalations: escalations (not
  reminders) fired in the period, by level;
- satisfaction: survey answers given in the period: how many, and their mean score;
- a concern closed without resolution (merged into another) counts in none of these after
  its closing;
- backlog: cycles open at the end of the period (or now, if earlier), by age since the cycle
  started: under 24 h, 24 to 72 h, 72 h to 7 days, over 7 days.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from services.escalation.domain import SlaClock
from services.escalation.standards import ClockFigures as Figures
from services.escalation.standards import cycles_of
from shared.events import SlaTarget

HOUR = timedelta(hours=1)
BACKLOG_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("under_24h", timedelta(hours=24)),
    ("24h_to_72h", timedelta(hours=72)),
    ("72h_to_7d", timedelta(days=7)),
    ("over_7d", timedelta.max),
)
LEVELS = ("1", "2", "3")
NONE_KEY = "none"


class GroupBy(StrEnum):
    CATEGORY = "category"
    SCHOOL = "school"
    TEAM = "team"
    CHANNEL = "channel"
    PRIORITY = "priority"


@dataclass(frozen=True)
class CycleFacts:
    started_at: datetime
    resolved_at: datetime | None
    first_response_met: bool
    closed_at: datetime | None = None  # closed unresolved (merged): neither resolved nor open
    counted: timedelta | None = None  # the clock's counted time at the end (paused excluded)


@dataclass(frozen=True)
class ConcernFacts:
    """What the reports need to know of one concern."""

    concern_id: str
    category: str
    school_id: str | None
    team_id: str | None
    channel: str | None
    priority: str | None
    submitted_at: datetime
    cycles: tuple[CycleFacts, ...]
    breaches: tuple[tuple[datetime, str], ...] = ()
    escalations: tuple[tuple[datetime, int], ...] = ()
    satisfaction: int | None = None
    surveyed_at: datetime | None = None

    def key(self, group_by: GroupBy) -> str:
        value = {
            GroupBy.CATEGORY: self.category,
            GroupBy.SCHOOL: self.school_id,
            GroupBy.TEAM: self.team_id,
            GroupBy.CHANNEL: self.channel,
            GroupBy.PRIORITY: self.priority,
        }[group_by]
        return value or NONE_KEY


@dataclass(frozen=True)
class Group:
    key: str
    figures: Figures


def facts_of(clock: SlaClock) -> ConcernFacts:
    """A clock's history read as report facts."""
    starts: dict[int, datetime] = {}
    resolved: dict[int, datetime] = {}
    closed: dict[int, datetime] = {}
    met_first: set[int] = set()
    breaches: list[tuple[datetime, str]] = []
    escalations: list[tuple[datetime, int]] = []
    for entry in clock.history:
        if entry.kind in ("started", "reopened"):
            starts[entry.cycle] = entry.at
        elif entry.kind == "resolved":
            resolved[entry.cycle] = entry.at
        elif entry.kind == "closed":
            closed[entry.cycle] = entry.at
        elif entry.kind == "met" and entry.target == SlaTarget.FIRST_RESPONSE:
            met_first.add(entry.cycle)
        elif entry.kind == "breached" and entry.target is not None:
            breaches.append((entry.at, str(entry.target)))
        elif entry.kind == "escalated" and entry.level is not None:
            escalations.append((entry.at, entry.level))
    counted = {
        c["cycle"]: timedelta(seconds=c["counted_s"])
        for c in cycles_of(clock)
        if c["outcome"] is not None
    }
    cycles = tuple(
        CycleFacts(
            started_at=at,
            resolved_at=resolved.get(n),
            first_response_met=n in met_first,
            closed_at=closed.get(n),
            counted=counted.get(n),
        )
        for n, at in sorted(starts.items())
    )
    return ConcernFacts(
        concern_id=clock.concern_id,
        category=clock.category,
        school_id=clock.school_id,
        team_id=clock.team_id,
        channel=clock.channel,
        priority=clock.priority.value if clock.priority else None,
        submitted_at=clock.submitted_at,
        cycles=cycles,
        breaches=tuple(breaches),
        escalations=tuple(escalations),
        satisfaction=clock.satisfaction,
        surveyed_at=clock.surveyed_at,
    )


def figures(
    facts: Iterable[ConcernFacts],
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    guarantee: timedelta,
) -> Figures:
    """The figures of a set of concerns for the period `[start, end)`."""
    # Real-time differences: same-zone subtraction would read wall clocks across a DST change.
    start, end, as_of = start.astimezone(UTC), end.astimezone(UTC), as_of.astimezone(UTC)

    def within(at: datetime | None) -> bool:
        return at is not None and start <= at < end

    received = resolved = 0
    in_guarantee = first_in_target = answers = score_total = 0
    durations: list[timedelta] = []
    breaches = {str(t): 0 for t in SlaTarget}
    escalations = dict.fromkeys(LEVELS, 0)
    backlog = {name: 0 for name, _ in BACKLOG_BUCKETS}
    for concern in facts:
        received += within(concern.submitted_at)
        for cycle in concern.cycles:
            if cycle.resolved_at is not None and within(cycle.resolved_at):
                resolved += 1
                took = (
                    cycle.counted
                    if cycle.counted is not None
                    else cycle.resolved_at.astimezone(UTC) - cycle.started_at.astimezone(UTC)
                )
                durations.append(took)
                in_guarantee += took <= guarantee
                first_in_target += cycle.first_response_met
            ended = cycle.resolved_at or cycle.closed_at
            if cycle.started_at < as_of and (ended is None or ended >= as_of):
                age = as_of - cycle.started_at.astimezone(UTC)
                bucket = next(name for name, limit in BACKLOG_BUCKETS if age < limit)
                backlog[bucket] += 1
        for at, target in concern.breaches:
            breaches[target] += within(at)
        for at, level in concern.escalations:
            if within(at):
                escalations[str(level)] = escalations.get(str(level), 0) + 1
        if concern.satisfaction is not None and within(concern.surveyed_at):
            answers += 1
            score_total += concern.satisfaction
    hours = sorted(d / HOUR for d in durations)
    return Figures(
        received=received,
        resolved=resolved,
        resolved_within_guarantee=_share(in_guarantee, resolved),
        first_response_within_target=_share(first_in_target, resolved),
        median_hours_to_resolve=round(statistics.median(hours), 2) if hours else None,
        p90_hours_to_resolve=round(_nearest_rank(hours, 90), 2) if hours else None,
        breaches=breaches,
        escalations=escalations,
        satisfaction_responses=answers,
        satisfaction_mean=round(score_total / answers, 2) if answers else None,
        backlog=backlog,
    )


def board_report(
    facts: Sequence[ConcernFacts],
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    guarantee: timedelta,
    group_by: GroupBy,
) -> tuple[list[Group], Figures]:
    """Figures per group (sorted by key) and for all concerns together."""
    keys = sorted({f.key(group_by) for f in facts})
    measure: Callable[[Iterable[ConcernFacts]], Figures] = lambda chosen: figures(  # noqa: E731
        chosen, start=start, end=end, as_of=as_of, guarantee=guarantee
    )
    groups = [Group(key, measure(f for f in facts if f.key(group_by) == key)) for key in keys]
    return groups, measure(facts)


def months(first: date, last: date) -> list[date]:
    """The first day of every month from `first`'s month to `last`'s month."""
    out, current = [], first.replace(day=1)
    while current <= last:
        out.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return out


def month_bounds(month: date, timezone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a month starts and ends in the district's time zone."""
    following = (month + timedelta(days=32)).replace(day=1)
    return (
        datetime.combine(month, time(), tzinfo=timezone),
        datetime.combine(following, time(), tzinfo=timezone),
    )


CSV_COLUMNS = (
    "group",
    "received",
    "resolved",
    "resolved_within_guarantee",
    "first_response_within_target",
    "median_hours_to_resolve",
    "p90_hours_to_resolve",
    "breaches_first_response",
    "breaches_resolution",
    "escalations_level_1",
    "escalations_level_2",
    "escalations_level_3",
    "satisfaction_responses",
    "satisfaction_mean",
    "backlog_under_24h",
    "backlog_24h_to_72h",
    "backlog_72h_to_7d",
    "backlog_over_7d",
)


def flat(value: str, fig: Figures, *, label: str = "group") -> dict[str, object]:
    """One CSV row: the figures with their nested counts spread into columns."""
    row: dict[str, object] = {label: value}
    for name, value in asdict(fig).items():
        if isinstance(value, dict):
            prefix = {"escalations": "escalations_level_"}.get(name, f"{name}_")
            row.update({f"{prefix}{k}": v for k, v in value.items()})
        else:
            row[name] = value
    return row


def to_csv(rows: Iterable[dict[str, object]], columns: Sequence[str] = CSV_COLUMNS) -> str:
    """Rows as CSV text with a header; empty figures are empty cells."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return out.getvalue()


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _nearest_rank(ordered: Sequence[float], percent: int) -> float:
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]
