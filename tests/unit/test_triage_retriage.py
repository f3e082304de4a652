"""Re-triage's rules on a typed decision: a new category brings its route (its team, and
its priority unless staff set one by hand), a team or priority staff name wins, a priority
set by hand stays until staff change it; a merge stays among concerns of a school or team."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.triage.domain import Decision, reroute
from shared.district import load_district
from shared.events import Priority
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

DISTRICT = load_district(DEFAULT_DISTRICT_CONFIG)
OTHER = Decision(
    concern_id="c-1",
    category="other",
    school_id="lincoln-es",
    team_id="service-desk",
    priority=Priority.LOW,
    status="open",
    version=3,
)


def test_a_new_category_brings_its_team_and_priority() -> None:
    moved = reroute(
        OTHER, category="special-education", team_id=None, priority=None, district=DISTRICT
    )
    assert (moved.category, moved.team_id, moved.priority) == (
        "special-education",
        "special-education",
        Priority.HIGH,
    )
    assert moved.changes == {
        "category": ["other", "special-education"],
        "team_id": ["service-desk", "special-education"],
        "priority": ["low", "high"],
    }
    assert not moved.priority_manual


def test_a_school_category_goes_to_the_concerns_school_team() -> None:
    moved = reroute(
        OTHER, category="school-climate", team_id=None, priority=None, district=DISTRICT
    )
    assert moved.team_id == "school-lincoln-es"


def test_a_team_and_priority_staff_name_win_over_the_categorys() -> None:
    moved = reroute(
        OTHER,
        category="transportation",
        team_id="enrollment",
        priority=Priority.CRITICAL,
        district=DISTRICT,
    )
    assert (moved.team_id, moved.priority, moved.priority_manual) == (
        "enrollment",
        Priority.CRITICAL,
        True,
    )


def test_a_priority_set_by_hand_stays_when_the_category_changes() -> None:
    by_hand = replace(OTHER, priority=Priority.CRITICAL, priority_manual=True)
    moved = reroute(by_hand, category="enrollment", team_id=None, priority=None, district=DISTRICT)
    assert (moved.team_id, moved.priority, moved.priority_manual) == (
        "enrollment",
        Priority.CRITICAL,
        True,
    )
    assert "priority" not in moved.changes


def test_nothing_asked_changes_nothing() -> None:
    same = reroute(OTHER, category=None, team_id=None, priority=None, district=DISTRICT)
    assert same.changes == {}
    assert (same.category, same.team_id, same.priority) == ("other", "service-desk", Priority.LOW)


def test_a_merge_stays_among_concerns_of_one_school_or_one_team() -> None:
    same_school = replace(OTHER, concern_id="c-2", team_id="enrollment")
    same_team = replace(OTHER, concern_id="c-3", school_id="roosevelt-ms")
    elsewhere = replace(OTHER, concern_id="c-4", school_id=None, team_id="enrollment")
    assert OTHER.related(same_school) and OTHER.related(same_team)
    assert not OTHER.related(elsewhere)
    assert not replace(OTHER, school_id=None).related(replace(elsewhere, team_id="transportation"))
