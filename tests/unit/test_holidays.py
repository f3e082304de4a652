"""Holidays as districts write them (issue 16): dates, every year (observed on a weekday),
the n-th weekday of a month, ranges such as winter break, a list per school year; the
shipped calendar keeps counting holidays after 2026, and `bureau config check` warns when a
calendar names none in the coming 12 months."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from devtools import cli
from services.escalation.config import CalendarConfig, EscalationConfig
from shared.district import load_district
from shared.holidays import Holiday, dates
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

RULES = TypeAdapter(list[Holiday])
SHIPPED = load_district(DEFAULT_DISTRICT_CONFIG).section("escalation", EscalationConfig)
BUSINESS_HOURS = next(c for c in SHIPPED.calendars if c.id == "business-hours")
# The list the district file carried, by hand, for 2026 only.
HAND_WRITTEN_2026 = [
    date(2026, 1, 1),
    date(2026, 1, 19),
    date(2026, 2, 16),
    date(2026, 5, 25),
    date(2026, 6, 19),
    date(2026, 7, 3),
    date(2026, 9, 7),
    date(2026, 11, 11),
    date(2026, 11, 26),
    date(2026, 11, 27),
    date(2026, 12, 24),
    date(2026, 12, 25),
]


def in_year(rules: list[object], year: int) -> list[date]:
    return sorted(dates(RULES.validate_python(rules), date(year, 1, 1), date(year, 12, 31)))


def test_nth_weekday_rules_name_thanksgiving_the_day_after_and_the_last_monday_of_may() -> None:
    thanksgiving = {"nth": 4, "weekday": "thu", "month": 11}
    assert in_year([thanksgiving], 2027) == [date(2027, 11, 25)]
    assert in_year([thanksgiving | {"offset_days": 1}], 2028) == [date(2028, 11, 24)]
    assert in_year([{"nth": -1, "weekday": "mon", "month": 5}], 2027) == [date(2027, 5, 31)]
    assert in_year([{"nth": 5, "weekday": "mon", "month": 2}], 2027) == []  # none that year


def test_a_yearly_date_is_observed_on_the_nearest_weekday_when_asked() -> None:
    assert in_year([{"every": "07-04", "observed": True}], 2026) == [date(2026, 7, 3)]  # Sat
    assert in_year([{"every": "07-04", "observed": True}], 2027) == [date(2027, 7, 5)]  # Sun
    assert in_year([{"every": "07-04"}], 2027) == [date(2027, 7, 4)]
    # New Year's Day 2028 is a Saturday: observed on Friday 2027-12-31
    assert in_year([{"every": "01-01", "observed": True}], 2027) == [
        date(2027, 1, 1),
        date(2027, 12, 31),
    ]


def test_ranges_and_school_year_lists_name_every_day_of_a_break() -> None:
    winter = {"from": date(2026, 12, 21), "to": date(2027, 1, 1), "name": "Winter break"}
    assert len(in_year([winter], 2026)) == 11 and in_year([winter], 2027) == [date(2027, 1, 1)]
    year = {"school_year": "2026-2027", "days": [winter, date(2027, 3, 15)]}
    assert in_year([year], 2027) == [date(2027, 1, 1), date(2027, 3, 15)]


@pytest.mark.parametrize(
    "rule",
    [
        {"nth": 0, "weekday": "mon", "month": 1},
        {"every": "13-01"},
        {"from": date(2027, 1, 2), "to": date(2027, 1, 1)},
        {"school_year": "2026-2028", "days": [date(2027, 1, 1)]},
        {"nth": 1, "weekday": "someday", "month": 1},
    ],
)
def test_a_rule_that_names_no_real_day_is_refused(rule: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RULES.validate_python([rule])


def test_the_shipped_rules_give_the_hand_written_2026_list_and_every_later_year() -> None:
    assert in_year(BUSINESS_HOURS.model_dump(by_alias=True)["holidays"], 2026) == HAND_WRITTEN_2026
    calendar = BUSINESS_HOURS.build(ZoneInfo("America/Chicago"))
    assert date(2027, 11, 25) in calendar.holidays  # Thanksgiving 2027: no longer a work day
    wednesday = datetime(2027, 11, 24, 23, 30, tzinfo=UTC)  # 17:30 in Chicago, closed
    assert calendar.next_open(wednesday).date() == date(2027, 11, 29)  # the Monday after


def write(tmp_path: Path, holidays: list[object]) -> Path:
    raw = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    raw["escalation"]["calendars"][0]["holidays"] = holidays
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_config_check_warns_of_a_calendar_without_holidays_in_the_coming_year(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = write(tmp_path, [date(2020, 1, 1)])
    assert cli.main(["config", "check", str(stale)]) == 0  # a warning, not a refusal
    assert "warning: calendar business-hours has no holidays" in capsys.readouterr().err
    assert cli.main(["config", "check", str(DEFAULT_DISTRICT_CONFIG)]) == 0
    assert "warning" not in capsys.readouterr().err
    config = CalendarConfig.model_validate(
        {"id": "x", "hours": {"mon": "08:00-17:00"}, "holidays": [date(2027, 1, 1)]}
    )
    assert not config.lacks_holidays(date(2026, 6, 1))
    assert config.lacks_holidays(date(2027, 1, 2))
