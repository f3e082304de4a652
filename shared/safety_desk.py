"""The district's safety desk on duty: one roster, read by notify (who hears of a critical
concern at once) and by the phone front door (where "speak to someone" rings after hours).

The roster is the top-level `safety_desk:` section of the district file. Each shift covers
`hours` ("07:30-17:30"; "17:30-07:30" runs past midnight; "00:00-00:00" the whole day) on the
days it starts: weekday names, and `holiday` for the holidays of the escalation calendar the
section names. On a holiday only `holiday` counts: a weekday shift does not run. The first
shift of the list that covers a moment is on duty; the roster must cover every moment of the
week, holidays included, so that a critical concern always reaches somebody. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from itertools import product
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from shared.holidays import Holiday
from shared.holidays import dates as holiday_dates
from shared.opening_hours import WEEKDAYS, calendar_holidays, parse_span

SECTION = "safety_desk"
MOVED = (
    "the safety desk roster is now the district file's top-level `safety_desk:` section, shared "
    "by notify and the phone front door (`holidays_calendar`, and `roster` shifts with name, "
    'phone, email, days, `hours: "17:30-07:30"`); move `{old}` there'
)
E164 = r"^\+[1-9]\d{6,14}$"
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Shift(_Config):
    """One line of the roster: a desk, how to reach it, the hours it covers."""

    name: str = Field(min_length=1)
    phone: str = Field(pattern=E164, description="the desk's line (E.164): calls and SMS")
    email: EmailStr | None = None
    days: tuple[Day, ...] = Field(
        min_length=1, description="days the shift starts on; `holiday` for the holidays"
    )
    hours: str = Field(
        default="00:00-00:00",
        description='"07:30-17:30"; "17:30-07:30" runs past midnight; "00:00-00:00" all day',
    )

    @field_validator("hours")
    @classmethod
    def _hours_parse(cls, spec: str) -> str:
        parse_span(spec)
        return spec

    def covers(self, local: datetime, holidays: frozenset[date]) -> bool:
        """Whether this shift covers a wall-clock moment of the district's zone."""
        start, end = parse_span(self.hours)
        for day in (local.date(), local.date() - timedelta(days=1)):
            name = "holiday" if day in holidays else WEEKDAYS[day.weekday()]
            if name not in self.days:
                continue
            begins = datetime.combine(day, start)
            ends = datetime.combine(day + timedelta(days=0 if end > start else 1), end)
            if begins <= local.replace(tzinfo=None) < ends:
                return True
        return False


def on_duty(
    roster: Sequence[Shift], moment: datetime, timezone: str, holidays: Iterable[date]
) -> Shift | None:
    """The shift on duty at `moment` (the first of the roster covering it), in the district's
    `timezone`, with `holidays` (days on which only `holiday` shifts start)."""
    local = moment.astimezone(ZoneInfo(timezone))
    days = frozenset(holidays)
    return next((shift for shift in roster if shift.covers(local, days)), None)


def uncovered(roster: Sequence[Shift]) -> str | None:
    """A moment of the week no shift covers ("mon 03:00 after a holiday"), or None.

    Coverage changes only at the shifts' start and end times, so those times on each weekday,
    with and without a holiday on that day and the day before, are all there is to check."""
    times = sorted({time(0, 0)} | {t for s in roster for t in parse_span(s.hours)})
    week = date(2024, 1, 1)  # a Monday
    for offset, at, (before, today) in product(range(7), times, product((False, True), repeat=2)):
        day = week + timedelta(days=7 + offset)
        holidays = frozenset(
            d for d, off in ((day - timedelta(days=1), before), (day, today)) if off
        )
        if on_duty(roster, datetime.combine(day, at, ZoneInfo("UTC")), "UTC", holidays) is None:
            when = f"{WEEKDAYS[day.weekday()]} {at:%H:%M}"
            if today:
                return f"{when} on a holiday"
            return f"{when} after a holiday" if before else when
    return None


class SafetyDeskConfig(_Config):
    """The `safety_desk:` section of the district file."""

    holidays_calendar: str = Field(
        description="the escalation calendar (`escalation.calendars[].id`) whose holidays "
        "are the roster's `holiday`"
    )
    roster: tuple[Shift, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _covers_the_week(self) -> SafetyDeskConfig:
        gap = uncovered(self.roster)
        if gap is not None:
            raise ValueError(
                f"no shift of the roster covers {gap}: a critical concern then would reach no "
                "safety desk and an after-hours call nobody (add a shift, or widen one)"
            )
        return self


class SafetyDesk(_Config):
    """The roster with the district's time zone and holidays: who is on duty when."""

    roster: tuple[Shift, ...]
    timezone: str
    holidays: tuple[Holiday, ...] = ()

    def on_duty(self, moment: datetime) -> Shift | None:
        """The shift on duty at `moment`."""
        local = moment.astimezone(ZoneInfo(self.timezone)).date()
        days = holiday_dates(self.holidays, local - timedelta(days=1), local)
        return on_duty(self.roster, moment, self.timezone, days)


def safety_desk(district: Any) -> SafetyDesk | None:
    """The district's safety desk (`DistrictConfig`), None without a `safety_desk:` section.
    Raises `DistrictConfigError` naming what is wrong (`bureau config check` calls it)."""
    extra = district.model_extra or {}
    if not extra.get(SECTION):
        return None
    config = district.section(SECTION, SafetyDeskConfig)
    holidays = calendar_holidays(
        district, config.holidays_calendar, named_by="safety_desk.holidays_calendar"
    )
    return SafetyDesk(
        roster=config.roster,
        timezone=district.district.timezone,
        holidays=holidays,
    )
