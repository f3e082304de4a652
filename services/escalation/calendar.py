"""SLA calendars: which stretches of time count towards a target.

Pure arithmetic on timezone-aware datetimes. `AroundTheClock` counts every second. `BusinessHours`
counts only the district's opening hours, in its time zone, skipping closed weekdays and
holidays. Opening hours are local wall-clock times turned into instants with zoneinfo, so a
business day keeps its real length across a daylight-saving change and a target is met at the
right local hour on either side of it.

All arithmetic is done on UTC instants: Python subtracts two datetimes of the same zone by
their wall-clock readings, which would be an hour off across a daylight-saving change.

The opening hours themselves (parsing, the open check) are `shared/opening_hours.py`, which the
phone front door reads too; they are imported here under their old names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from shared.opening_hours import WEEKDAYS, OpeningHours, parse_hours

__all__ = [
    "AROUND_THE_CLOCK",
    "WEEKDAYS",
    "AroundTheClock",
    "BusinessHours",
    "Calendar",
    "parse_hours",
]

AROUND_THE_CLOCK = "around-the-clock"
ZERO = timedelta(0)
# Ten years of days: a calendar with opening hours always finds an open day long before this.
MAX_DAYS = 3660


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
class BusinessHours(OpeningHours):
    """Opening hours per weekday (Monday = 0) in a time zone, minus holidays: counted time."""

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

    def _windows(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Opening windows (as UTC instants) from the local day of `start` onwards."""
        day = start.astimezone(self.timezone).date()
        for offset in range(MAX_DAYS):
            window = self._window(day + timedelta(days=offset))
            if window is not None:
                yield window
