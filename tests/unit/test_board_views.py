"""The Board's standards that are not measured on SLA clocks, as the dashboard computes them
from intake's call report and triage's training coverage: calls answered, time to answer,
callbacks on time, staff trained and the pledge signed; each kept, missed or without data."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from frontends.web.board import views
from services.escalation.standards import Measure, Milestone, Standard
from tests.unit.test_standards_information import FIVE_DAYS

pytestmark = pytest.mark.unit


def standard(measure: Measure, target: float) -> Standard:
    return Standard(id=measure.value, name=measure.value, measure=measure, target=target)


STANDARDS = [
    standard(Measure.CALLS_ANSWERED, 0.9),
    standard(Measure.CALL_ANSWER_P90_S, 30),
    standard(Measure.CALLBACKS_ON_TIME, 0.9),
    standard(Measure.STAFF_TRAINED, 0.9),
    standard(Measure.PLEDGE_SIGNED, 1.0),
    standard(Measure.RESOLVED_WITHIN_GUARANTEE, 0.9),
]


def calls(**changes: Any) -> dict[str, Any]:
    """A month of intake's call report: 20 calls, 18 answered."""
    return {
        "calls": 20,
        "answered": 18,
        "p90_answer_s": 30.0,
        "callbacks_due": 4,
        "callbacks_on_time": 0.75,
        **changes,
    }


def coverage(trained: float | None, pledged: float | None) -> dict[str, Any]:
    return {"total": {"staff": 10, "trained_share": trained, "pledged_share": pledged}}


def kept(
    calls_report: dict[str, Any] | None, training: dict[str, Any] | None
) -> dict[str, bool | None]:
    clock_rows = [
        {
            "standard": Measure.RESOLVED_WITHIN_GUARANTEE.value,
            "name": "resolve",
            "measure": Measure.RESOLVED_WITHIN_GUARANTEE.value,
            "target": 0.9,
            "value": 0.95,
            "met": True,
        }
    ]
    items = views.all_compliance(STANDARDS, clock_rows, views.other_values(calls_report, training))
    return {item.standard: item.met for item in items}


def test_calls_answered_is_the_share_of_calls_served_and_time_to_answer_is_at_most() -> None:
    met = kept(calls(), coverage(0.9, 1.0))
    assert met["calls_answered"] is True  # 18 of 20: exactly the target
    assert met["call_answer_p90_s"] is True  # 30 s: at most the target
    assert met["callbacks_on_time"] is False  # 3 of 4
    assert met["resolved_within_guarantee"] is True  # as escalation computed it

    slower = kept(calls(answered=17, p90_answer_s=31.0), coverage(0.9, 1.0))
    assert slower["calls_answered"] is False and slower["call_answer_p90_s"] is False


def test_no_calls_and_no_callbacks_due_are_no_data_not_a_missed_standard() -> None:
    met = kept(
        calls(calls=0, answered=0, p90_answer_s=None, callbacks_due=0, callbacks_on_time=None),
        coverage(0.5, 0.5),
    )
    assert met["calls_answered"] is None
    assert met["call_answer_p90_s"] is None
    assert met["callbacks_on_time"] is None


def test_training_and_pledge_are_the_shares_of_staff_and_unknown_without_coverage() -> None:
    met = kept(calls(), coverage(0.95, 0.8))
    assert met["staff_trained"] is True and met["pledge_signed"] is False
    unknown = kept(None, None)  # the services did not answer: nothing is claimed
    assert {k: v for k, v in unknown.items() if k != "resolved_within_guarantee"} == {
        "calls_answered": None,
        "call_answer_p90_s": None,
        "callbacks_on_time": None,
        "staff_trained": None,
        "pledge_signed": None,
    }


def test_a_training_milestone_is_met_when_the_share_of_staff_trained_reaches_it() -> None:
    milestone = Milestone(
        name="90% of staff trained",
        due=date(2026, 12, 31),
        measure=Measure.STAFF_TRAINED,
        target=0.9,
    )
    [before] = views.milestones(
        [milestone], views.other_values(None, coverage(0.5, 0.5)), date(2027, 1, 5)
    )
    [after] = views.milestones(
        [milestone], views.other_values(None, coverage(0.9, 0.5)), date(2027, 1, 5)
    )
    assert (before.met, before.late) == (False, True)
    assert (after.met, after.late) == (True, False)


