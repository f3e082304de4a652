"""Triage's routing: each rule condition and action, rule order, the category route, the
fallback, and safety words."""

from __future__ import annotations

from typing import Any

import pytest

from services.triage.config import load_config
from services.triage.domain import category_route, route
from services.triage.rules import Facts, Rule
from shared.district import DistrictConfig, load_district
from shared.events import Channel, Priority
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

SAFETY = load_config(load_district(DEFAULT_DISTRICT_CONFIG)).safety_words


@pytest.fixture(scope="module")
def district() -> DistrictConfig:
    return load_district(DEFAULT_DISTRICT_CONFIG)


def facts(**overrides: Any) -> Facts:
    base: dict[str, Any] = {
        "category": "transportation",
        "school_id": "lincoln-es",
        "channel": Channel.WEB,
        "description": "The bus skipped our stop three mornings this week.",
    }
    base.update(overrides)
    return Facts(**base)


def rule(rule_id: str = "r", **conditions: Any) -> Rule:
    actions = conditions.pop("actions", {"team": "service-desk", "priority": "low", "tags": ["t"]})
    return Rule.model_validate({"id": rule_id, "conditions": conditions, "actions": actions})


# --- without rules: the category's route and the fallback -----------------------------------


def test_department_category_goes_to_its_department(district: DistrictConfig) -> None:
    routing = route(facts(), [], district)
    assert (routing.team_id, routing.team_name) == ("transportation", "Transportation Department")
    assert routing.priority is Priority.NORMAL
    assert routing.rule == "category:transportation"


def test_school_category_goes_to_the_schools_own_team(district: DistrictConfig) -> None:
    routing = route(facts(category="school-climate", school_id="jefferson-hs"), [], district)
    assert routing.team_id == "school-jefferson-hs"
    assert routing.rule == "category:school-climate:school:jefferson-hs"


def test_school_category_without_school_falls_back_to_service_desk(
    district: DistrictConfig,
) -> None:
    routing = route(facts(category="school-climate", school_id=None), [], district)
    assert routing.team_id == "service-desk" == district.fallback_team
    assert routing.rule.endswith("no-school")


def test_category_priority_applies_when_no_rule_sets_one(district: DistrictConfig) -> None:
    assert (
        route(
            facts(category="safety", school_id="roosevelt-ms", description="x"), [], district
        ).priority
        is Priority.CRITICAL
    )
    assert route(facts(category="special-education"), [], district).priority is Priority.HIGH
    assert category_route("other", None, district) == ("service-desk", Priority.LOW)


def test_unknown_category_goes_to_the_fallback_team(district: DistrictConfig) -> None:
    routing = route(facts(category="parking"), [rule(categories=["enrollment"])], district)
    assert routing.team_id == district.fallback_team
    assert routing.rule == "fallback:unknown-category"


# --- each condition ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "matching", "other"),
    [
        ({"categories": ["transportation"]}, {}, {"category": "enrollment"}),
        ({"schools": ["lincoln-es"]}, {}, {"school_id": "jefferson-hs"}),
        ({"channels": ["phone"]}, {"channel": Channel.PHONE}, {}),
        (
            {"relationships": ["staff"]},
            {"relationship": "staff"},
            {"relationship": "parent_guardian"},
        ),
        (
            {"keywords": ["stranded"]},
            {"description": "My son was STRANDED at the corner."},
            {"description": "Strandedness is not a word we use."},
        ),
        ({"keywords": ["left behind"]}, {"description": "She was left   behind again"}, {}),
        (
            {"keywords": ["medic*"]},
            {"description": "He needs his medication at noon."},
            {"description": "He needs his insulin at noon."},
        ),
        (
            {"pattern": r"\broute\s+\d+"},
            {"description": "Route 12 never came."},
            {"description": "The route never came."},
        ),
        (
            {"student_flags": ["special_education"]},
            {"student_flags": ("special_education",)},
            {"student_flags": ()},
        ),
    ],
)
def test_each_condition_decides_whether_a_rule_applies(
    district: DistrictConfig,
    conditions: dict[str, Any],
    matching: dict[str, Any],
    other: dict[str, Any],
) -> None:
    rules = [rule("only", **conditions)]
    hit = route(facts(**matching), rules, district)
    assert hit.rule == "rule:only"
    assert hit.considered[0].matched
    miss = route(facts(**other), rules, district)
    assert miss.rule.startswith("category:")
    assert not miss.considered[0].matched
    assert miss.considered[0].why  # the dry run says which condition failed


def test_all_conditions_of_a_rule_must_hold(district: DistrictConfig) -> None:
    rules = [rule("both", categories=["transportation"], keywords=["stranded"])]
    assert route(facts(description="stranded at school"), rules, district).rule == "rule:both"
    assert (
        route(facts(category="enrollment", description="stranded at school"), rules, district).rule
        == "category:enrollment"
    )


def test_keywords_ignore_accents_and_case(district: DistrictConfig) -> None:
    rules = [rule("es", keywords=["inscripcion"])]
    assert (
        route(facts(description="Problema con la INSCRIPCIÓN de mi hija"), rules, district).rule
        == "rule:es"
    )


def test_disabled_rule_is_skipped(district: DistrictConfig) -> None:
    disabled = Rule.model_validate(
        {"id": "off", "enabled": False, "actions": {"team": "enrollment"}}
    )
    assert route(facts(), [disabled], district).team_id == "transportation"


# --- actions -------------------------------------------------------------------------------


