"""The Board's callbacks on time and calls answered, broken down by month, school, team and
category, on hand-made records: callbacks driven through the SLA clock's domain at explicit
instants (the fake clock), call records written by hand as intake stores them. Also the
information-request standard for waits resumed before the clock logged the family's answer."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from frontends.web.board import views
from services.escalation import domain
from services.escalation.domain import SlaClock
from services.escalation.standards import (
    Measure,
    Standard,
    Tally,
    callbacks_kept,
    clock_compliance,
    facts_of,
    figures,
    tally_clocks,
    tally_of,
)
from services.intake.calls import CONCERN, MENU, call_groups
from tests.unit.test_board_standards import (
    DAY,
    GUARANTEE,
    HOUR,
    RULES,
    T0,
    UTC_ZONE,
    facts_with,
    moved,
    net_counts,
    new,
    tally,
)

pytestmark = pytest.mark.unit

CALLBACKS = Standard(
    id="callbacks",
    name="We return calls within a day",
    measure=Measure.CALLBACKS_ON_TIME,
    target=0.9,
)


def scheduled(clock: SlaClock, callback_id: str, *, at: datetime, due: datetime) -> SlaClock:
    callback = domain.PendingCallback(id=callback_id, due_at=due, scheduled_at=at)
    after, _ = domain.callback_scheduled(clock, callback, at=at, rules=RULES)
    return after


def made(
    clock: SlaClock, callback_id: str, *, at: datetime, on_time: bool, due: datetime | None = None
) -> SlaClock:
    after, _ = domain.callback_completed(
        clock, callback_id, made=True, on_time=on_time, at=at, rules=RULES, due_at=due
    )
    return after


def cancelled(clock: SlaClock, callback_id: str, *, at: datetime) -> SlaClock:
    after, _ = domain.callback_completed(
        clock, callback_id, made=False, on_time=True, at=at, rules=RULES
    )
    return after


def passed(clock: SlaClock, at: datetime) -> SlaClock:
    """The scheduler's pass at `at`: a callback due by then is missed."""
    after, _ = domain.advance(clock, now=at, rules=RULES, inclusive=True)
    return after


def at_school(clock: SlaClock, school: str, team: str = "t") -> SlaClock:
    return replace(clock, school_id=school, team_id=team)


def test_callbacks_made_by_their_due_time_keep_the_standard_and_late_or_missed_ones_do_not() -> (
    None
):
    due = T0 + DAY
    on_time = made(scheduled(new("a"), "cb-a", at=T0, due=due), "cb-a", at=due, on_time=True)
    late = made(
        scheduled(new("b"), "cb-b", at=T0, due=due), "cb-b", at=due + HOUR, on_time=False, due=due
    )
    missed = passed(scheduled(new("c"), "cb-c", at=T0, due=due), due + HOUR)
    assert [kind for kind in (e.kind for e in missed.history) if kind.startswith("callback")] == [
        "callback_scheduled",
        "callback_missed",
    ]
    not_yet = scheduled(new("d"), "cb-d", at=T0, due=T0 + 10 * DAY)  # not due: not counted
    fig = figures(tally(on_time, late, missed, not_yet))
    assert (fig.callbacks_due, fig.callbacks_on_time) == (3, 0.3333)
    result = clock_compliance(CALLBACKS, fig)
    assert (result.value, result.met) == (0.3333, False)
    assert clock_compliance(CALLBACKS, figures(tally(on_time))).met is True
    assert clock_compliance(CALLBACKS, figures(tally(not_yet))).met is None  # no data


def test_a_cancelled_callback_is_not_counted_even_once_missed() -> None:
    clock = passed(scheduled(new(), "cb", at=T0, due=T0 + DAY), T0 + DAY + HOUR)
    assert callbacks_kept(clock) == [("cb", T0 + DAY, False)]
    clock = cancelled(clock, "cb", at=T0 + 2 * DAY)
    assert callbacks_kept(clock) == []
    assert figures(tally(clock)).callbacks_due == 0


def test_each_callback_is_counted_in_the_month_it_was_due_whatever_its_line_says() -> None:
    """Due on 31 March, made late on 1 April: a March callback. The completion's line keeps
    the due time (the event's, else the watched callback's)."""
    due = datetime(2026, 3, 31, 20, tzinfo=UTC)
    clock = scheduled(new(at=datetime(2026, 3, 31, 9, tzinfo=UTC)), "cb", at=due - DAY, due=due)
    clock = made(clock, "cb", at=due + DAY, on_time=False)
    [line] = [e for e in clock.history if e.kind == "callback_late"]
    assert line.due_at == due
    [fact] = facts_with(clock, "k").values()
    assert [label for label, _ in fact.months] == ["2026-03"]
    assert dict(fact.months[0][1]) == {"callbacks_due": 1, "callbacks_on_time": 0}


