"""Customer-service standards and the Board's figures: what each standard measures, the
summary a clock leaves when a cycle ends, and how tallies turn into figures and compliance.

Pure: no I/O. The store sums the cycle summaries (`services.escalation.board_store`); this
module defines what is summed and what the sums mean, so that the same definitions are tested
here on hand-made clocks and used on years of data there.

Definitions (a period is `[start, end)`; a *cycle* is a concern's life from submission or
reopening to its resolution):
- resolved within the guarantee: the cycle's *counted time* at resolution (the time its SLA
  clock counted: on the policy's calendar, paused time excluded, exactly as the clock counts)
  is at most the district's guarantee (72 hours);
- resolved within target: the clock met the resolution target of its policy (no breach);
- first response within target: the clock met the first-response target;
- satisfaction: the mean of survey scores given in the period;
- information requests answered within N days: of the requests for information made in the
  period (each pause of the clock: the district pauses it only while the concern awaits the
  requester's answer), the share whose wait ended with the clock resuming within N calendar
  days (wall-clock time, not counted time). A wait ended by the resolution or by closing
  (intake closes long silences) counts as not answered; one that resumed after N days as not
  answered in time. A wait still open is counted once it ends (a request is counted in the
  month it was made, when its outcome is known). Only the family's answer counts: the clock
  logs `answered` when their message ends the wait; staff taking the concern back without one
  (the staff console's "resume") ends it unanswered. Clocks logged that entry only from
  `answered_since` (the store's first start with it): a wait resumed before then cannot tell
  the two apart and counts as answered, as the standard counted it then;
- callbacks on time: of the callbacks promised to requesters that came due in the period
  (counted in the month of their due time) and were made or missed, the share made by their
  due time. A cancelled callback is not counted (even once missed); one not yet due and not
  made is not counted yet;
- backlog: cycles open at the end of the period (or now), by age since the cycle started.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.escalation.domain import ANSWERED, ClockStatus, SlaClock
from shared.events import SlaTarget

# The district file's `standards:` section is a contract of the district file (triage reads
# it too); its models live in shared/, named here as well for escalation's readers.
from shared.standards import AT_MOST as AT_MOST
from shared.standards import CLOCK_MEASURES as CLOCK_MEASURES
from shared.standards import Compliance as Compliance
from shared.standards import Course as Course
from shared.standards import Measure as Measure
from shared.standards import Milestone as Milestone
from shared.standards import MilestoneState as MilestoneState
from shared.standards import Standard as Standard
from shared.standards import StandardsConfig as StandardsConfig
from shared.standards import compliance as compliance
from shared.standards import milestone_state as milestone_state
from shared.standards import share as share

MINUTE_S = 60
BACKLOG_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("under_24h", timedelta(hours=24)),
    ("24h_to_72h", timedelta(hours=72)),
    ("72h_to_7d", timedelta(days=7)),
    ("over_7d", timedelta.max),
)
NONE_KEY = "none"


# --- what a clock leaves when a cycle ends ---------------------------------------------------


def finished_cycle(before: SlaClock, after: SlaClock) -> dict[str, Any] | None:
    """The summary of the cycle a change ends (resolved, or closed unresolved by a merge),
    stored beside the clock in the same write; None when the change ends no cycle."""
    if after.status is not ClockStatus.STOPPED or (
        before.status is ClockStatus.STOPPED and before.cycle == after.cycle
    ):
        return None
    kinds = {(e.kind, e.target) for e in after.history if e.cycle == after.cycle}
    resolved = ("resolved", None) in kinds
    return {
        "cycle": after.cycle,
        "outcome": "resolved" if resolved else "closed",
        "started_at": after.started_at,
        "ended_at": after.stopped_at,
        "counted_s": round(after.elapsed.total_seconds(), 3),
        "first_response_met": ("met", str(SlaTarget.FIRST_RESPONSE)) in kinds,
        "resolution_met": ("met", str(SlaTarget.RESOLUTION)) in kinds,
    }


# --- tallies: what the store sums, and what the sums mean ------------------------------------


@dataclass
class Tally:
    """Sums over the concerns of one group in one period."""

    received: int = 0
    resolved: int = 0
    within_guarantee: int = 0
    within_target: int = 0
    first_response_met: int = 0
    minutes: dict[int, int] = field(default_factory=dict)  # counted minutes -> cycles
    breaches: dict[str, int] = field(default_factory=lambda: {str(t): 0 for t in SlaTarget})
    escalations: dict[str, int] = field(default_factory=lambda: dict.fromkeys("123", 0))
    surveys: int = 0
    score_total: int = 0
    backlog: dict[str, int] = field(
        default_factory=lambda: {name: 0 for name, _ in BACKLOG_BUCKETS}
    )
    information_requests: int = 0
    answered_days: dict[int, int] = field(default_factory=dict)  # days to answer -> requests
    callbacks_due: int = 0  # callbacks due in the period, made or missed
    callbacks_on_time: int = 0  # of them, made by their due time

    def add_callback(self, on_time: bool, n: int = 1) -> None:
        """A callback that came due (made or missed): on time or not."""
        self.callbacks_due += n
        self.callbacks_on_time += n if on_time else 0

    def add_request(self, answered_after: timedelta | None, n: int = 1) -> None:
        """A request for information whose wait has ended: answered after a time, or not."""
        self.information_requests += n
        if answered_after is not None:
            days = answer_days(answered_after)
            self.answered_days[days] = self.answered_days.get(days, 0) + n

    def add_resolved(
        self,
        *,
        counted_s: float,
        first_response_met: bool,
        resolution_met: bool,
        guarantee: timedelta,
        n: int = 1,
    ) -> None:
        self.resolved += n
        self.within_guarantee += n if counted_s <= guarantee.total_seconds() else 0
        self.within_target += n if resolution_met else 0
        self.first_response_met += n if first_response_met else 0
        minute = int(counted_s // MINUTE_S)
        self.minutes[minute] = self.minutes.get(minute, 0) + n

    def merge(self, other: Tally) -> None:
        """Add another tally (groups into a total)."""
        self.received += other.received
        self.resolved += other.resolved
        self.within_guarantee += other.within_guarantee
        self.within_target += other.within_target
        self.first_response_met += other.first_response_met
        for minute, n in other.minutes.items():
            self.minutes[minute] = self.minutes.get(minute, 0) + n
        for mine, theirs in (
            (self.breaches, other.breaches),
            (self.escalations, other.escalations),
            (self.backlog, other.backlog),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.surveys += other.surveys
        self.score_total += other.score_total
        self.information_requests += other.information_requests
        for days, n in other.answered_days.items():
            self.answered_days[days] = self.answered_days.get(days, 0) + n
        self.callbacks_due += other.callbacks_due
        self.callbacks_on_time += other.callbacks_on_time


@dataclass(frozen=True)
class ClockFigures:
    """What a report of SLA clocks reads of one group in one period (the older
    `/v1/reports/board` reads these; the Board's report adds its standards' own)."""

    received: int
    resolved: int
    resolved_within_guarantee: float | None
    first_response_within_target: float | None
    median_hours_to_resolve: float | None
    p90_hours_to_resolve: float | None
    breaches: dict[str, int]
    escalations: dict[str, int]
    satisfaction_responses: int
    satisfaction_mean: float | None
    backlog: dict[str, int]


@dataclass(frozen=True)
class Figures(ClockFigures):
    """What the Board reads of one group in one period."""

    resolved_within_target: float | None
    information_requests: int = 0  # requests for information whose wait ended
    answered_days: dict[int, int] = field(default_factory=dict)  # days to answer -> requests
    callbacks_due: int = 0  # callbacks due in the period and made or missed
    callbacks_on_time: float | None = None  # the share of them made by their due time


def figures(tally: Tally) -> Figures:
    """A tally's figures. Hours to resolve are counted hours, read to the minute."""
    return Figures(
        received=tally.received,
        resolved=tally.resolved,
        resolved_within_guarantee=share(tally.within_guarantee, tally.resolved),
        resolved_within_target=share(tally.within_target, tally.resolved),
        first_response_within_target=share(tally.first_response_met, tally.resolved),
        median_hours_to_resolve=_percentile_hours(tally.minutes, 50),
        p90_hours_to_resolve=_percentile_hours(tally.minutes, 90),
        breaches=dict(tally.breaches),
        escalations=dict(tally.escalations),
        satisfaction_responses=tally.surveys,
        satisfaction_mean=round(tally.score_total / tally.surveys, 2) if tally.surveys else None,
        backlog=dict(tally.backlog),
        information_requests=tally.information_requests,
        answered_days=dict(sorted(tally.answered_days.items())),
        callbacks_due=tally.callbacks_due,
        callbacks_on_time=share(tally.callbacks_on_time, tally.callbacks_due),
    )


