"""Holidays as districts write them: a date, a date every year (observed on the nearest
weekday when it falls on a weekend), the n-th weekday of a month ("fourth Thursday of
November", "last Monday of May", with an offset for "the day after"), a range (winter break),
and a list per school year. `dates` turns them into the days they name. Pure."""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MonthDay = Annotated[str, Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = None


class Yearly(_Rule):
    """The same date every year, e.g. `{every: "07-04", observed: true}`: when observed, a
    Saturday moves to the Friday before, a Sunday to the Monday after."""

    every: MonthDay
    observed: bool = False

    def on(self, year: int) -> list[date]:
        month, day = (int(part) for part in self.every.split("-"))
        if day > _calendar.monthrange(year, month)[1]:
            return []  # 02-29 in a common year
        found = date(year, month, day)
        if self.observed and found.weekday() == 5:
            found -= timedelta(days=1)
        elif self.observed and found.weekday() == 6:
            found += timedelta(days=1)
        return [found]


class NthWeekday(_Rule):
    """The n-th weekday of a month: `{nth: 4, weekday: thu, month: 11}` (Thanksgiving);
    `nth: -1` is the last; `offset_days: 1` the day after (the Friday after Thanksgiving)."""

    nth: int = Field(ge=-5, le=5)
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    month: int = Field(ge=1, le=12)
    offset_days: int = Field(default=0, ge=-6, le=6)

    @model_validator(mode="after")
    def _not_zero(self) -> NthWeekday:
        if self.nth == 0:
            raise ValueError("nth counts from 1 (first) or from -1 (last)")
        return self

    def on(self, year: int) -> list[date]:
        wanted = WEEKDAY_NAMES.index(self.weekday)
        days = [
            date(year, self.month, d)
            for d in range(1, _calendar.monthrange(year, self.month)[1] + 1)
            if date(year, self.month, d).weekday() == wanted
        ]
        index = self.nth - 1 if self.nth > 0 else self.nth
        if not -len(days) <= index < len(days):
            return []  # no fifth Monday this year
        return [days[index] + timedelta(days=self.offset_days)]


class DateRange(_Rule):
    """Every day from `from` to `to`, both included (a break)."""

    start: date = Field(alias="from")
    end: date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise ValueError(f"a range ends ({self.end}) before it starts ({self.start})")
        if (self.end - self.start).days > 366:
            raise ValueError("a range of holidays longer than a year")
        return self

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


class SchoolYear(_Rule):
    """The days a school year's calendar lists: `{school_year: 2026-2027, days: [...]}`,
    dates and ranges (its breaks)."""

    school_year: str = Field(pattern=r"^\d{4}-\d{4}$")
    days: list[date | DateRange] = Field(min_length=1)

    @model_validator(mode="after")
    def _consecutive(self) -> SchoolYear:
        first, second = (int(y) for y in self.school_year.split("-"))
        if second != first + 1:
            raise ValueError(f"school year {self.school_year}: two consecutive years")
        return self


Holiday = date | Yearly | NthWeekday | DateRange | SchoolYear


def dates(rules: Iterable[Holiday], start: date, end: date) -> frozenset[date]:
    """Every holiday the rules name from `start` to `end`, both included."""
    found: set[date] = set()
    for rule in rules:
        if isinstance(rule, date):
            found.add(rule)
        elif isinstance(rule, Yearly | NthWeekday):
            for year in range(start.year - 1, end.year + 2):  # observed days cross a year
                found.update(rule.on(year))
        elif isinstance(rule, DateRange):
            found.update(rule.days())
        else:
            for day in rule.days:
                found.update(day.days() if isinstance(day, DateRange) else [day])
    return frozenset(d for d in found if start <= d <= end)


def next_year_without(rules: Iterable[Holiday], today: date) -> bool:
    """Whether the rules name no holiday in the 12 months from `today` (a calendar someone
    forgot to extend: every holiday would count as a working day, silently)."""
    return not dates(rules, today, today + timedelta(days=365))