def test_rule_sets_team_priority_and_tags(district: DistrictConfig) -> None:
    routing = route(
        facts(),
        [rule(actions={"team": "enrollment", "priority": "high", "tags": ["vip", "callback"]})],
        district,
    )
    assert (routing.team_id, routing.team_name) == ("enrollment", "Enrollment Center")
    assert routing.priority is Priority.HIGH
    assert routing.tags == ("vip", "callback")


def test_rule_without_team_keeps_the_categorys_team(district: DistrictConfig) -> None:
    routing = route(facts(), [rule(actions={"priority": "high"})], district)
    assert (routing.team_id, routing.priority) == ("transportation", Priority.HIGH)


def test_rule_without_priority_keeps_the_categorys_priority(district: DistrictConfig) -> None:
    routing = route(
        facts(category="special-education"), [rule(actions={"team": "service-desk"})], district
    )
    assert (routing.team_id, routing.priority) == ("service-desk", Priority.HIGH)


def test_school_team_action_goes_to_the_schools_team_or_the_fallback(
    district: DistrictConfig,
) -> None:
    to_school = [rule(actions={"team": "school"})]
    assert (
        route(facts(school_id="roosevelt-ms"), to_school, district).team_id == "school-roosevelt-ms"
    )
    assert route(facts(school_id=None), to_school, district).team_id == "service-desk"


# --- order ---------------------------------------------------------------------------------


def test_first_matching_rule_wins(district: DistrictConfig) -> None:
    first = rule("first", categories=["transportation"], actions={"team": "enrollment"})
    second = rule("second", categories=["transportation"], actions={"team": "service-desk"})
    assert route(facts(), [first, second], district).rule == "rule:first"
    assert route(facts(), [second, first], district).rule == "rule:second"


def test_rules_after_the_match_are_not_considered(district: DistrictConfig) -> None:
    routing = route(facts(), [rule("a", schools=["jefferson-hs"]), rule("b"), rule("c")], district)
    assert [(c.rule_id, c.matched) for c in routing.considered] == [("a", False), ("b", True)]


# --- safety words --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "A boy threatened my daughter at recess.",
        "Someone brought a gun to the bus stop.",
        "My son is being bullied every day.",
        "She talked about self-harm last night.",
        "Mi hijo sufre acoso en la escuela.",
        "Hay amenazas contra los alumnos.",
        "Le preocupa la autolesión de su hija.",
    ],
)
def test_safety_words_make_a_concern_critical(district: DistrictConfig, text: str) -> None:
    routing = route(facts(description=text), [rule(actions={"priority": "low"})], district, SAFETY)
    assert routing.priority is Priority.CRITICAL
    assert routing.safety_words
    assert "safety" in routing.tags
    assert routing.rule.endswith("+safety-words")


@pytest.mark.parametrize(
    "text",
    [
        "The bus skipped our stop three mornings this week.",
        "We need the armario key and a begun form.",  # no whole word `arma`, no `gun`
    ],
)
def test_ordinary_text_keeps_its_priority(district: DistrictConfig, text: str) -> None:
    routing = route(facts(description=text), [], district, SAFETY)
    assert routing.priority is Priority.NORMAL
    assert routing.safety_words == ()


def test_seeded_rules_route_bullying_to_the_school_as_critical(district: DistrictConfig) -> None:
    seeded = load_config(district).rules
    routing = route(
        facts(
            category="school-climate",
            school_id="jefferson-hs",
            description="My daughter is bullied in the cafeteria.",
        ),
        seeded,
        district,
        SAFETY,
    )
    assert routing.team_id == "school-jefferson-hs"
    assert routing.rule == "rule:bullying-to-school+safety-words"
    assert routing.priority is Priority.CRITICAL


# --- the school first (issue 16) ---------------------------------------------------------------

SCHOOL_FIRST = load_config(load_district(DEFAULT_DISTRICT_CONFIG)).school_first


def test_a_concern_the_school_has_not_seen_goes_to_the_school_team_first(
    district: DistrictConfig,
) -> None:
    routing = route(
        facts(category="enrollment", school_id="roosevelt-ms", school_contacted=False),
        [],
        district,
        SAFETY,
        SCHOOL_FIRST,
    )
    assert routing.team_id == "school-roosevelt-ms"
    assert routing.rule == "category:enrollment+school-first"


def test_school_first_is_per_category_and_only_for_a_school_not_yet_contacted(
    district: DistrictConfig,
) -> None:
    bus = route(facts(school_contacted=False), [], district, SAFETY, SCHOOL_FIRST)
    seen = route(
        facts(category="enrollment", school_contacted=True), [], district, SAFETY, SCHOOL_FIRST
    )
    unsaid = route(facts(category="enrollment"), [], district, SAFETY, SCHOOL_FIRST)
    assert (bus.team_id, seen.team_id, unsaid.team_id) == (
        "transportation",
        "enrollment",
        "enrollment",
    )


def test_a_rule_may_route_on_whether_the_school_was_contacted(district: DistrictConfig) -> None:
    escalate = rule(
        "school-saw-it", school_contacted=True, actions={"team": "enrollment", "priority": "high"}
    )
    contacted = route(facts(school_contacted=True), [escalate], district)
    not_contacted = route(facts(school_contacted=False), [escalate], district)
    assert (contacted.team_id, contacted.priority) == ("enrollment", Priority.HIGH)
    assert not_contacted.team_id == "transportation"


def test_school_teams_have_their_office_staff_and_principal(district: DistrictConfig) -> None:
    for school in district.schools:
        team = district.team(school.team)
        assert team is not None and school.principal in team.members
        assert len(team.members) >= 2