def answer_days(after: timedelta) -> int:
    """The days a family took to answer, counted up: within N days when at most N."""
    return math.ceil(max(after, timedelta(0)) / timedelta(days=1))


def answered_within(fig: Figures, days: int) -> float | None:
    """The share of the requests for information answered within `days`."""
    answered = sum(n for d, n in fig.answered_days.items() if int(d) <= days)
    return share(answered, fig.information_requests)


def information_requests(
    clock: SlaClock, *, answered_since: datetime | None = None
) -> list[tuple[int, datetime, timedelta | None]]:
    """Each request for information of a clock whose wait has ended: the history index of
    its pause, when it was asked, and how long the family's answer took (None: no answer
    ended the wait: the resolution, closing, or staff resuming without one). A wait still
    open is left out until it ends. A wait resumed before `answered_since` (when the store
    began logging `answered`) counts as answered: its history cannot say by whom."""
    out: list[tuple[int, datetime, timedelta | None]] = []
    for n, entry in enumerate(clock.history):
        if entry.kind != "paused":
            continue
        end = next(
            (
                e
                for e in clock.history[n + 1 :]
                if e.cycle == entry.cycle and e.kind in ("resumed", "resolved", "closed")
            ),
            None,
        )
        if end is None:
            continue
        answered = end.kind == "resumed" and (
            (answered_since is not None and end.at < answered_since)
            or any(
                e.kind == ANSWERED and e.cycle == end.cycle and e.at == end.at
                for e in clock.history
            )
        )
        out.append((n, entry.at, end.at - entry.at if answered else None))
    return out