def group(key: str, **figures: Any) -> dict[str, Any]:
    return {
        "key": key,
        "received": 0,
        "resolved": 0,
        "backlog": {"under_24h": 0, "24h_to_72h": 0, "72h_to_7d": 0, "over_7d": 0},
        "resolved_within_guarantee": None,
        "first_response_within_target": None,
        "satisfaction_mean": None,
        **figures,
    }


def test_a_group_left_with_only_zeros_is_not_a_row_of_the_board() -> None:
    """Every concern is counted under "Not yet routed" when it arrives and moved to its team
    when routed: the dashboard showed a "Not yet routed" row of zeros and "no data" beside
    the teams, every month."""
    chart = views.group_chart(
        "team",
        [
            group("none"),
            group("transportation", received=2, backlog={"under_24h": 2}),
            group("enrollment", satisfaction_mean=4.5),  # a survey of an earlier concern
        ],
        {"none": "Not yet routed", "transportation": "Transport", "enrollment": "Enrollment"},
        72,
        0.9,
    )
    assert [row[0] for row in chart.rows] == ["Transport", "Enrollment"]
    assert [bar.label for bar in chart.bars] == ["Transport", "Enrollment"]


def test_each_school_shows_its_share_of_information_requests_answered_in_time() -> None:
    """The standard "information requests answered within N days" by school: a column of each
    group's share, and a group whose only figure is a request for information (asked about a
    concern received in an earlier month) is a row."""

    def answered(value: float | None) -> list[dict[str, Any]]:
        return [{"standard": FIVE_DAYS.id, "value": value}]

    chart = views.group_chart(
        "school",
        [
            group("lincoln-es", received=3, standards=answered(0.5), information_requests=2),
            group("roosevelt-ms", standards=answered(1.0), information_requests=1),
            group("jefferson-hs", received=1, standards=answered(None)),
        ],
        {"lincoln-es": "Lincoln", "roosevelt-ms": "Roosevelt", "jefferson-hs": "Jefferson"},
        72,
        0.9,
        FIVE_DAYS,
    )
    column = chart.columns.index("Information answered within 5 days")
    assert {row[0]: row[column] for row in chart.rows} == {
        "Lincoln": "50%",
        "Roosevelt": "100%",
        "Jefferson": "no data",
    }
    without = views.group_chart("school", [group("lincoln-es", received=1)], {}, 72, 0.9)
    assert not any("Information" in c for c in without.columns)


def test_each_standard_is_kept_or_not_month_by_month() -> None:
    """The dashboard's table of the months: a clock standard as escalation computed it each
    month, calls answered from intake's month, a standard from too few cases not shown, and
    training and the pledge (counted as they are today) not a column."""

    def resolve(value: float | None, met: bool | None) -> dict[str, Any]:
        return {
            "standard": Measure.RESOLVED_WITHIN_GUARANTEE.value,
            "name": "resolve",
            "measure": Measure.RESOLVED_WITHIN_GUARANTEE.value,
            "target": 0.9,
            "value": value,
            "met": met,
        }

    months = [
        {"month": "2026-02", "standards": [resolve(0.95, True)]},
        {"month": "2026-03", "standards": [resolve(0.5, False)]},
        {
            "month": "2026-04",
            "standards": [resolve(None, None)],
            "suppressed": ["standards.resolved_within_guarantee"],
        },
    ]
    call_months = [
        {"month": "2026-02", "answered_share": 0.8, "p90_answer_s": 20.0},
        {"month": "2026-03", "answered_share": None, "p90_answer_s": None},
        {
            "month": "2026-04",
            "answered_share": None,
            "p90_answer_s": None,
            "suppressed": ["answered_share", "p90_answer_s"],
        },
    ]
    table = views.standards_by_month(STANDARDS, months, call_months, below=5)
    not_shown = "not shown: fewer than 5 cases"
    assert table.columns == (
        "Month",
        "calls_answered",
        "call_answer_p90_s",
        "callbacks_on_time",
        "resolved_within_guarantee",
    )
    assert [list(row) for row in table.rows] == [
        ["February 2026", "80%, not met", "20 seconds, met", "no data", "95%, met"],
        ["March 2026", "no data", "no data", "no data", "50%, not met"],
        ["April 2026", not_shown, not_shown, "no data", not_shown],
    ]
    assert "resolved_within_guarantee: kept in 1 of 2 months measured" in table.summary
    assert "calls_answered: kept in 0 of 1 months measured" in table.summary
