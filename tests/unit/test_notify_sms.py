"""SMS length (GSM-7 and UCS-2 segments) and quiet hours across daylight saving time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from services.notify import sms

pytestmark = pytest.mark.unit

CHICAGO = "America/Chicago"
NIGHT, MORNING = time(21, 0), time(8, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("é" * 160, 1),  # é is in GSM-7
        ("ó" * 70, 1),  # ó is not: UCS-2
        ("ó" * 71, 2),
        ("ó" * 134, 2),
        ("ó" * 135, 3),
        ("€" * 80, 1),  # extension characters cost two septets
        ("€" * 81, 2),
    ],
)
def test_segments_count_gsm7_and_ucs2_lengths(text: str, expected: int) -> None:
    assert sms.segments(text) == expected


def test_emoji_counts_as_two_ucs2_units() -> None:
    assert sms.segments("🙂" * 35) == 1
    assert sms.segments("🙂" * 36) == 2


def test_fit_leaves_a_short_text_whole_but_collapses_whitespace() -> None:
    assert sms.fit("Your concern\n\n  was resolved.", 1) == "Your concern was resolved."


@pytest.mark.parametrize("max_segments", [1, 2, 3])
def test_fit_cuts_a_long_text_at_a_word_within_the_limit(max_segments: int) -> None:
    text = "The bus route now stops at your corner again. " * 30

    fitted = sms.fit(text, max_segments)

    assert sms.segments(fitted) == max_segments
    assert fitted.endswith("...")
    assert text.startswith(fitted[:-3])
    assert fitted[-4] != " "


def test_fit_counts_ucs2_room_for_spanish_accents() -> None:
    fitted = sms.fit("Su inquietud está resuelta. " * 20, 2)

    assert sms.segments(fitted) == 2
    assert len(fitted) <= 134


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        (time(20, 59), False),
        (time(21, 0), True),
        (time(23, 30), True),
        (time(0, 0), True),
        (time(7, 59), True),
        (time(8, 0), False),
        (time(12, 0), False),
    ],
)
def test_quiet_hours_span_midnight(local: time, quiet: bool) -> None:
    assert sms.in_quiet_hours(local, start=NIGHT, end=MORNING) is quiet


def test_quiet_hours_within_one_day() -> None:
    assert sms.in_quiet_hours(time(13, 0), start=time(12, 0), end=time(14, 0))
    assert not sms.in_quiet_hours(time(14, 0), start=time(12, 0), end=time(14, 0))
    assert not sms.in_quiet_hours(time(3, 0), start=time(8, 0), end=time(8, 0))


def release(moment: datetime) -> datetime:
    return sms.release_time(moment, timezone=CHICAGO, start=NIGHT, end=MORNING)


def test_daytime_sms_goes_at_once() -> None:
    noon = datetime(2026, 1, 15, 18, 0, tzinfo=UTC)  # 12:00 CST

    assert release(noon) == noon


def test_evening_sms_waits_until_eight_the_next_morning_in_winter() -> None:
    evening = datetime(2026, 1, 16, 4, 0, tzinfo=UTC)  # 22:00 CST on 15 January

    assert release(evening) == datetime(2026, 1, 16, 14, 0, tzinfo=UTC)  # 08:00 CST


def test_small_hours_sms_waits_until_eight_the_same_morning_in_summer() -> None:
    small_hours = datetime(2026, 7, 1, 7, 30, tzinfo=UTC)  # 02:30 CDT

    assert release(small_hours) == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)  # 08:00 CDT


def test_night_before_spring_forward_releases_at_eight_daylight_time() -> None:
    # Saturday 7 March 2026, 22:00 CST; clocks go forward at 02:00 on Sunday 8 March
    saturday_night = datetime(2026, 3, 8, 4, 0, tzinfo=UTC)

    released = release(saturday_night)

    assert released == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # 08:00 CDT, UTC-5
    assert released - saturday_night == timedelta(hours=9)  # one hour of the night is lost


def test_night_before_fall_back_releases_at_eight_standard_time() -> None:
    # Saturday 31 October 2026, 22:00 CDT; clocks go back at 02:00 on Sunday 1 November
    saturday_night = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)

    assert release(saturday_night) == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)  # 08:00 CST


def test_repeated_hour_at_fall_back_is_quiet_both_times() -> None:
    first_one_thirty = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 CDT
    second_one_thirty = datetime(2026, 11, 1, 7, 30, tzinfo=UTC)  # 01:30 CST

    assert (
        release(first_one_thirty)
        == release(second_one_thirty)
        == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    )


def test_morning_inside_a_dst_gap_is_released_just_after_the_gap() -> None:
    # quiet until 02:30, a wall-clock time that does not exist on 8 March 2026 in Chicago
    one_am = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 01:00 CST

    released = sms.release_time(one_am, timezone=CHICAGO, start=time(22, 0), end=time(2, 30))

    assert released == datetime(2026, 3, 8, 8, 30, tzinfo=UTC)  # 03:30 CDT


def test_release_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError):
        release(datetime(2026, 1, 1, 23, 0))
