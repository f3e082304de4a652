"""Who is on the Ombudsperson's list: open concerns at the ladder's top level, open concerns
long past their breached resolution target, and concerns merged into another lately; and the
indexed field the store reads that list through agrees with the rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.escalation.domain import (
    LISTED_AT_ONCE,
    ClockStatus,
    Entry,
    SlaClock,
    ombudsperson_from,
    ombudsperson_reason,
)
from services.escalation.policies import LadderStep, Policy

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
NOW = T0 + 30 * DAY
OVERDUE_BEFORE = NOW - 7 * DAY  # long overdue: a week past the resolution target
MERGED_SINCE = NOW - 30 * DAY

POLICY = Policy(
    id="standard",
    first_response_s=3600,
    resolution_s=86400,
    ladder=(
        LadderStep(level=1, role="principal", after_s=0),
        LadderStep(level=2, role="assistant_superintendent", after_s=86400),
        LadderStep(level=3, role="ombudsperson", after_s=172800),
    ),
)
OPEN = SlaClock(
    concern_id="c-1",
    category="transportation",
    school_id=None,
    team_id="transportation",
    priority=None,
    channel="web",
    submitted_at=T0,
    policy=POLICY,
    status=ClockStatus.RUNNING,
    cycle=1,
    started_at=T0,
    running_since=T0,
    resolution_due_at=T0 + DAY,
)
BREACHED = replace(OPEN, breached_at=T0 + DAY, level=1)
AT_THE_TOP = replace(BREACHED, level=3)
MERGED = replace(
    OPEN,
    status=ClockStatus.STOPPED,
    stopped_at=NOW - DAY,
    history=(Entry(NOW - DAY, "closed", 1),),
)


def reason(clock: SlaClock) -> str | None:
    return ombudsperson_reason(clock, overdue_before=OVERDUE_BEFORE, merged_since=MERGED_SINCE)


def test_an_open_concern_at_the_top_level_is_listed_at_once() -> None:
    just_escalated = replace(AT_THE_TOP, resolution_due_at=NOW - timedelta(hours=1))
    assert reason(just_escalated) == "level_3"
    assert ombudsperson_from(just_escalated) == LISTED_AT_ONCE


def test_a_breached_concern_is_listed_once_long_overdue() -> None:
    assert reason(BREACHED) == "long_overdue"
    assert reason(replace(BREACHED, resolution_due_at=OVERDUE_BEFORE + DAY)) is None


def test_an_overdue_concern_never_breached_is_not_listed() -> None:
    assert reason(OPEN) is None
    assert ombudsperson_from(OPEN) is None


def test_a_resolved_concern_leaves_the_list() -> None:
    resolved = replace(
        AT_THE_TOP,
        status=ClockStatus.STOPPED,
        stopped_at=NOW - DAY,
        history=(Entry(NOW - DAY, "resolved", 1),),
    )
    assert reason(resolved) is None
    assert ombudsperson_from(resolved) is None


def test_a_concern_merged_into_another_is_listed_for_the_merges_shown() -> None:
    assert reason(MERGED) == "merged"
    long_ago = replace(MERGED, stopped_at=MERGED_SINCE - DAY)
    assert reason(long_ago) is None
    assert ombudsperson_reason(MERGED, overdue_before=OVERDUE_BEFORE) is None


@pytest.mark.parametrize("clock", [OPEN, BREACHED, AT_THE_TOP, MERGED])
@pytest.mark.parametrize("days_overdue", [-10, 0, 7, 29, 40])
def test_the_stored_field_lists_exactly_the_open_concerns_the_rule_lists(
    clock: SlaClock, days_overdue: int
) -> None:
    overdue_before = NOW - days_overdue * DAY
    by_rule = ombudsperson_reason(clock, overdue_before=overdue_before)
    listed_from = ombudsperson_from(clock)
    by_store = listed_from is not None and LISTED_AT_ONCE <= listed_from <= overdue_before
    assert by_store == (by_rule in ("level_3", "long_overdue"))


def test_the_ombudsperson_rung_is_where_the_policys_ladder_puts_the_ombudsperson() -> None:
    two_rungs = POLICY.model_copy(
        update={
            "ladder": (
                LadderStep(level=1, role="principal", after_s=0),
                LadderStep(level=2, role="ombudsperson", after_s=86400),
            )
        }
    )
    at_level_two = replace(BREACHED, policy=two_rungs, level=2, resolution_due_at=NOW - DAY)

    assert reason(at_level_two) == "level_3"  # on the list at once, as at the top rung
    assert ombudsperson_from(at_level_two) == LISTED_AT_ONCE
    assert reason(replace(at_level_two, level=1)) is None  # with the principal, a day late


def test_a_ladder_without_an_ombudsperson_lists_only_long_overdue_concerns() -> None:
    no_ombudsperson = POLICY.model_copy(
        update={
            "ladder": (
                LadderStep(level=1, role="principal", after_s=0),
                LadderStep(level=2, role="assistant_superintendent", after_s=86400),
            )
        }
    )
    at_the_top = replace(BREACHED, policy=no_ombudsperson, level=2)

    assert reason(at_the_top) == "long_overdue"
    assert reason(replace(at_the_top, resolution_due_at=NOW - DAY)) is None