def test_a_line_logged_before_it_kept_the_due_time_counts_in_its_own_month() -> None:
    """Older clocks: the missed line (logged when the callback came due) gives the month."""
    clock = passed(scheduled(new(), "cb", at=T0, due=T0 + DAY), T0 + DAY)
    older = replace(clock, history=tuple(replace(e, due_at=None) for e in clock.history))
    assert callbacks_kept(older) == [("cb", T0 + DAY, False)]


def test_made_on_time_after_a_late_heard_miss_replaces_the_count_once() -> None:
    """The scheduler logged the miss before the news that the call was made in time arrived:
    the callback counts once, on time."""
    states = [new()]
    states.append(scheduled(states[-1], "cb", at=T0, due=T0 + DAY))
    states.append(passed(states[-1], T0 + DAY + HOUR))
    states.append(made(states[-1], "cb", at=T0 + DAY - HOUR, on_time=True, due=T0 + DAY))
    states.append(made(states[-1], "cb", at=T0 + DAY - HOUR, on_time=True, due=T0 + DAY))
    net = net_counts(states, "k")
    assert +net == Counter({"callbacks_due": 1, "callbacks_on_time": 1})


def test_callbacks_by_school_team_and_category_sum_to_the_definition() -> None:
    """The facts summed per group, as the store sums them, give each school its share and
    the whole district the tally of the clocks read one by one."""
    due = T0 + DAY
    lincoln = at_school(new("a"), "lincoln-es", "school-lincoln")
    lincoln = made(scheduled(lincoln, "a1", at=T0, due=due), "a1", at=due - HOUR, on_time=True)
    lincoln = passed(scheduled(lincoln, "a2", at=T0, due=due), due + HOUR)
    roosevelt = at_school(new("b"), "roosevelt-ms", "school-roosevelt")
    roosevelt = made(scheduled(roosevelt, "b1", at=T0, due=due), "b1", at=due - HOUR, on_time=True)
    sums: dict[tuple[str, str], dict[str, int]] = {}
    for clock in (lincoln, roosevelt):
        for fact in facts_of(clock, timezone=UTC_ZONE, guarantee=GUARANTEE).values():
            for dim, value in zip(("category", "school", "team"), fact.dims, strict=True):
                for _, counts in fact.months:
                    doc = sums.setdefault((dim, value), {})
                    for name, n in counts:
                        doc[name] = doc.get(name, 0) + n
    by_school = {
        value: figures(tally_of(doc)).callbacks_on_time
        for (dim, value), doc in sums.items()
        if dim == "school"
    }
    assert by_school == {"lincoln-es": 0.5, "roosevelt-ms": 1.0}
    by_team = {v for (dim, v) in sums if dim == "team"}
    assert by_team == {"school-lincoln", "school-roosevelt"}
    category = figures(tally_of(sums[("category", "other")]))
    whole = figures(tally(lincoln, roosevelt))
    assert (category.callbacks_due, category.callbacks_on_time) == (3, 0.6667)
    assert (whole.callbacks_due, whole.callbacks_on_time) == (3, 0.6667)


# --- information requests of clocks older than the `answered` line ----------------------------


def staff_resumed(clock: SlaClock) -> SlaClock:
    """Asked at T0 + 1 h, taken back by staff after a day without a logged answer."""
    return moved(moved(clock, "awaiting_requester", T0 + HOUR), "acknowledged", T0 + DAY)


def test_a_wait_resumed_before_the_clock_logged_answers_counts_as_answered() -> None:
    """Before the store began logging the family's answer, a resumed wait cannot tell an
    answer from staff resuming: it is not counted as a failure."""
    clock = staff_resumed(new())
    since = T0 + 2 * DAY  # the store's first start with the `answered` line

    def tally_since(answered_since: datetime) -> Tally:
        return tally_clocks(
            [clock],
            start=T0 - DAY,
            end=T0 + 30 * DAY,
            as_of=T0 + 30 * DAY,
            guarantee=GUARANTEE,
            answered_since=answered_since,
        )

    older = tally_since(since)
    assert (older.information_requests, older.answered_days) == (1, {1: 1})
    # resumed after the mark: staff without an answer, a request not answered
    newer = tally_since(T0)
    assert (newer.information_requests, newer.answered_days) == (1, {})
    keys = set(facts_of(clock, timezone=UTC_ZONE, guarantee=GUARANTEE, answered_since=since))
    assert any(k.startswith("i") and k.endswith("a") for k in keys)


