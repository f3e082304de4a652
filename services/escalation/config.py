"""Escalation's section of the district file (`escalation:`): its calendars, the settings it
adds to the district's SLA policies, and the supervisors of concerns without a school."""

from __future__ import annotations

from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from services.escalation.calendar import AROUND_THE_CLOCK, WEEKDAYS, BusinessHours, parse_hours
from services.escalation.policies import POLICY_ID, PolicySettings, _Model
from shared.holidays import Holiday, next_year_without
from shared.holidays import dates as holiday_dates

# The years a calendar's holiday rules are expanded over (its arithmetic looks ten years on).
HOLIDAY_SPAN = (date(2000, 1, 1), date(2100, 12, 31))


class CalendarConfig(_Model):
    """Business hours in the district's time zone: `mon: "08:00-17:00"`, and holidays: dates,
    and the rules districts have (`shared/holidays.py`: every year, n-th weekday, ranges,
    a list per school year)."""

    id: str = Field(pattern=POLICY_ID)
    hours: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], str] = Field(min_length=1)
    holidays: list[Holiday] = Field(default_factory=list)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, str]) -> dict[str, str]:
        for spec in value.values():
            parse_hours(spec)
        return value

    def build(self, timezone: ZoneInfo) -> BusinessHours:
        """The calendar this configuration describes."""
        return BusinessHours(
            id=self.id,
            timezone=timezone,
            hours={WEEKDAYS.index(day): parse_hours(spec) for day, spec in self.hours.items()},
            holidays=holiday_dates(self.holidays, *HOLIDAY_SPAN),
        )

    def lacks_holidays(self, today: date) -> bool:
        """No holiday in the 12 months from `today` (`bureau config check` warns)."""
        return next_year_without(self.holidays, today)


class EscalationConfig(_Model):
    """The `escalation:` section of the district file."""

    calendars: list[CalendarConfig] = Field(default_factory=list)
    defaults: PolicySettings = PolicySettings()
    policies: dict[str, PolicySettings] = Field(
        default_factory=dict, description="settings of the `sla.policies` entry with this id"
    )
    department_supervisors: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "level 2 of a concern without a school: team id (or `*` for any) -> the staff id of "
            "its assistant superintendent"
        ),
    )
    long_overdue_s: int = Field(
        default=4 * 24 * 3600,
        gt=0,
        description=(
            "an open concern this long past its resolution target shows in the Ombudsperson view"
        ),
    )

    @model_validator(mode="after")
    def _unique_calendars(self) -> EscalationConfig:
        ids = [c.id for c in self.calendars]
        if len(ids) != len(set(ids)) or AROUND_THE_CLOCK in ids:
            raise ValueError(f"calendar ids must be unique and not {AROUND_THE_CLOCK!r}")
        return self
