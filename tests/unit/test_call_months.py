"""The Board's monthly call summaries, computed from hand-made call records with a fake
clock: what each record counts, in which month (the district's time zone) and group, and
what the Board reads back (calls answered month by month, the time nine in ten waited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from frontends.web.board import views
from services.intake import call_months
from services.intake.call_months import CONCERN, MENU
from shared.clock import FakeClock

pytestmark = pytest.mark.unit

CHICAGO = ZoneInfo("America/Chicago")
CONCERNS = {
    "c-lincoln": {"school_id": "lincoln-es", "category": "transportation", "team_id": "buses"},
    "c-new": {"school_id": None, "category": "enrollment", "team_id": None},
}


def record(clock: FakeClock, n: int, **fields: Any) -> dict[str, Any]:
    return {"_id": f"CA{n:08d}", "started_at": clock.now(), "path": [], **fields}


def records() -> list[dict[str, Any]]:
    """Four calls at the end of March in Chicago (already April in UTC), one in April."""
    clock = FakeClock(datetime(2026, 4, 1, 3, 0, tzinfo=UTC))  # 31 March, 22:00 in Chicago
    made = [
        record(
            clock,
            1,
            outcomes=["status_heard"],
            answered_after_s=4.2,
            concern_id="c-lincoln",
            school_id="lincoln-es",
            school_from=CONCERN,
        ),
        record(clock, 2, outcomes=["abandoned"]),  # hung up in the menu
        record(
            clock,
            3,
            outcomes=["voicemail_left"],
            answered_after_s=30.0,
            concern_id="c-new",
            callback="c-new",
            school_from=CONCERN,
        ),
        record(
            clock,
            4,
            outcomes=["connected"],
            answered_after_s=9.0,
            school_id="roosevelt-ms",
            school_from=MENU,
            concern_id="c-lincoln",
        ),
        record(clock, 5, outcomes=[]),  # still in the menu: nothing to count yet
    ]
    clock.advance(timedelta(hours=4))  # 1 April in Chicago
    made.append(record(clock, 6, outcomes=["connected"], answered_after_s=61.5))
    return made


def test_each_call_counts_in_its_month_in_the_district_time_zone_and_its_groups() -> None:
    counted = call_months.recount(records(), CONCERNS, CHICAGO)

    assert counted["2026-03|total|all"] == {
        "calls": 4,
        "answered": 3,
        "callbacks": 1,
        "waits.5": 1,  # 4.2 s counts as 5: whole seconds, rounded up
        "waits.30": 1,
        "waits.9": 1,
    }
    assert counted["2026-04|total|all"] == {"calls": 1, "answered": 1, "waits.62": 1}
    # the caller's choice in the menu wins over the concern's school
    assert counted["2026-03|school|roosevelt-ms"]["calls"] == 1
    assert counted["2026-03|school|lincoln-es"]["calls"] == 1
    # a concern with no school is district-wide, one not yet routed has no team
    assert counted["2026-03|school|none"]["callbacks"] == 1
    assert counted["2026-03|team|none"]["calls"] == 1
    # a call about no concern: unknown school, category and team, counted not dropped
    assert counted["2026-03|category|unknown"] == {"calls": 1}
    assert counted["2026-04|team|unknown"]["answered"] == 1
    assert counted["2026-03|category|transportation"]["answered"] == 2


def test_a_call_counts_nothing_before_its_first_outcome() -> None:
    assert call_months.facts_of({"outcomes": []}) == []
    assert call_months.facts_of({"outcomes": ["abandoned"]}) == ["call"]
    assert call_months.facts_of(
        {"outcomes": ["voicemail_left"], "answered_after_s": 1.0, "callback": "c"}
    ) == ["call", "answer", "callback"]


def test_the_board_reads_calls_answered_month_by_month_and_by_group() -> None:
    counted = call_months.recount(records(), CONCERNS, CHICAGO)
    docs = [
        {**dict(zip(("month", "dim", "key"), key.split("|"), strict=True)), **_nested(flat)}
        for key, flat in counted.items()
    ]
    report = call_months.call_months(docs, ["2026-02", "2026-03", "2026-04"])

    february, march, april = report.months
    assert (february.calls, february.answered_share, february.p90_answer_s) == (0, None, None)
    assert (march.calls, march.answered, march.answered_share) == (4, 3, 0.75)
    assert march.p90_answer_s == 30  # sorted waits 5, 9, 30: index int(3 * 0.9) = 2
    assert march.median_answer_s == 9
    assert march.callbacks_scheduled == 1
    assert (april.calls, april.p90_answer_s) == (1, 62)
    assert (report.total.calls, report.total.answered) == (5, 4)
    assert report.total.median_answer_s == (9 + 30) / 2
    schools = {g.key: (g.calls, g.answered) for g in report.by_school}
    assert schools == {
        "lincoln-es": (1, 1),
        "roosevelt-ms": (1, 1),
        "none": (1, 1),
        "unknown": (2, 1),
    }


def test_the_store_form_of_a_summary_reads_as_its_recount() -> None:
    stored = {"calls": 3, "answered": 2, "callbacks": 0, "waits": {"5": 1, "30": 1, "7": 0}}
    assert call_months.flat(stored) == {"calls": 3, "answered": 2, "waits.5": 1, "waits.30": 1}


def test_months_run_across_the_year_end() -> None:
    assert call_months.month_labels("2025-11", "2026-02") == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]
    assert call_months.month_labels("2026-03", "2026-02") == []


def test_the_dashboard_trend_shows_calls_answered_by_month_against_the_target() -> None:
    months = [
        {"month": "2026-02", "calls": 0, "answered": 0, "answered_share": None},
        {"month": "2026-03", "calls": 4, "answered": 3, "answered_share": 0.75, "p90_answer_s": 30},
        {"month": "2026-04", "calls": 10, "answered": 10, "answered_share": 1.0},
    ]
    chart = views.calls_trend_chart(months, 0.9)
    assert chart.title == "Calls answered, by month"
    assert chart.summary == (
        "Calls answered, by month: from 75% in March 2026 to 100% in April 2026; "
        "latest 100%. The target is 90%."
    )
    assert [bar.met for bar in chart.bars] == [None, False, True]
    assert chart.rows[1] == ("March 2026", "75%", "4", "3", "30 seconds")
    assert views.span_label("2025-05", "2026-04") == "May 2025 to April 2026"
    assert views.span_label("2026-04", "2026-04") == "April 2026"


def _nested(flat: dict[str, int]) -> dict[str, Any]:
    """`recount`'s flat counters in the store's form (`waits` a sub-document)."""
    out: dict[str, Any] = {}
    for name, n in flat.items():
        if name.startswith("waits."):
            out.setdefault("waits", {})[name.removeprefix("waits.")] = n
        else:
            out[name] = n
    return out