CALLBACK_ON_TIME = "callback_on_time"
CALLBACK_LATE = "callback_late"
CALLBACK_MISSED = "callback_missed"
CALLBACK_CANCELLED = "callback_cancelled"
# the history lines that settle whether a callback was kept (what the backfill reads)
CALLBACK_OUTCOMES = (CALLBACK_ON_TIME, CALLBACK_LATE, CALLBACK_MISSED)


def callbacks_kept(clock: SlaClock) -> list[tuple[str, datetime, bool]]:
    """Each callback of a clock that came due and was made or missed: its id, when it was due,
    and whether it was made by then. Made on time wins (intake knows when it was made, the
    clock's miss may be a late-heard news); a cancelled one is left out, even once missed;
    one not yet due and not made is left out until it is. Lines logged before they kept the
    due time give it by their own time (a miss is logged when the callback came due)."""
    lines: dict[str, list[Any]] = {}
    for entry in clock.history:
        if entry.kind.startswith("callback_") and entry.detail:
            lines.setdefault(entry.detail, []).append(entry)
    out: list[tuple[str, datetime, bool]] = []
    for callback_id, entries in lines.items():
        kinds = {e.kind for e in entries}
        if CALLBACK_CANCELLED in kinds or not kinds & set(CALLBACK_OUTCOMES):
            continue
        on_time = CALLBACK_ON_TIME in kinds
        due = next((e.due_at for e in entries if e.due_at is not None), None)
        if due is None:
            settled = next(e for e in entries if e.kind in CALLBACK_OUTCOMES)
            due = settled.at
        out.append((callback_id, due, on_time))
    return out


def backlog_bucket(age: timedelta) -> str:
    return next(name for name, limit in BACKLOG_BUCKETS if age < limit)


