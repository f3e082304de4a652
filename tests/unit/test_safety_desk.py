"""The district's safety desk on duty: one roster, so that the desk notify tells of a critical
concern is the desk an after-hours call rings (issues 16 and 20)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.cli import check_config
from frontends.phone.config import phone_config
from frontends.phone.domain import DeskKind, desk_for
from services.notify import audience
from services.notify.config import NotifyConfig
from services.notify.domain import ChannelName
from shared.district import DistrictConfig, DistrictConfigError, load_district
from shared.safety_desk import Shift, on_duty, safety_desk, uncovered
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.unit.test_notify_audience import knife_at_recess

pytestmark = pytest.mark.unit

CHICAGO = "America/Chicago"
DAY = "Safety desk"
WEEKEND = "Security desk (weekends and holidays)"
NIGHT = "Security desk (nights)"
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
ROSTER = [
    Shift.model_validate(shift)
    for shift in (
        {"name": DAY, "phone": "+15555550190", "days": WEEKDAYS, "hours": "07:30-17:30"},
        {"name": WEEKEND, "phone": "+15555550192", "days": ["sat", "sun", "holiday"]},
        {
            "name": NIGHT,
            "phone": "+15555550191",
            "days": ["sun", *WEEKDAYS, "holiday"],
            "hours": "17:30-07:30",
        },
    )
]
MLK_DAY = date(2026, 1, 19)  # a Monday
HOLIDAYS = [MLK_DAY]

# Chicago wall-clock moments (CST, UTC-6) and the shift on duty at each.
MOMENTS = {
    "weekday day shift (Tuesday 10:00)": (datetime(2026, 3, 3, 16, 0, tzinfo=UTC), DAY),
    "weeknight past midnight (Thursday 01:00)": (datetime(2026, 3, 5, 7, 0, tzinfo=UTC), NIGHT),
    "weeknight evening (Wednesday 20:00)": (datetime(2026, 3, 5, 2, 0, tzinfo=UTC), NIGHT),
    "Sunday night (22:00)": (datetime(2026, 3, 2, 4, 0, tzinfo=UTC), WEEKEND),
    "Sunday's night past midnight (Monday 03:00)": (datetime(2026, 3, 2, 9, 0, tzinfo=UTC), NIGHT),
    "weekday holiday (MLK Day 10:00)": (datetime(2026, 1, 19, 16, 0, tzinfo=UTC), WEEKEND),
    "night after a holiday (Tuesday 03:00)": (datetime(2026, 1, 20, 9, 0, tzinfo=UTC), NIGHT),
    "weekend (Saturday 14:00)": (datetime(2026, 3, 7, 20, 0, tzinfo=UTC), WEEKEND),
}


@pytest.mark.parametrize(("moment", "expected"), MOMENTS.values(), ids=MOMENTS.keys())
def test_exactly_one_shift_is_on_duty_at_each_moment_of_the_week(
    moment: datetime, expected: str
) -> None:
    shift = on_duty(ROSTER, moment, CHICAGO, HOLIDAYS)

    assert shift is not None and shift.name == expected


def test_on_a_weekday_holiday_the_weekday_shift_does_not_start() -> None:
    mlk_10am = datetime(2026, 1, 19, 16, 0, tzinfo=UTC)
    the_next_monday = datetime(2026, 1, 26, 16, 0, tzinfo=UTC)

    assert on_duty(ROSTER, mlk_10am, CHICAGO, []).name == DAY  # type: ignore[union-attr]
    assert on_duty(ROSTER, mlk_10am, CHICAGO, HOLIDAYS).name == WEEKEND  # type: ignore[union-attr]
    assert on_duty(ROSTER, the_next_monday, CHICAGO, HOLIDAYS).name == DAY  # type: ignore[union-attr]


def test_a_shift_is_read_in_the_districts_time_zone() -> None:
    tuesday_8am_chicago = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)  # 06:00 in Los Angeles

    assert on_duty(ROSTER, tuesday_8am_chicago, CHICAGO, []).name == DAY  # type: ignore[union-attr]
    in_los_angeles = on_duty(ROSTER, tuesday_8am_chicago, "America/Los_Angeles", [])
    assert in_los_angeles is not None and in_los_angeles.name == NIGHT


def test_a_roster_with_a_gap_names_the_moment_nobody_covers() -> None:
    no_weekend_nights = [ROSTER[0], ROSTER[1], ROSTER[2].model_copy(update={"days": WEEKDAYS})]

    assert uncovered(ROSTER) is None
    assert uncovered(ROSTER[:2]) == "mon 00:00"
    assert uncovered(no_weekend_nights) == "mon 00:00"  # Sunday's night is nobody's
    holiday_nights = [*ROSTER[:2], ROSTER[2].model_copy(update={"days": ["sun", *WEEKDAYS]})]
    assert uncovered(holiday_nights) == "mon 00:00 after a holiday"  # Sunday, a holiday


# --- notify and the phone read the same roster ---------------------------------------------


def shipped() -> DistrictConfig:
    return load_district(DEFAULT_DISTRICT_CONFIG)


def told(district: DistrictConfig, at: datetime) -> set[tuple[str | None, str | None]]:
    """The safety desk shifts notify tells of a critical concern at `at`: (name, address)."""
    planned = audience.plan(
        "x",
        knife_at_recess(at),
        facts=None,
        district=district,
        config=NotifyConfig(),
        available=frozenset({ChannelName.EMAIL, ChannelName.SMS}),
    )
    return {(p.name, p.address) for p in planned if p.recipient.startswith("safety-desk:")}


@pytest.mark.parametrize(("moment", "expected"), MOMENTS.values(), ids=MOMENTS.keys())
def test_notify_tells_the_shift_on_duty_and_the_phone_rings_the_same_one(
    moment: datetime, expected: str
) -> None:
    district = shipped()
    desk = desk_for(moment, phone_config(district), district.district.timezone)
    names = {name for name, _ in told(district, moment)}

    assert names == {expected}
    if desk.kind is DeskKind.SECURITY_DESK:  # after the Service Desk's hours
        assert desk.name == expected
        assert (expected, desk.number) in told(district, moment)
    else:  # in its hours the Service Desk answers calls; the day desk still hears at once
        assert expected == DAY


def test_the_service_desk_closes_on_the_calendars_holidays_of_any_year() -> None:
    district = shipped()
    config = phone_config(district)
    mlk_day_2027_10am = datetime(2027, 1, 18, 16, 0, tzinfo=UTC)  # a rule, not a listed date
    a_monday_later_10am = datetime(2027, 1, 25, 16, 0, tzinfo=UTC)

    on_holiday = desk_for(mlk_day_2027_10am, config, district.district.timezone)
    assert (on_holiday.kind, on_holiday.name) == (DeskKind.SECURITY_DESK, WEEKEND)
    assert {name for name, _ in told(district, mlk_day_2027_10am)} == {WEEKEND}
    open_again = desk_for(a_monday_later_10am, config, district.district.timezone)
    assert open_again.kind is DeskKind.SERVICE_DESK


def test_the_safety_desk_is_told_by_email_and_sms() -> None:
    tuesday_10am = MOMENTS["weekday day shift (Tuesday 10:00)"][0]

    assert told(shipped(), tuesday_10am) == {
        (DAY, "safety.desk@district.example"),
        (DAY, "+15555550190"),
    }


def test_a_district_without_a_roster_tells_no_safety_desk_and_has_no_phone_door() -> None:
    raw = shipped().model_dump(mode="json")
    del raw["safety_desk"]
    district = DistrictConfig.model_validate(raw)

    assert safety_desk(district) is None
    assert told(district, MOMENTS["weekend (Saturday 14:00)"][0]) == set()
    with pytest.raises(DistrictConfigError, match="no `safety_desk:` roster"):
        phone_config(district)


# --- `bureau config check` ------------------------------------------------------------------


def checked(tmp_path: Path, change: Any, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    raw = copy.deepcopy(yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text(encoding="utf-8")))
    change(raw)
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    code = check_config(path)
    return code, capsys.readouterr().err


def test_config_check_accepts_the_shipped_roster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert checked(tmp_path, lambda raw: None, capsys) == (0, "")


def test_config_check_says_where_the_old_notify_safety_desk_went(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def old_key(raw: dict[str, Any]) -> None:
        raw["notify"]["safety_desk"] = [{"name": "Safety desk", "email": "s@district.example"}]

    code, err = checked(tmp_path, old_key, capsys)

    assert code == 1
    assert "top-level `safety_desk:` section" in err and "move `notify.safety_desk` there" in err


def test_config_check_says_where_the_old_phone_security_desk_went(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def old_key(raw: dict[str, Any]) -> None:
        raw["phone"]["security_desk"] = {"number": "+15555550190", "roster": []}

    code, err = checked(tmp_path, old_key, capsys)

    assert code == 1 and "move `phone.security_desk` there" in err


def test_config_check_says_where_the_service_desks_holidays_are_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def own_list(raw: dict[str, Any]) -> None:
        raw["phone"]["service_desk"]["holidays"] = ["2026-12-25"]

    code, err = checked(tmp_path, own_list, capsys)

    assert code == 1 and "name it in `holidays_calendar` instead" in err


def test_config_check_refuses_a_roster_that_leaves_a_moment_uncovered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_nights(raw: dict[str, Any]) -> None:
        raw["safety_desk"]["roster"] = raw["safety_desk"]["roster"][:2]

    code, err = checked(tmp_path, no_nights, capsys)

    assert code == 1 and "no shift of the roster covers mon 00:00" in err


def test_config_check_refuses_an_unknown_holidays_calendar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def unknown(raw: dict[str, Any]) -> None:
        raw["safety_desk"]["holidays_calendar"] = "school-days"

    code, err = checked(tmp_path, unknown, capsys)

    assert code == 1
    assert "no escalation calendar 'school-days' (calendars: business-hours)" in err


def test_config_check_refuses_a_shift_without_a_phone_in_e164(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def local_number(raw: dict[str, Any]) -> None:
        raw["safety_desk"]["roster"][0]["phone"] = "555-0190"

    code, err = checked(tmp_path, local_number, capsys)

    assert code == 1 and "safety_desk" in err and "roster.0.phone" in err
