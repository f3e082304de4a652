"""Opening hours: weekly wall-clock hours in a time zone, minus holidays. Pure.

What more than one part of the bureau reads: escalation counts SLA time in them (its
`BusinessHours` adds the arithmetic), the phone front door asks whether the Service Desk is open,
and the safety desk roster (`shared/safety_desk.py`) writes its shifts as `"HH:MM-HH:MM"`.
The district's holidays are written once, in an escalation calendar (`escalation.calendars`);
the Service Desk and the safety desk roster name that calendar (`calendar_holidays`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.holidays import Holiday

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_span(spec: str) -> tuple[time, time]:
    """`"17:30-07:30"` as its two wall-clock times, in any order (a shift past midnight)."""
    try:
        start, end = (time.fromisoformat(part.strip()) for part in spec.split("-", 1))
    except ValueError as exc:
        raise ValueError(f"hours {spec!r} are not like 08:00-17:00") from exc
    return start, end


def parse_hours(spec: str) -> tuple[time, time]:
    """`"08:00-17:00"` as opening and closing times."""
    try:
        opens, closes = parse_span(spec)
    except ValueError as exc:
        raise ValueError(f"opening hours {spec!r} are not like 08:00-17:00") from exc
    if opens >= closes:
        raise ValueError(f"opening hours {spec!r} close before they open")
    return opens, closes


@dataclass(frozen=True)
class OpeningHours:
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

    def is_open(self, at: datetime) -> bool:
        """Whether `at` falls within opening hours."""
        local_day = at.astimezone(self.timezone).date()
        window = self._window(local_day)
        return window is not None and window[0] <= at < window[1]

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's opening and closing as UTC instants; None when closed all day."""
        if day in self.holidays:
            return None
        hours = self.hours.get(day.weekday())
        if hours is None:
            return None
        opens = datetime.combine(day, hours[0], tzinfo=self.timezone).astimezone(UTC)
        closes = datetime.combine(day, hours[1], tzinfo=self.timezone).astimezone(UTC)
        return opens, closes


def weekly_hours(
    id: str, timezone: str | ZoneInfo, hours: Mapping[Weekday, str], holidays: frozenset[date]
) -> OpeningHours:
    """Opening hours as a district file writes them: `{mon: "08:00-17:00", ...}`."""
    return OpeningHours(
        id=id,
        timezone=timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone),
        hours={WEEKDAYS.index(day): parse_hours(spec) for day, spec in hours.items()},
        holidays=holidays,
    )


class _CalendarHolidays(BaseModel):
    """What others read of an escalation calendar: its id and its holidays."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    holidays: list[Holiday] = Field(default_factory=list)


def calendar_holidays(district: Any, calendar_id: str, *, named_by: str) -> tuple[Holiday, ...]:
    """The holiday rules of the escalation calendar `calendar_id` of a `DistrictConfig`;
    `DistrictConfigError` naming the setting (`named_by`) when there is no such calendar."""
    from shared.district import DistrictConfigError

    raw = ((district.model_extra or {}).get("escalation") or {}).get("calendars") or []
    try:
        calendars = [_CalendarHolidays.model_validate(c) for c in raw]
    except ValidationError as exc:
        raise DistrictConfigError(f"escalation.calendars: {exc}") from exc
    found = next((c for c in calendars if c.id == calendar_id), None)
    if found is None:
        raise DistrictConfigError(
            f"{named_by}: no escalation calendar {calendar_id!r}"
            f" (calendars: {', '.join(c.id for c in calendars) or 'none'})"
        )
    return tuple(found.holidays)