# --- calls answered by school, category and team (intake's call records) ----------------------


def call(n: int, *, answered_s: float | None, **fields: Any) -> dict[str, Any]:
    return {"_id": f"CA{n:08d}", "answered_after_s": answered_s, **fields}


def test_calls_count_in_the_chosen_school_else_their_concerns_groups_else_unknown() -> None:
    concerns = {
        "c-lincoln": {"school_id": "lincoln-es", "category": "transport", "team_id": "buses"},
        "c-district": {"school_id": None, "category": "other", "team_id": None},
    }
    records = [
        # the caller chose Roosevelt in a menu: it wins over the concern's school
        call(1, answered_s=5, concern_id="c-lincoln", school_from=MENU, school_id="roosevelt-ms"),
        # tied to a concern: its school as it is now (an older record stored none)
        call(2, answered_s=40, concern_id="c-lincoln"),
        call(3, answered_s=None, concern_id="c-district", school_from=CONCERN),
        # the concern is gone from the store: the school stored when the call was tied to it
        call(4, answered_s=8, concern_id="c-gone", school_from=CONCERN, school_id="lincoln-es"),
        # a call about no concern, no school chosen: unknown, never dropped
        call(5, answered_s=None),
        call(6, answered_s=12),
    ]
    groups = call_groups(records, concerns)
    by_school = {g.key: (g.calls, g.answered, g.answered_share) for g in groups["school"]}
    assert by_school == {
        "roosevelt-ms": (1, 1, 1.0),
        "lincoln-es": (2, 2, 1.0),
        "none": (1, 0, 0.0),
        "unknown": (2, 1, 0.5),
    }
    by_category = {g.key: g.calls for g in groups["category"]}
    assert by_category == {"transport": 2, "other": 1, "unknown": 3}
    by_team = {g.key: g.calls for g in groups["team"]}
    assert by_team == {"buses": 2, "none": 1, "unknown": 3}
    assert sum(g.calls for g in groups["school"]) == len(records)
    [lincoln] = [g for g in groups["school"] if g.key == "lincoln-es"]
    assert lincoln.p90_answer_s == 40


def test_the_call_tables_name_unknown_groups_and_those_below_the_standard() -> None:
    groups = [
        {
            "key": "lincoln-es",
            "calls": 10,
            "answered": 7,
            "answered_share": 0.7,
            "p90_answer_s": 30,
        },
        {"key": "unknown", "calls": 4, "answered": 4, "answered_share": 1.0, "p90_answer_s": 9},
    ]
    names = {
        "lincoln-es": "Lincoln Elementary",
        "unknown": "Unknown school (a call about no concern)",
    }
    chart = views.call_chart("school", groups, names, "March 2026", 0.9)
    assert chart.title == "Calls answered by school, March 2026"
    assert "Below target: Lincoln Elementary." in chart.summary
    assert [row[:3] for row in chart.rows] == [
        ("Lincoln Elementary", "70%", "10"),
        ("Unknown school (a call about no concern)", "100%", "4"),
    ]
    text = views.packet_csv("March 2026", [], [chart], None)
    rows = list(csv.reader(io.StringIO(text)))
    assert [
        "Calls answered by school, March 2026",
        "Unknown school (a call about no concern)",
        "Calls",
        "4",
        "",  # no note: shown
    ] in rows


def test_the_group_tables_give_callbacks_on_time_beside_the_other_standards() -> None:
    row = {
        "key": "lincoln-es",
        "received": 3,
        "resolved": 2,
        "resolved_within_guarantee": 1.0,
        "first_response_within_target": 1.0,
        "satisfaction_mean": None,
        "backlog": {},
        "callbacks_due": 4,
        "callbacks_on_time": 0.75,
        "standards": [],
    }
    only_callbacks = {**row, "key": "roosevelt-ms", "received": 0, "resolved": 0}
    only_callbacks |= {
        "resolved_within_guarantee": None,
        "first_response_within_target": None,
        "callbacks_due": 1,
        "callbacks_on_time": 1.0,
    }
    chart = views.group_chart(
        "school", [row, only_callbacks], {"lincoln-es": "Lincoln"}, 72, 0.9, None, CALLBACKS
    )
    assert "Callbacks on time" in chart.columns
    at = chart.columns.index("Callbacks on time")
    cells = {r[0]: (r[at], r[at + 1]) for r in chart.rows}
    assert cells == {"Lincoln": ("75%", "4"), "roosevelt-ms": ("100%", "1")}
    assert "We return calls within a day: below target in Lincoln." in chart.summary
