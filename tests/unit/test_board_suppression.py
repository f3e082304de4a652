"""Small-cell suppression of the Board's group figures, on hand-made figures: a count under the
district's threshold is not shown, nor a share or mean from fewer cases; zero is shown; a lone
suppressed group takes the next-smallest with it; 0 turns it off; only a Board member (not
staff who report) reads suppressed figures; pages read "fewer than 5", CSV an empty cell with
a note."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from frontends.web.board import views
from services.escalation import board
from services.intake import call_months
from services.intake import calls as calls_api
from shared import disclosure
from shared.auth import Principal, Role
from shared.authz import TABLE, Permission
from shared.board import BoardConfig

pytestmark = pytest.mark.unit

COUNTS = ("received", "resolved")
SHARES = {"within": "resolved"}


def row(key: str, received: int, resolved: int, within: float | None = 1.0) -> dict[str, Any]:
    return {"key": key, "received": received, "resolved": resolved, "within": within}


def test_a_count_under_the_threshold_and_a_share_from_it_are_not_shown() -> None:
    out = disclosure.suppress_row(row("sped", 9, 1), 5, counts=COUNTS, shares=SHARES)
    assert (out["received"], out["resolved"], out["within"]) == (9, None, None)
    assert out["suppressed"] == ["resolved", "within"]


def test_zero_and_counts_at_the_threshold_are_shown() -> None:
    out = disclosure.suppress_row(row("a", 0, 5, 0.4), 5, counts=COUNTS, shares=SHARES)
    assert (out["received"], out["resolved"], out["within"], out["suppressed"]) == (
        0,
        5,
        0.4,
        [],
    )
    assert [n for n in range(8) if disclosure.hidden(n, 5)] == [1, 2, 3, 4]


def test_zero_as_the_threshold_turns_suppression_off() -> None:
    table = [row("a", 1, 1), row("b", 2, 2)]
    out = disclosure.suppress_table(table, 0, counts=COUNTS, shares=SHARES)
    assert [(r["received"], r["resolved"], r["suppressed"]) for r in out] == [
        (1, 1, []),
        (2, 2, []),
    ]


def test_nested_counts_are_suppressed_one_by_one() -> None:
    figures = {"backlog": {"under_24h": 2, "over_7d": 7, "24h_to_72h": 0}}
    out = disclosure.suppress_row(figures, 5, counts=(), shares={}, nested=("backlog",))
    assert out["backlog"] == {"under_24h": None, "over_7d": 7, "24h_to_72h": 0}
    assert out["suppressed"] == ["backlog.under_24h"]


def test_a_lone_suppressed_group_takes_the_next_smallest_with_it() -> None:
    """With the total shown, one hidden group would be the total minus the others."""
    table = [row("lincoln", 40, 40), row("sped", 2, 9), row("roosevelt", 12, 12), row("x", 0, 0)]
    out = {r["key"]: r for r in disclosure.suppress_table(table, 5, counts=COUNTS, shares=SHARES)}
    assert out["sped"]["received"] is None
    assert out["roosevelt"]["received"] is None  # the next smallest non-zero
    assert "received" in out["roosevelt"]["suppressed"]
    assert out["roosevelt"]["within"] == 1.0  # its share rests on 12 resolved: shown
    assert out["lincoln"]["received"] == 40 and out["x"]["received"] == 0
    assert out["sped"]["resolved"] == 9  # a column with nothing hidden is untouched


def test_two_suppressed_groups_need_no_complement() -> None:
    table = [row("a", 1, 9), row("b", 3, 9), row("c", 30, 9)]
    out = disclosure.suppress_table(table, 5, counts=COUNTS, shares=SHARES)
    assert [r["received"] for r in out] == [None, None, 30]


@pytest.mark.parametrize(
    ("roles", "exact"),
    [
        ({Role.BOARD}, False),
        ({Role.ADMIN}, True),
        ({Role.AUDITOR}, True),
        ({Role.BOARD, Role.SPECIALIST}, True),
    ],
)
def test_only_a_board_member_reads_suppressed_figures(roles: set[Role], exact: bool) -> None:
    who = Principal(subject="x", roles=frozenset(roles))
    assert disclosure.sees_exact(who, TABLE[Permission.REPORTS_READ]) is exact


def test_the_district_setting_defaults_to_five_and_refuses_a_negative() -> None:
    assert BoardConfig().suppress_below == 5
    assert BoardConfig(suppress_below=0).suppress_below == 0
    with pytest.raises(ValueError):
        BoardConfig(suppress_below=-1)


def group(key: str, received: int, resolved: int, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "received": received,
        "resolved": resolved,
        "resolved_within_guarantee": 1.0 if resolved else None,
        "resolved_within_target": 1.0 if resolved else None,
        "first_response_within_target": 1.0 if resolved else None,
        "median_hours_to_resolve": 10.0 if resolved else None,
        "p90_hours_to_resolve": 12.0 if resolved else None,
        "breaches": {"first_response": 0, "resolution": 0},
        "escalations": {"1": 0, "2": 0, "3": 0},
        "satisfaction_responses": 0,
        "satisfaction_mean": None,
        "backlog": {"under_24h": 0, "24h_to_72h": 0, "72h_to_7d": 0, "over_7d": 0},
        "information_requests": 0,
        "answered_days": {},
        "callbacks_due": 0,
        "callbacks_on_time": None,
        "standards": [
            {
                "standard": "resolve-72h",
                "name": "Resolve within 72 hours",
                "measure": "resolved_within_guarantee",
                "target": 0.9,
                "value": 1.0 if resolved else None,
                "met": True if resolved else None,
            }
        ],
        **extra,
    }


def hand_report() -> dict[str, Any]:
    teams = [group("special-education", 1, 1), group("transportation", 30, 20)]
    return {
        "from": "2026-03",
        "to": "2026-03",
        "standards": [],
        "months": [{"month": "2026-03", **group("all", 31, 21)}],
        "total": group("all", 31, 21),
        "breakdown": {"team": teams, "school": [], "category": []},
    }


def test_the_board_report_hides_a_one_concern_team_and_its_standard() -> None:
    report = board.suppressed(hand_report(), 5)
    sped, transport = report["breakdown"]["team"]
    assert (sped["received"], sped["resolved"], sped["resolved_within_guarantee"]) == (
        None,
        None,
        None,
    )
    assert sped["standards"][0]["value"] is None and sped["standards"][0]["met"] is None
    assert "standards.resolve-72h" in sped["suppressed"]
    # the only other team with concerns is hidden too: the total would give the first back
    assert transport["received"] is None and transport["resolved"] is None
    assert transport["resolved_within_guarantee"] == 1.0  # from 20 concerns: shown
    assert (report["total"]["received"], report["total"]["resolved"]) == (31, 21)  # exact
    assert report["suppression"]["below"] == 5


def test_the_board_csv_has_empty_cells_and_names_what_it_left_out() -> None:
    text = board.board_csv(board.suppressed(hand_report(), 5), ["resolve-72h"])
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(text))}
    sped = rows["special-education"]
    assert (sped["received"], sped["resolved"], sped["resolve-72h"]) == ("", "", "")
    assert {"received", "resolved", "standards.resolve-72h"} <= set(sped["suppressed"].split(";"))
    assert rows["2026-03..2026-03"]["received"] == "31"


def test_the_packet_event_names_no_suppressed_group_as_falling_short() -> None:
    from datetime import UTC, datetime

    from services.escalation.board_mail import packet_of

    report = hand_report()
    report["breakdown"]["team"][0]["standards"][0].update(value=0.0, met=False)
    report.update(
        period_start=datetime(2026, 3, 1, tzinfo=UTC),
        period_end=datetime(2026, 4, 1, tzinfo=UTC),
        guarantee_hours=72,
    )
    report["total"]["standards"] = []
    exact = packet_of(report, month="2026-03", prepared_at=datetime(2026, 4, 1, tzinfo=UTC))
    assert [s.key for s in exact.shortfalls] == ["special-education"]
    public = packet_of(
        report,
        month="2026-03",
        prepared_at=datetime(2026, 4, 1, tzinfo=UTC),
        suppress_below=5,
    )
    assert public.shortfalls == []
    assert ",special-education,," in public.csv


def test_a_page_reads_fewer_than_five_and_the_chart_says_why_a_bar_is_empty() -> None:
    report = board.suppressed(hand_report(), 5)
    names = {"special-education": "Special Education", "transportation": "Transportation"}
    chart = views.group_chart("team", report["breakdown"]["team"], names, 72, 0.9, below=5)
    sped = next(r for r in chart.rows if r[0] == "Special Education")
    assert sped[1] == "not shown: fewer than 5 cases"
    assert sped[-3:] == ("fewer than 5", "fewer than 5", "0")  # received, resolved, open
    bar = next(b for b in chart.bars if b.label == "Special Education")
    assert (bar.width, bar.met, bar.display) == (0.0, None, "not shown: fewer than 5 cases")
    assert "Not shown for Special Education: fewer than 5 cases." in chart.summary
    text = views.packet_csv("March 2026", [], [chart], None, 5)
    found = [r for r in csv.reader(io.StringIO(text)) if r[1] == "Special Education"]
    received = next(r for r in found if r[2] == "Received")
    assert received[3:] == ["", "suppressed: fewer than 5"]


def test_a_suppressed_count_chart_draws_no_bar() -> None:
    chart = views.count_chart("backlog", "Open", {"under_24h": None, "over_7d": 8}, {}, 5)
    assert [(b.display, b.width) for b in chart.bars] == [("fewer than 5", 0.0), ("8", 100.0)]
    assert "under_24h: fewer than 5" in chart.summary


def test_call_figures_of_a_small_school_are_suppressed() -> None:
    month = call_months.CallMonth(month="2026-03", key="all", calls=40, answered=30)
    found = call_months.CallMonths(
        first="2026-03",
        last="2026-03",
        months=[month],
        total=call_months.CallFigures(key="all", calls=40, answered=30, answered_share=0.75),
        by_school=[
            call_months.CallFigures(key="a", calls=2, answered=2, answered_share=1.0),
            call_months.CallFigures(key="b", calls=38, answered=28, answered_share=0.7368),
        ],
        by_category=[],
        by_team=[],
    )
    out = call_months.suppressed(found, 5)
    a, b = out.by_school
    assert (a.calls, a.answered, a.answered_share) == (None, None, None)
    assert b.calls is None and b.answered_share == 0.7368  # complement; its share is shown
    assert out.total.calls == 40 and out.months[0].calls == 40


def call_report(calls: int, answered: int, voicemails: int, due: int) -> calls_api.CallReport:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return calls_api.CallReport(
        start=start,
        end=start + timedelta(days=30),
        calls=calls,
        by_outcome={"status_heard": answered - voicemails, "voicemail_left": voicemails},
        answered=answered,
        median_answer_s=12.0,
        p90_answer_s=30.0,
        callbacks_scheduled=voicemails,
        callbacks_due=due,
        callbacks_on_time=1.0 if due else None,
        by_school=[calls_api.CallGroup(key="a", calls=calls, answered=answered)],
    )


def test_the_call_reports_district_totals_under_the_threshold_are_not_shown() -> None:
    out = calls_api.suppressed_report(call_report(calls=4, answered=3, voicemails=1, due=1), 5)
    assert (out.calls, out.answered, out.callbacks_scheduled, out.callbacks_due) == (None,) * 4
    assert out.by_outcome == {"status_heard": None, "voicemail_left": None}
    assert (out.median_answer_s, out.p90_answer_s, out.callbacks_on_time) == (None, None, None)
    assert {"calls", "answered", "by_outcome.voicemail_left", "p90_answer_s"} <= set(out.suppressed)
    assert out.by_school[0].calls is None  # its one group, as before


def test_the_call_reports_district_totals_at_the_threshold_are_exact() -> None:
    out = calls_api.suppressed_report(call_report(calls=40, answered=30, voicemails=2, due=0), 5)
    assert (out.calls, out.answered, out.median_answer_s, out.p90_answer_s) == (40, 30, 12.0, 30.0)
    assert out.by_outcome == {"status_heard": 28, "voicemail_left": None}
    assert (out.callbacks_scheduled, out.callbacks_due) == (None, 0)  # zero is shown
    assert out.suppressed == ["callbacks_scheduled", "by_outcome.voicemail_left"]


def test_a_lone_small_month_takes_another_with_it_as_the_months_add_up_to_the_total() -> None:
    report = hand_report()
    report["months"] = [
        {"month": "2026-02", **group("all", 30, 20)},
        {"month": "2026-03", **group("all", 2, 1)},
        {"month": "2026-04", **group("all", 0, 0)},
    ]
    february, march, april = board.suppressed(report, 5)["months"]
    assert (february["received"], march["received"], april["received"]) == (None, None, 0)
    assert february["resolved_within_guarantee"] == 1.0  # from 20 resolved: shown
