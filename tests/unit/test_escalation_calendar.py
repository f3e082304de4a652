"""Business-hours arithmetic: nights, weekends, holidays and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.escalation.calendar import AroundTheClock, BusinessHours, parse_hours

pytestmark = pytest.mark.unit

CHICAGO = ZoneInfo("America/Chicago")
HOUR = timedelta(hours=1)
OPEN = (time(8, 0), time(17, 0))
# Memorial Day weekend 2026: Saturday 23, Sunday 24, Monday 25 May (a holiday).
MEMORIAL_DAY = date(2026, 5, 25)
CALENDAR = BusinessHours(
    id="business-hours",
    timezone=CHICAGO,
    hours=dict.fromkeys(range(5), OPEN),
    holidays=frozenset({MEMORIAL_DAY, date(2026, 11, 26)}),
)


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=CHICAGO)


def test_time_within_one_business_day_is_plain_addition() -> None:
    assert CALENDAR.add(local(2026, 5, 19, 9, 0), 3 * HOUR) == local(2026, 5, 19, 12, 0)
    assert CALENDAR.between(local(2026, 5, 19, 9, 0), local(2026, 5, 19, 12, 30)) == timedelta(
        hours=3, minutes=30
    )


def test_night_is_skipped() -> None:
    assert CALENDAR.add(local(2026, 5, 19, 16, 0), 2 * HOUR) == local(2026, 5, 20, 9, 0)
    assert CALENDAR.between(local(2026, 5, 19, 16, 0), local(2026, 5, 20, 9, 0)) == 2 * HOUR


def test_start_outside_hours_counts_from_the_next_opening() -> None:
    assert CALENDAR.add(local(2026, 5, 19, 6, 30), HOUR) == local(2026, 5, 19, 9, 0)
    assert CALENDAR.add(local(2026, 5, 19, 20, 0), HOUR) == local(2026, 5, 20, 9, 0)


def test_target_ending_exactly_at_closing_is_due_at_closing() -> None:
    assert CALENDAR.add(local(2026, 5, 19, 8, 0), 9 * HOUR) == local(2026, 5, 19, 17, 0)


def test_zero_work_is_due_at_once_even_when_closed() -> None:
    saturday = local(2026, 5, 23, 11, 0)
    assert CALENDAR.add(saturday, timedelta(0)) == saturday


def test_holiday_weekend_is_skipped_whole() -> None:
    friday_3pm = local(2026, 5, 22, 15, 0)
    # 2 h on Friday; Saturday, Sunday and Memorial Day closed; 1 h more on Tuesday.
    assert CALENDAR.add(friday_3pm, 3 * HOUR) == local(2026, 5, 26, 9, 0)
    assert CALENDAR.between(friday_3pm, local(2026, 5, 26, 17, 0)) == 11 * HOUR
    assert not CALENDAR.is_open(local(2026, 5, 25, 10, 0))


def test_72_business_hours_over_thanksgiving() -> None:
    # Wednesday 25 Nov 2026 09:00; Thanksgiving (26) is a holiday, Friday 27 is open.
    start = local(2026, 11, 25, 9, 0)
    due = CALENDAR.add(start, 72 * HOUR)
    # Wed 8 h, Fri 9 h, Mon-Fri 45 h = 62 h, then Mon 7 Dec 10 h -> Tue 8 Dec 09:00 + 1 h.
    assert due == local(2026, 12, 8, 9, 0)
    assert CALENDAR.between(start, due) == 72 * HOUR


def test_spring_forward_keeps_business_hours_in_local_time() -> None:
    # DST starts Sunday 8 March 2026 at 02:00 in Chicago (UTC-6 -> UTC-5).
    friday_4pm = local(2026, 3, 6, 16, 0)
    due = CALENDAR.add(friday_4pm, 2 * HOUR)
    assert due == local(2026, 3, 9, 9, 0)
    assert due.astimezone(UTC) == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # CDT
    assert friday_4pm.astimezone(UTC) == datetime(2026, 3, 6, 22, 0, tzinfo=UTC)  # CST
    assert CALENDAR.between(friday_4pm, due) == 2 * HOUR


def test_fall_back_keeps_business_hours_in_local_time() -> None:
    # DST ends Sunday 1 November 2026 at 02:00 (UTC-5 -> UTC-6).
    friday_4pm = local(2026, 10, 30, 16, 0)
    due = CALENDAR.add(friday_4pm, 10 * HOUR)
    assert due == local(2026, 11, 2, 17, 0)
    assert due.astimezone(UTC) == datetime(2026, 11, 2, 23, 0, tzinfo=UTC)  # CST


def test_around_the_clock_counts_the_real_hours_of_a_dst_night() -> None:
    calendar = BusinessHours(
        id="24h", timezone=CHICAGO, hours=dict.fromkeys(range(7), (time(0, 0), time(23, 59, 59)))
    )
    # The local day of the spring-forward change has an hour less.
    saturday = calendar.between(local(2026, 3, 7, 0, 0), local(2026, 3, 7, 23, 59, 59))
    sunday = calendar.between(local(2026, 3, 8, 0, 0), local(2026, 3, 8, 23, 59, 59))
    assert saturday - sunday == HOUR
    around = AroundTheClock()
    assert around.between(local(2026, 3, 8, 0, 0), local(2026, 3, 9, 0, 0)) == 23 * HOUR


def test_add_and_between_agree_over_a_year_of_starts() -> None:
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    for step in range(0, 365 * 24, 7):  # every 7 hours through the year, both DST changes
        at = start + step * HOUR
        for work in (timedelta(minutes=30), 9 * HOUR, 72 * HOUR):
            due = CALENDAR.add(at, work)
            assert CALENDAR.between(at, due) == work, (at, work)
            assert CALENDAR.is_open(due - timedelta(seconds=1))


def test_between_is_zero_backwards_and_around_the_clock_never_negative() -> None:
    assert CALENDAR.between(local(2026, 5, 20, 10, 0), local(2026, 5, 19, 10, 0)) == timedelta(0)
    assert AroundTheClock().add(local(2026, 5, 20, 10, 0), -HOUR) == local(2026, 5, 20, 10, 0)


@pytest.mark.parametrize("spec", ["8-17", "17:00-08:00", "08:00", "noon-1pm"])
def test_malformed_opening_hours_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="opening hours"):
        parse_hours(spec)


def test_calendar_without_opening_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="no opening hours"):
        BusinessHours(id="closed", timezone=CHICAGO, hours={})