def _percentile_hours(minutes: Mapping[int, int], percent: int) -> float | None:
    """Nearest-rank percentile of counted time, in hours (from minute buckets)."""
    total = sum(minutes.values())
    if not total:
        return None
    rank = max(1, math.ceil(percent / 100 * total))
    seen = 0
    for minute in sorted(minutes):
        seen += minutes[minute]
        if seen >= rank:
            return round(minute / 60, 2)
    raise AssertionError("unreachable")


def tally_clocks(
    clocks: Iterable[SlaClock],
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    guarantee: timedelta,
    answered_since: datetime | None = None,
) -> Tally:
    """The tally of whole clocks, read one by one: the definition the store's sums follow
    (tests compare them; the service never loads every clock)."""
    tally = Tally()

    def within(at: datetime | None) -> bool:
        return at is not None and start <= at < end

    for clock in clocks:
        tally.received += within(clock.submitted_at)
        for cycle in cycles_of(clock):
            if cycle["outcome"] == "resolved" and within(cycle["ended_at"]):
                tally.add_resolved(
                    counted_s=cycle["counted_s"],
                    first_response_met=cycle["first_response_met"],
                    resolution_met=cycle["resolution_met"],
                    guarantee=guarantee,
                )
            ended = cycle["ended_at"]
            if cycle["started_at"] < as_of and (ended is None or ended > as_of):
                tally.backlog[backlog_bucket(as_of - cycle["started_at"])] += 1
        for entry in clock.history:
            if not within(entry.at):
                continue
            if entry.kind == "breached" and entry.target is not None:
                tally.breaches[str(entry.target)] += 1
            elif entry.kind == "escalated" and entry.level is not None:
                key = str(entry.level)
                tally.escalations[key] = tally.escalations.get(key, 0) + 1
        if clock.satisfaction is not None and within(clock.surveyed_at):
            tally.surveys += 1
            tally.score_total += clock.satisfaction
        for _, asked_at, answered_after in information_requests(
            clock, answered_since=answered_since
        ):
            if within(asked_at):
                tally.add_request(answered_after)
        for _, due_at, on_time in callbacks_kept(clock):
            if within(due_at):
                tally.add_callback(on_time)
    return tally


def cycles_of(clock: SlaClock) -> list[dict[str, Any]]:
    """Every cycle of a whole clock: the ended ones as `finished_cycle` left them (counted
    time of earlier cycles is rebuilt from the history's wall times, exact for clocks counting
    around the clock), and the open one with no end."""
    out: list[dict[str, Any]] = []
    starts = {e.cycle: e.at for e in clock.history if e.kind in ("started", "reopened")}
    for n in sorted(starts):
        entries = [e for e in clock.history if e.cycle == n]
        end = next((e for e in entries if e.kind in ("resolved", "closed")), None)
        kinds = {(e.kind, e.target) for e in entries}
        if n == clock.cycle and clock.status is ClockStatus.STOPPED:
            counted = clock.elapsed.total_seconds()
        else:
            counted = _running_seconds(entries, end.at if end else None)
        out.append(
            {
                "cycle": n,
                "outcome": end.kind if end else None,
                "started_at": starts[n],
                "ended_at": end.at if end else None,
                "counted_s": counted,
                "first_response_met": ("met", str(SlaTarget.FIRST_RESPONSE)) in kinds,
                "resolution_met": ("met", str(SlaTarget.RESOLUTION)) in kinds,
            }
        )
    return out


def _running_seconds(entries: Sequence[Any], end: datetime | None) -> float:
    total, since = 0.0, None
    for e in entries:
        if e.kind in ("started", "reopened", "resumed"):
            since = e.at
        elif e.kind in ("paused", "resolved", "closed") and since is not None:
            total += (e.at - since).total_seconds()
            since = None
    return total


# --- facts: what a clock adds to the monthly summaries ----------------------------------------

Counts = dict[str, int]  # counter name (dotted for nested: "minutes.61") -> amount


