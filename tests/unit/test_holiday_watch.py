"""The holidays-ahead gauge behind the BureauCalendarWithoutHolidays alert (issue 16): it
counts each calendar's holidays in the 365 days from the clock's day (in the district's time
zone), so a list written for one year reads 0 once its last holiday has passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY

from services.escalation.config import CalendarConfig, EscalationConfig
from services.escalation.holiday_watch import holiday_sampler
from shared.clock import FakeClock
from shared.district import load_district
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

CHICAGO = ZoneInfo("America/Chicago")
HOURS = {"mon": "08:00-17:00"}


def ahead(calendar_id: str) -> float | None:
    return REGISTRY.get_sample_value("bureau_calendar_holidays_ahead", {"calendar": calendar_id})


async def test_a_calendar_whose_rules_end_reads_zero_a_year_later() -> None:
    listed = CalendarConfig.model_validate(
        {
            "id": "listed-once",
            "hours": HOURS,
            "holidays": [
                "2026-11-26",
                {"school_year": "2026-2027", "days": [{"from": "2026-12-28", "to": "2027-01-01"}]},
            ],
        }
    )
    clock = FakeClock(datetime(2026, 11, 1, 12, tzinfo=UTC))
    sample = holiday_sampler([listed], clock=clock, timezone=CHICAGO)

    await sample()
    assert ahead("listed-once") == 6  # Thanksgiving and the five days of winter break

    clock.advance(timedelta(days=40))  # Dec 11: Thanksgiving is past
    await sample()
    assert ahead("listed-once") == 5

    clock.advance(timedelta(days=365))  # a year on: the list has run out, the alert's 0
    await sample()
    assert ahead("listed-once") == 0


async def test_the_day_is_the_districts_not_utc() -> None:
    one_day = CalendarConfig.model_validate(
        {"id": "one-day", "hours": HOURS, "holidays": ["2026-12-24"]}
    )
    # 02:00 UTC on Dec 25 is still Dec 24 in Chicago: the holiday is today, counted.
    clock = FakeClock(datetime(2026, 12, 25, 2, tzinfo=UTC))
    sample = holiday_sampler([one_day], clock=clock, timezone=CHICAGO)
    await sample()
    assert ahead("one-day") == 1
    clock.advance(timedelta(hours=6))  # Dec 25 in Chicago too
    await sample()
    assert ahead("one-day") == 0


async def test_the_shipped_calendars_rules_never_run_out() -> None:
    district = load_district(DEFAULT_DISTRICT_CONFIG)
    calendars = district.section("escalation", EscalationConfig).calendars
    clock = FakeClock(datetime(2026, 12, 2, tzinfo=UTC))
    sample = holiday_sampler(calendars, clock=clock, timezone=CHICAGO)
    for _ in range(5):
        await sample()
        assert ahead("business-hours") >= 12  # each of its twelve yearly rules, every year
        clock.advance(timedelta(days=365 * 2 + 17))
