"""The standard "information requests answered within N days", on hand-made clocks: what a
request for information (a pause of the SLA clock awaiting the requester) counts, and that its
fact is counted once, in the month it was asked."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.escalation import domain
from services.escalation.domain import SlaClock
from services.escalation.standards import (
    Measure,
    Standard,
    StandardsConfig,
    clock_compliance,
    figures,
)
from shared.district import load_district
from shared.events import Priority
from tests.unit.test_board_standards import (
    DAY,
    HOUR,
    RULES,
    T0,
    facts_with,
    moved,
    net_counts,
    new,
    resolved,
    summed,
    tally,
)

pytestmark = pytest.mark.unit

FIVE_DAYS = Standard(
    id="info",
    name="Our requests for information are answered within 5 days",
    measure=Measure.INFORMATION_ANSWERED,
    within_days=5,
    target=0.8,
)


def asked(clock: SlaClock, at: datetime) -> SlaClock:
    return moved(clock, "awaiting_requester", at)


def answered(clock: SlaClock, at: datetime) -> SlaClock:
    """The family's answer: a requester's message."""
    after, _ = domain.message_added(clock, by_staff=False, public=True, at=at, rules=RULES)
    return after


def test_a_request_answered_within_its_days_keeps_the_standard_and_a_late_one_does_not() -> None:
    on_time = answered(asked(new("on-time"), T0 + HOUR), T0 + HOUR + 5 * DAY)  # exactly 5 days
    late = answered(asked(new("late"), T0 + HOUR), T0 + HOUR + 5 * DAY + timedelta(seconds=1))
    fig = figures(tally(on_time, late))
    assert fig.information_requests == 2
    assert fig.answered_days == {5: 1, 6: 1}
    result = clock_compliance(FIVE_DAYS, fig)
    assert (result.value, result.met) == (0.5, False)
    six_days = FIVE_DAYS.model_copy(update={"within_days": 6})
    assert clock_compliance(six_days, fig).value == 1.0


def test_a_wait_ended_by_closing_or_resolution_is_not_answered() -> None:
    closed = moved(asked(new("closed"), T0 + HOUR), "closed", T0 + 2 * DAY)
    solved = resolved(asked(new("solved"), T0 + HOUR), T0 + DAY)
    fig = figures(tally(closed, solved))
    assert (fig.information_requests, fig.answered_days) == (2, {})
    assert clock_compliance(FIVE_DAYS, fig).value == 0.0


def test_a_wait_still_open_is_not_counted_until_it_ends() -> None:
    waiting = asked(new(), T0 + HOUR)
    assert facts_with(waiting, "i") == {}
    assert clock_compliance(FIVE_DAYS, figures(tally(waiting))).met is None  # no data
    later = answered(waiting, T0 + 20 * DAY)
    assert [dict(f.months[0][1]) for f in facts_with(later, "i").values()] == [
        {"information_requests": 1, "answered_days.20": 1}
    ]


def test_each_request_is_counted_in_the_month_it_was_asked() -> None:
    clock = new(at=datetime(2026, 3, 30, 9, tzinfo=UTC))
    clock = asked(clock, datetime(2026, 3, 31, 9, tzinfo=UTC))
    clock = answered(clock, datetime(2026, 4, 2, 9, tzinfo=UTC))
    [fact] = facts_with(clock, "i").values()
    assert [label for label, _ in fact.months] == ["2026-03"]


def test_a_second_request_of_the_same_concern_is_a_fact_of_its_own() -> None:
    clock = answered(asked(new(), T0 + HOUR), T0 + DAY)
    clock = moved(asked(clock, T0 + 2 * DAY), "acknowledged", T0 + 9 * DAY)  # staff resumed
    fig = figures(tally(clock))
    # the second wait ended without the family's answer: a request, not answered
    assert (fig.information_requests, fig.answered_days) == (2, {1: 1})


def test_an_answer_whose_status_change_came_first_is_an_answer_counted_once() -> None:
    """Intake publishes the family's message and the status change it causes at one moment;
    the clock may hear the status change first (resumed, not yet answered), then the answer."""
    waiting = asked(new(), T0 + HOUR)
    resumed = moved(waiting, "in_progress", T0 + DAY)
    with_answer = answered(resumed, T0 + DAY)
    again = answered(with_answer, T0 + DAY)  # the same message redelivered: nothing more

    net = net_counts([waiting, resumed, with_answer, again], "i")
    assert +net == Counter({"information_requests": 1, "answered_days.1": 1})
    assert figures(tally(again)).answered_days == {1: 1}


def test_a_requests_fact_is_counted_once_over_the_changes_that_follow() -> None:
    """Counted by the change that ends the wait; no later change (another answer, a
    re-triage to another school, the resolution) adds it again or takes it back."""
    states = [new()]
    states.append(asked(states[-1], T0 + HOUR))
    states.append(answered(states[-1], T0 + DAY))
    states.append(answered(states[-1], T0 + DAY + HOUR))  # a second message: nothing to resume
    retriaged, _ = domain.retriage(
        states[-1],
        category="other",
        priority=Priority.NORMAL,
        team_id="school-roosevelt-ms",
        school_id="roosevelt-ms",
        at=T0 + 2 * DAY,
        rules=RULES,
    )
    states.append(retriaged)
    states.append(resolved(states[-1], T0 + 3 * DAY))
    net = net_counts(states, "i")
    assert +net == Counter({"information_requests": 1, "answered_days.1": 1})


def test_the_summed_facts_equal_the_definition() -> None:
    on_time = answered(asked(new("a"), T0 + HOUR), T0 + 2 * DAY)
    late = moved(asked(new("b"), T0 + HOUR), "closed", T0 + 10 * DAY)
    waiting = asked(new("c"), T0 + HOUR)
    expected = tally(on_time, late, waiting)
    assert expected.information_requests == 2
    got = summed(on_time, late, waiting, end_label="2026-03")
    # (the backlog of open clocks is read from the clocks, not from facts)
    assert (got.information_requests, got.answered_days) == (2, {2: 1})
    assert (got.information_requests, got.answered_days) == (
        expected.information_requests,
        expected.answered_days,
    )


def test_within_days_goes_with_the_information_measure_and_only_with_it() -> None:
    with pytest.raises(ValidationError, match="within_days"):
        Standard(id="x", name="Answered", measure=Measure.INFORMATION_ANSWERED, target=0.8)
    with pytest.raises(ValidationError, match="within_days"):
        Standard(
            id="x",
            name="Resolve",
            measure=Measure.RESOLVED_WITHIN_GUARANTEE,
            within_days=3,
            target=0.9,
        )
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        FIVE_DAYS.model_validate({**FIVE_DAYS.model_dump(), "within_days": 0})


def test_the_shipped_standard_names_the_days_it_measures() -> None:
    district = load_district(Path(__file__).parents[2] / "deploy" / "district.yaml")
    config = district.section("standards", StandardsConfig)
    [standard] = [s for s in config.standards if s.measure is Measure.INFORMATION_ANSWERED]
    assert f"within {standard.within_days} days" in standard.name
