"""SLA calendars: which stretches of time count towards a target.

Pure arithmetic on timezone-aware datetimes. `AroundTheClock` counts every second. `BusinessHours`
counts only the district's opening hours, in its time zone, skipping closed weekdays and
holidays. Opening hours are local wall-clock times turned into instants with zoneinfo, so a
business day keeps its real length across a daylight-saving change and a target is met at the
right local hour on either side of it.

All arithmetic is done on UTC instants: Python subtracts two datetimes of the same zone by
their wall-clock readings, which would be an hour off across a daylight-saving change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

AROUND_THE_CLOCK = "around-the-clock"
ZERO = timedelta(0)
# Ten years of days: a calendar with opening hours always finds an open day long before this.
MAX_DAYS = 3660
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Calendar(Protocol):
    """Counts working time between instants and finds when an amount of it has passed."""

    @property
    def id(self) -> str:
        """The name policies refer to this calendar by."""
        ...

    def add(self, start: datetime, work: timedelta) -> datetime:
        """The instant at which `work` of counted time has passed since `start`."""
        ...

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Counted time from `start` to `end` (zero when `end` is not after `start`)."""
        ...

    def next_open(self, at: datetime) -> datetime:
        """The first counted instant at or after `at`."""
        ...


@dataclass(frozen=True)
class AroundTheClock:
    """Every second counts."""

    id: str = AROUND_THE_CLOCK

    def add(self, start: datetime, work: timedelta) -> datetime:
        """`start + work` in real (UTC) time."""
        return start.astimezone(UTC) + max(work, ZERO)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """`end - start` in real time, never negative."""
        return max(end.astimezone(UTC) - start.astimezone(UTC), ZERO)

    def next_open(self, at: datetime) -> datetime:
        """`at` itself: every instant counts."""
        return at.astimezone(UTC)


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours per weekday (Monday = 0) in a time zone, minus holidays."""

    id: str
    timezone: ZoneInfo
    hours: Mapping[int, tuple[time, time]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.hours:
            raise ValueError(f"calendar {self.id}: no opening hours on any weekday")
        for weekday, (opens, closes) in self.hours.items():
            if not 0 <= weekday <= 6 or opens >= closes:
                raise ValueError(
                    f"calendar {self.id}: weekday {weekday} opens {opens} and closes {closes}"
                )

    def add(self, start: datetime, work: timedelta) -> datetime:
        """The instant at which `work` of opening hours has passed since `start`."""
        left = max(work, ZERO)
        start = start.astimezone(UTC)
        if left == ZERO:
            return start
        for opens, closes in self._windows(start):
            begin = max(opens, start)
            if begin >= closes:
                continue
            if begin + left <= closes:
                return begin + left
            left -= closes - begin
        raise ValueError(
            f"calendar {self.id}: {work} of opening hours not found in {MAX_DAYS} days"
        )

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Opening hours from `start` to `end`."""
        total = ZERO
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return total
        for opens, closes in self._windows(start):
            if opens >= end:
                break
            overlap = min(closes, end) - max(opens, start)
            if overlap > ZERO:
                total += overlap
        return total

    def next_open(self, at: datetime) -> datetime:
        """`at` when open, else the next opening (Saturday evening: Monday's opening)."""
        at = at.astimezone(UTC)
        for opens, closes in self._windows(at):
            if closes > at:
                return max(opens, at)
        raise ValueError(f"calendar {self.id}: no opening in {MAX_DAYS} days")

    def is_open(self, at: datetime) -> bool:
        """Whether `at` falls within opening hours."""
        local_day = at.astimezone(self.timezone).date()
        window = self._window(local_day)
        return window is not None and window[0] <= at < window[1]

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        if day in self.holidays:
            return None
        hours = self.hours.get(day.weekday())
        if hours is None:
            return None
        opens = datetime.combine(day, hours[0], tzinfo=self.timezone).astimezone(UTC)
        closes = datetime.combine(day, hours[1], tzinfo=self.timezone).astimezone(UTC)
        return opens, closes

    def _windows(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Opening windows (as UTC instants) from the local day of `start` onwards."""
        day = start.astimezone(self.timezone).date()
        for offset in range(MAX_DAYS):
            window = self._window(day + timedelta(days=offset))
            if window is not None:
                yield window


def parse_hours(spec: str) -> tuple[time, time]:
    """`"08:00-17:00"` as opening and closing times."""
    try:
        opens, closes = (time.fromisoformat(part.strip()) for part in spec.split("-", 1))
    except ValueError as exc:
        raise ValueError(f"opening hours {spec!r} are not like 08:00-17:00") from exc
    if opens >= closes:
        raise ValueError(f"opening hours {spec!r} close before they open")
    return opens, closes