@dataclass(frozen=True)
class Fact:
    """Something a clock adds to the Board's monthly summaries, once: counter amounts per
    month label, under the clock's category, school and team. `key` names it within its
    clock (what marks it counted)."""

    key: str
    dims: tuple[str, str, str]  # (category, school, team)
    months: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]

    def negated(self) -> Fact:
        return replace(
            self,
            months=tuple((m, tuple((k, -n) for k, n in c)) for m, c in self.months),
        )


def month_label(at: datetime, timezone: ZoneInfo) -> str:
    return at.astimezone(timezone).strftime("%Y-%m")


def month_ends(start: datetime, end: datetime, timezone: ZoneInfo) -> list[tuple[str, datetime]]:
    """Each month end strictly between two instants, with the label of the month it ends."""
    out: list[tuple[str, datetime]] = []
    local = start.astimezone(timezone)
    month = date(local.year, local.month, 1)
    while True:
        following = (month + timedelta(days=32)).replace(day=1)
        boundary = datetime.combine(following, datetime.min.time(), tzinfo=timezone)
        if boundary >= end:
            return out
        if boundary > start:
            out.append((month.strftime("%Y-%m"), boundary))
        month = following


def _dim(value: Any) -> str:
    return NONE_KEY if value is None or value == "" else str(value)


def facts_of(
    clock: SlaClock,
    *,
    timezone: ZoneInfo,
    guarantee: timedelta,
    summaries: Sequence[Mapping[str, Any]] = (),
    answered_since: datetime | None = None,
) -> dict[str, Fact]:
    """Every fact of a whole clock, by key, as `tally_clocks` counts it: its submission, each
    ended cycle (resolved: counted time and targets met; and the month ends it stayed open
    across, for the backlog), its breach and escalation lines, its survey answer, each request
    for information once its wait ended (keyed by its pause's history line, in the month it
    was asked, with the days the answer took), each callback made or missed (keyed by its id
    and whether it was on time, in the month it was due). A cycle's
    summary stored when it ended (`summaries`) is preferred to one rebuilt from the history.
    The submission's key names the groups, so a re-triaged concern moves between them; the
    other facts stay in the groups of the moment they happened."""
    dims = (_dim(clock.category), _dim(clock.school_id), _dim(clock.team_id))
    out: dict[str, Fact] = {}

    def add(key: str, months: list[tuple[str, Counts]]) -> None:
        out[key] = Fact(key, dims, tuple((m, tuple(sorted(c.items()))) for m, c in months))

    add(f"r|{'|'.join(dims)}", [(month_label(clock.submitted_at, timezone), {"received": 1})])
    stored = {int(s["cycle"]): s for s in summaries}
    for cycle in cycles_of(clock):
        ended = cycle["ended_at"]
        if ended is None:
            continue
        cycle = {**cycle, **stored.get(cycle["cycle"], {})}
        months: list[tuple[str, Counts]] = []
        if cycle["outcome"] == "resolved":
            one = Tally()
            one.add_resolved(
                counted_s=cycle["counted_s"],
                first_response_met=cycle["first_response_met"],
                resolution_met=cycle["resolution_met"],
                guarantee=guarantee,
            )
            minute = next(iter(one.minutes))
            months.append(
                (
                    month_label(ended, timezone),
                    {
                        "resolved": 1,
                        "within_guarantee": one.within_guarantee,
                        "within_target": one.within_target,
                        "first_response_met": one.first_response_met,
                        f"minutes.{minute}": 1,
                    },
                )
            )
        for label, boundary in month_ends(cycle["started_at"], ended, timezone):
            bucket = backlog_bucket(boundary - cycle["started_at"])
            months.append((label, {f"backlog_end.{bucket}": 1}))
        add(f"c{cycle['cycle']}", months)
    for n, entry in enumerate(clock.history):
        if entry.kind == "breached" and entry.target is not None:
            counter = f"breaches.{entry.target}"
        elif entry.kind == "escalated" and entry.level is not None:
            counter = f"escalations.{entry.level}"
        else:
            continue
        add(f"h{n}", [(month_label(entry.at, timezone), {counter: 1})])
    for n, asked_at, answered_after in information_requests(clock, answered_since=answered_since):
        counts = {"information_requests": 1}
        if answered_after is not None:
            counts[f"answered_days.{answer_days(answered_after)}"] = 1
        # keyed by its outcome: an answer logged after the wait's end replaces the count
        key = f"i{n}" if answered_after is None else f"i{n}a"
        add(key, [(month_label(asked_at, timezone), counts)])
    for callback_id, due_at, on_time in callbacks_kept(clock):
        # keyed by its outcome: made on time after a miss was logged replaces the count
        add(
            f"k{'y' if on_time else 'n'}|{callback_id}",
            [
                (
                    month_label(due_at, timezone),
                    {"callbacks_due": 1, "callbacks_on_time": int(on_time)},
                )
            ],
        )
    if clock.satisfaction is not None and clock.surveyed_at is not None:
        add(
            f"s{clock.surveyed_at.isoformat(timespec='milliseconds')}",
            [
                (
                    month_label(clock.surveyed_at, timezone),
                    {"surveys": 1, "score_total": clock.satisfaction},
                )
            ],
        )
    return out


