"""SLA policies as data: validation, seeding from the district file, escalation's section."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.escalation.config import EscalationConfig
from services.escalation.policies import Policy, calendars_of, reference_problems, seed_policies
from shared.district import DistrictConfig, load_district
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.unit.test_escalation_domain import DISTRICT, RAW

pytestmark = pytest.mark.unit

LADDER = [
    {"level": 1, "role": "principal", "after_s": 0},
    {"level": 3, "role": "ombudsperson", "after_s": 3600},
]


def policy(**changes: Any) -> dict[str, Any]:
    return {"id": "p", "first_response_s": 60, "resolution_s": 120, "ladder": LADDER, **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"first_response_s": 200}, "first_response_s must not exceed resolution_s"),
        ({"resolution_s": 0}, "greater than 0"),
        ({"warnings": [75, 50]}, "increasing"),
        ({"warnings": [0]}, "percentages from 1 to 99"),
        ({"warnings": [100]}, "percentages from 1 to 99"),
        ({"pause_statuses": ["resolved"]}, "not statuses of an open concern"),
        ({"pause_statuses": ["received"]}, "cannot wait"),
        ({"ladder": []}, "at least 1"),
        ({"ladder": [LADDER[1], LADDER[0]]}, "ladder levels must be increasing"),
        ({"ladder": [{**LADDER[0], "after_s": 7200}, LADDER[1]]}, "must not decrease"),
        ({"ladder": [{"level": 4, "role": "ombudsperson", "after_s": 0}]}, "less than or equal"),
        ({"ladder": [{"level": 1, "role": "janitor", "after_s": 0}]}, "principal"),
        ({"reminder_interval_s": 0}, "greater than 0"),
        ({"priority": "urgent"}, "critical"),
        ({"id": "Has Spaces"}, "pattern"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_invalid_policies_are_refused_with_the_reason(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Policy.model_validate(policy(**changes))


def test_policy_naming_unknown_category_or_calendar_is_refused_by_field() -> None:
    calendars = calendars_of(DISTRICT, EscalationConfig())
    problems = reference_problems(
        Policy.model_validate(policy(category="astrology", calendar="lunar")),
        district=DISTRICT,
        calendars=calendars,
    )
    assert [p["field"] for p in problems] == ["category", "calendar"]
    assert (
        reference_problems(
            Policy.model_validate(policy(category="transportation")),
            district=DISTRICT,
            calendars=calendars,
        )
        == []
    )


def test_seeded_policies_take_targets_from_sla_and_settings_from_escalation_section() -> None:
    config = EscalationConfig.model_validate(
        {
            "calendars": [{"id": "business-hours", "hours": {"mon": "08:00-17:00"}}],
            "defaults": {"warnings": [50], "reminder_interval_s": 3600},
            "policies": {"transport": {"calendar": "business-hours"}},
        }
    )
    seeded = {p.id: p for p in seed_policies(DISTRICT, config)}
    assert [p.rank for p in seeded.values()] == [10, 20, 30, 40]  # the file's order
    transport = seeded["transport"]
    assert (transport.category, transport.resolution_s) == ("transportation", 172800)
    # The override changes the calendar and keeps the other defaults.
    assert (transport.calendar, transport.warnings, transport.reminder_interval_s) == (
        "business-hours",
        (50,),
        3600,
    )
    assert seeded["standard"].calendar == "around-the-clock"
    assert [s.level for s in seeded["standard"].ladder] == [1, 2, 3]


def test_settings_for_a_policy_the_sla_section_lacks_are_refused() -> None:
    config = EscalationConfig.model_validate({"policies": {"vip": {"warnings": [10]}}})
    with pytest.raises(ValueError, match="vip"):
        seed_policies(DISTRICT, config)


def test_unknown_time_zone_is_refused() -> None:
    district = DistrictConfig.model_validate(
        {**RAW, "district": {"name": "X", "timezone": "Mars/Olympus"}}
    )
    with pytest.raises(ValueError, match="Mars/Olympus"):
        calendars_of(district, EscalationConfig())


def test_the_deployed_district_file_seeds_valid_policies_and_calendars() -> None:
    district = load_district(DEFAULT_DISTRICT_CONFIG)
    config = district.section("escalation", EscalationConfig)
    calendars = calendars_of(district, config)
    seeded = seed_policies(district, config)
    assert "business-hours" in calendars
    assert any(p.catch_all for p in seeded)
    for p in seeded:
        assert reference_problems(p, district=district, calendars=calendars) == []
