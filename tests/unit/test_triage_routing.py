"""Triage's routing: category to team, school teams, fallback, priority."""

from __future__ import annotations

import pytest

from services.triage.domain import route
from shared.district import DistrictConfig, load_district
from shared.events import Priority
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def district() -> DistrictConfig:
    return load_district(DEFAULT_DISTRICT_CONFIG)


def test_department_category_goes_to_its_department(district: DistrictConfig) -> None:
    routing = route("transportation", "lincoln-es", district)
    assert routing.team_id == "transportation"
    assert routing.team_name == "Transportation Department"
    assert routing.priority is Priority.NORMAL
    assert routing.rule == "category:transportation"


def test_school_category_goes_to_the_schools_own_team(district: DistrictConfig) -> None:
    routing = route("school-climate", "jefferson-hs", district)
    assert routing.team_id == "school-jefferson-hs"
    assert routing.rule == "category:school-climate:school:jefferson-hs"


def test_school_category_without_school_falls_back_to_service_desk(
        district: DistrictConfig) -> None:
    routing = route("school-climate", None, district)
    assert routing.team_id == "service-desk"
    assert routing.rule.endswith("no-school")


def test_safety_concern_is_critical(district: DistrictConfig) -> None:
    assert route("safety", "roosevelt-ms", district).priority is Priority.CRITICAL


def test_special_education_is_high_priority(district: DistrictConfig) -> None:
    assert route("special-education", None, district).priority is Priority.HIGH


def test_unknown_category_goes_to_the_fallback_team(district: DistrictConfig) -> None:
    routing = route("parking", None, district)
    assert routing.team_id == district.fallback_team
    assert routing.rule == "fallback:unknown-category"