def changed_facts(
    before: SlaClock | None,
    after: SlaClock,
    *,
    timezone: ZoneInfo,
    guarantee: timedelta,
    answered_since: datetime | None = None,
) -> tuple[list[Fact], list[Fact]]:
    """What a change of a clock adds to the summaries and what it takes back (a survey
    answer replaced, a concern moved to another group): facts by key."""
    old = (
        facts_of(before, timezone=timezone, guarantee=guarantee, answered_since=answered_since)
        if before
        else {}
    )
    new = facts_of(after, timezone=timezone, guarantee=guarantee, answered_since=answered_since)
    return (
        [f for k, f in new.items() if k not in old],
        [f for k, f in old.items() if k not in new],
    )


def tally_of(doc: Mapping[str, Any]) -> Tally:
    """The tally a stored monthly summary holds (`backlog` is the month end's, of ended
    cycles)."""
    tally = Tally(
        received=int(doc.get("received", 0)),
        resolved=int(doc.get("resolved", 0)),
        within_guarantee=int(doc.get("within_guarantee", 0)),
        within_target=int(doc.get("within_target", 0)),
        first_response_met=int(doc.get("first_response_met", 0)),
        minutes={int(m): int(n) for m, n in (doc.get("minutes") or {}).items() if n},
        surveys=int(doc.get("surveys", 0)),
        score_total=int(doc.get("score_total", 0)),
        information_requests=int(doc.get("information_requests", 0)),
        answered_days={int(d): int(n) for d, n in (doc.get("answered_days") or {}).items() if n},
        callbacks_due=int(doc.get("callbacks_due", 0)),
        callbacks_on_time=int(doc.get("callbacks_on_time", 0)),
    )
    for mine, name in (
        (tally.breaches, "breaches"),
        (tally.escalations, "escalations"),
        (tally.backlog, "backlog_end"),
    ):
        for key, n in (doc.get(name) or {}).items():
            mine[key] = mine.get(key, 0) + int(n)
    return tally


# --- compliance ------------------------------------------------------------------------------


def clock_compliance(standard: Standard, fig: Figures) -> Compliance:
    """A clock standard's compliance in a group's figures."""
    values = clock_values(fig)
    if standard.within_days is not None:
        values[standard.measure.value] = answered_within(fig, standard.within_days)
    return compliance(standard, values)


def clock_values(fig: Figures) -> dict[str, float | None]:
    """The measures a group's figures give."""
    return {
        Measure.FIRST_RESPONSE_WITHIN_TARGET.value: fig.first_response_within_target,
        Measure.RESOLVED_WITHIN_GUARANTEE.value: fig.resolved_within_guarantee,
        Measure.RESOLVED_WITHIN_TARGET.value: fig.resolved_within_target,
        Measure.SATISFACTION_MEAN.value: fig.satisfaction_mean,
        Measure.CALLBACKS_ON_TIME.value: fig.callbacks_on_time,
    }
